/**
 * Impressions (issue 21): recommendation ids are UUIDv7 and sort by time; each list the recommend use
 * case serves is recorded once, with its items' positions, strategy and placement, in a write issued
 * beside the views' read; a failed write is reported and the list still answered (in-memory fakes).
 * The adapter's row and the counts consumer's reading of a stream record, as pure functions.
 */
import { marshall } from '@aws-sdk/util-dynamodb';
import { impressionIncrements, impressionShard } from '../../functions/adapters/dynamodb/impression-counts';
import { impressionRow } from '../../functions/adapters/dynamodb/impression-log';
import type { ItemViews } from '../../functions/app/ports';
import {
  ListQuerySchema,
  parseQuery,
  type RecommendDeps,
  recommendForUser,
  searchByImage,
  similarItems,
} from '../../functions/app/recommend';
import { DEFAULT_TRACKING_POLICY } from '../../functions/app/track-events';
import { InvalidRequest } from '../../functions/domain/errors';
import {
  impressionDayKey,
  impressionDecay,
  impressionFrameWeight,
  impressionItems,
  isUuidV7,
  uuidV7Generator,
  uuidV7Time,
} from '../../functions/domain/impressions';
import { applyEvent, DEFAULT_PROFILE_SETTINGS, emptyProfile } from '../../functions/domain/interest-profile';
import { DEFAULT_RANKING_SETTINGS } from '../../functions/domain/ranking';
import { ExactIndex } from '../../functions/vector-index';
import { InMemoryImpressionLog } from '../support/fakes/impression-log';
import { InMemoryItemViews } from '../support/fakes/item-views';
import { KnownImageEmbedder } from '../support/fakes/known-image-embedder';
import { InMemoryProfileRepository } from '../support/fakes/profile-repository';
import { inMemoryServing } from '../support/fakes/serving';

describe('UUIDv7 recommendation ids', () => {
  it('have the RFC 9562 layout (version 7, variant 10) and carry their time', () => {
    const next = uuidV7Generator();
    const at = Date.UTC(2026, 10, 30, 12, 0, 0, 123);
    const id = next(at);
    expect(isUuidV7(id)).toBe(true);
    expect(id[14]).toBe('7');
    expect(['8', '9', 'a', 'b']).toContain(id[19]);
    expect(uuidV7Time(id)).toBe(at);
  });

  it('sort in the order they were made: across milliseconds, within one, and when the clock steps back', () => {
    const next = uuidV7Generator();
    const at = Date.UTC(2026, 0, 1);
    const times = [at, at, at, at + 1, at + 1, at - 5, at + 2, ...Array.from({ length: 5000 }, () => at + 3)];
    const ids = times.map((t) => next(t));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(isUuidV7(id)).toBe(true);
    // 5000 ids in one millisecond overflow the 12-bit counter: the time moves on by a millisecond.
    expect(uuidV7Time(ids[ids.length - 1] as string)).toBeGreaterThan(at + 3);
  });

  it('differ between generators in the same millisecond (random bits)', () => {
    const at = Date.UTC(2026, 0, 1);
    const ids = new Set(Array.from({ length: 200 }, () => uuidV7Generator()(at)));
    expect(ids.size).toBe(200);
  });
});

describe('impression keys and weights', () => {
  it('files a list under its UTC day and a shard 0..15 from the id', () => {
    const servedAt = Date.UTC(2026, 10, 30, 23, 59, 59);
    const shards = new Set<string>();
    const next = uuidV7Generator();
    for (let i = 0; i < 400; i++) {
      const key = impressionDayKey(next(servedAt), servedAt);
      expect(key).toMatch(/^2026-11-30#([0-9]|1[0-5])$/);
      shards.add(key);
    }
    expect(shards.size).toBe(16);
  });

  it('marks exploration slots and numbers positions from 1', () => {
    expect(
      impressionItems([
        { itemId: 'a', reason: { kind: 'similar_to' } },
        { itemId: 'b', reason: { kind: 'exploration' } },
      ]),
    ).toEqual([
      { itemId: 'a', position: 1, source: 'organic' },
      { itemId: 'b', position: 2, source: 'exploration' },
    ]);
  });

  it('weighs an impression in the frame popularity uses, halving every 30 days, within safe integers until 2029', () => {
    const epoch = DEFAULT_TRACKING_POLICY.popularityEpoch;
    const servedAt = Date.UTC(2026, 5, 1);
    const decayedAt = (days: number) =>
      impressionFrameWeight(servedAt, epoch) * impressionDecay(epoch, servedAt + days * 86_400_000);
    expect(decayedAt(0)).toBeCloseTo(1, 12);
    expect(decayedAt(30)).toBeCloseTo(0.5, 12);
    expect(decayedAt(60)).toBeCloseTo(0.25, 12);
    expect(impressionFrameWeight(Date.UTC(2029, 3, 30), epoch)).toBeLessThan(Number.MAX_SAFE_INTEGER);
  });
});

const DIM = 3;
const NOW = Date.UTC(2026, 5, 1);
const unit = (...c: number[]) => {
  const norm = Math.hypot(...c);
  return Float32Array.from({ length: DIM }, (_, i) => (c[i] ?? 0) / norm);
};
const CATALOGUE = [
  { itemId: 'shoe-1', vector: unit(1, 0, 0) },
  { itemId: 'shoe-2', vector: unit(1, 0.1, 0) },
  { itemId: 'shoe-3', vector: unit(1, 0, 0.2) },
  { itemId: 'hat-1', vector: unit(0, 1, 0) },
  { itemId: 'hat-2', vector: unit(0.1, 1, 0) },
];

function setUp() {
  const index = new ExactIndex(DIM);
  const items = new InMemoryItemViews();
  const store = new InMemoryProfileRepository();
  for (const { itemId, vector } of CATALOGUE) {
    index.upsert(itemId, vector, { available: true, category: 'all' });
    items.putItem({
      itemId,
      status: 'ready',
      source: { bucket: 'b', key: `catalogue/${itemId}.jpg`, sequencer: '01', eventAt: 0 },
      vectors: { m: vector },
      category: 'all',
      available: true,
      createdAt: 0,
      updatedAt: 0,
    });
    store.putItem({ itemId, status: 'ready', available: true, vector });
  }
  const impressions = new InMemoryImpressionLog();
  const failures: unknown[] = [];
  const deps: RecommendDeps = {
    serving: inMemoryServing(index),
    reader: items,
    profiles: store,
    history: store,
    catalogue: store,
    aggregates: store,
    embedder: async () => new KnownImageEmbedder('m', DIM, new Map([['a hat', unit(0, 1, 0.1)]])),
    modelId: 'm',
    dim: DIM,
    profileSettings: DEFAULT_PROFILE_SETTINGS,
    ranking: DEFAULT_RANKING_SETTINGS,
    popularityEpoch: DEFAULT_TRACKING_POLICY.popularityEpoch,
    now: () => NOW,
    impressions,
    onImpressionFailed: (error) => failures.push(error),
  };
  return { deps, store, items, impressions, failures };
}

async function likeShoe(store: InMemoryProfileRepository, userId: string) {
  const profile = applyEvent(
    emptyProfile(userId, DIM, NOW),
    { itemId: 'shoe-1', type: 'like', at: NOW - 1000, vector: unit(1, 0, 0) },
    DEFAULT_PROFILE_SETTINGS,
  );
  await store.commit(
    userId,
    [],
    { profile, version: 1, settingsId: 's', epoch: 0, space: 'm' },
    undefined,
    [],
    NOW,
  );
}

describe('recording the lists served', () => {
  it('records each list once, with its items, positions, strategy and placement, the id it answers with', async () => {
    const { deps, store, impressions } = setUp();
    await likeShoe(store, 'ann');
    await store.commit(
      'pop',
      [],
      { profile: emptyProfile('pop', 4, NOW), version: 1, settingsId: 's', epoch: 0 },
      undefined,
      [{ itemId: 'hat-1', weight: 2 }],
      NOW,
    );

    const personal = await recommendForUser(deps, 'ann', { limit: 3, placement: 'home' });
    const popular = await recommendForUser(deps, 'newcomer', { limit: 2 });
    const similar = await similarItems(deps, 'hat-1', { limit: 2 });
    const search = await searchByImage(
      deps,
      new TextEncoder().encode('a hat'),
      { limit: 2, placement: 'camera' },
      'ann',
    );

    expect(impressions.recorded).toHaveLength(4);
    const [p, q, s, i] = impressions.recorded;
    expect(p).toMatchObject({
      recommendationId: personal.recommendationId,
      userId: 'ann',
      strategy: 'personal',
      placement: 'home',
      modelId: 'm',
      servedAt: NOW,
    });
    expect(p?.items).toEqual(
      personal.items.map((item, k) => ({ itemId: item.itemId, position: k + 1, source: 'organic' })),
    );
    expect(q).toMatchObject({
      recommendationId: popular.recommendationId,
      userId: 'newcomer',
      strategy: 'popular',
      placement: 'popular',
    });
    expect(q?.items.map((item) => item.itemId)).toEqual(popular.items.map((item) => item.itemId));
    // A list served without a user (a service's call) is recorded without one.
    expect(s).toMatchObject({
      recommendationId: similar.recommendationId,
      strategy: 'similar_item',
      placement: 'similar_item',
    });
    expect(s?.userId).toBeUndefined();
    expect(i).toMatchObject({
      recommendationId: search.recommendationId,
      userId: 'ann',
      strategy: 'similar_image',
      placement: 'camera',
    });
    expect([personal.placement, popular.placement, similar.placement, search.placement]).toEqual([
      'home',
      'popular',
      'similar_item',
      'camera',
    ]);
    for (const list of [personal, popular, similar, search]) {
      expect(isUuidV7(list.recommendationId)).toBe(true);
      expect(uuidV7Time(list.recommendationId)).toBe(NOW);
    }
  });

  it('issues the write beside the views read, not after it', async () => {
    const { deps, store, impressions } = setUp();
    await likeShoe(store, 'ann');
    // Each side waits for the other to have started: run one after the other, they would never finish.
    let recordStarted!: () => void;
    const recording = new Promise<void>((resolve) => {
      recordStarted = resolve;
    });
    let viewsStarted!: () => void;
    const reading = new Promise<void>((resolve) => {
      viewsStarted = resolve;
    });
    const reader: ItemViews = {
      get: (id) => deps.reader.get(id),
      imageUrl: (source) => deps.reader.imageUrl(source),
      views: async (ids) => {
        viewsStarted();
        await recording;
        return deps.reader.views(ids);
      },
    };
    const log = {
      record: async (impression: Parameters<InMemoryImpressionLog['record']>[0]) => {
        recordStarted();
        await reading;
        await impressions.record(impression);
      },
      page: impressions.page.bind(impressions),
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('sequential: deadlock')), 2000);
    });
    const list = await Promise.race([
      recommendForUser({ ...deps, reader, impressions: log }, 'ann', { limit: 3 }),
      timeout,
    ]).finally(() => clearTimeout(timer));
    expect(list.items.length).toBe(3);
    expect(impressions.recorded).toHaveLength(1);
  });

  it('answers the list when the write fails, and tells the handler', async () => {
    const { deps, store, impressions, failures } = setUp();
    await likeShoe(store, 'ann');
    impressions.failWith = Object.assign(new Error('no such table'), { name: 'ResourceNotFoundException' });
    const list = await recommendForUser(deps, 'ann', { limit: 3 });
    expect(list.items).toHaveLength(3);
    expect(failures).toEqual([impressions.failWith]);
  });

  it('refuses a placement outside [a-z0-9_-] or over 64 characters', () => {
    expect(parseQuery(ListQuerySchema, { placement: 'pdp_similar-2' }).placement).toBe('pdp_similar-2');
    for (const bad of ['', 'Home', '-home', 'a b', 'x'.repeat(65), 'home/1'])
      expect(() => parseQuery(ListQuerySchema, { placement: bad })).toThrow(InvalidRequest);
  });
});

describe('the Impressions row and its stream record', () => {
  const impression = {
    recommendationId: '019ad5a4-7c00-7abc-8def-0123456789ab',
    placement: 'home',
    strategy: 'personal' as const,
    modelId: 'm',
    servedAt: Date.UTC(2026, 10, 30, 10),
    items: [
      { itemId: 'a', position: 1, source: 'organic' as const },
      { itemId: 'b', position: 2, source: 'exploration' as const },
    ],
  };

  it('keys a row by user and id, files it under its day and shard, and expires it after the TTL', () => {
    expect(impressionRow({ ...impression, userId: 'ann' }, 30)).toEqual({
      pk: 'ann',
      sk: impression.recommendationId,
      day: '2026-11-30#11',
      placement: 'home',
      strategy: 'personal',
      modelId: 'm',
      servedAt: impression.servedAt,
      items: impression.items,
      expiresAt: impression.servedAt / 1000 + 30 * 86_400,
    });
    expect(impressionRow(impression, 7).pk).toBe(`anonymous#${impression.recommendationId}`);
  });

  it("counts an inserted list's items at its frame weight, and nothing for a modify or a removal", () => {
    const epoch = DEFAULT_TRACKING_POLICY.popularityEpoch;
    const image = marshall(impressionRow({ ...impression, userId: 'ann' }, 30)) as never;
    const record = (eventName: 'INSERT' | 'MODIFY' | 'REMOVE') => ({
      eventID: eventName,
      eventName,
      dynamodb: { SequenceNumber: '1', NewImage: image },
    });
    const weight = impressionFrameWeight(impression.servedAt, epoch);
    expect(impressionIncrements(record('INSERT'), epoch)).toEqual([
      { pk: impressionShard('a'), sk: 'a', weight },
      { pk: impressionShard('b'), sk: 'b', weight },
    ]);
    expect(impressionShard('a')).toMatch(/^imp#([0-9]|1[0-5])$/);
    expect(impressionIncrements(record('MODIFY'), epoch)).toEqual([]);
    expect(impressionIncrements(record('REMOVE'), epoch)).toEqual([]);
  });
});

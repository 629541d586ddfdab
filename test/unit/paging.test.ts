/**
 * Paging without repeats (functions/domain/paging.ts, functions/app/recommend.ts) through in-memory
 * fakes: pages continue one ranking (a list is the start of any longer one, exploration included),
 * never repeat an item, stop when the pool is exhausted, and every bad token gets its own code.
 */
import fc from 'fast-check';
import type { StoredItem } from '../../functions/app/ports';
import {
  type RecommendationList,
  type RecommendDeps,
  recommendForUser,
  searchByImage,
  similarItems,
} from '../../functions/app/recommend';
import { DEFAULT_TRACKING_POLICY } from '../../functions/app/track-events';
import { applyEvent, DEFAULT_PROFILE_SETTINGS, emptyProfile } from '../../functions/domain/interest-profile';
import { decodePageToken, encodePageToken } from '../../functions/domain/paging';
import { DEFAULT_EXPLORATION, DEFAULT_RANKING_SETTINGS } from '../../functions/domain/ranking';
import { ExactIndex } from '../../functions/vector-index';
import { InMemoryImpressionLog } from '../support/fakes/impression-log';
import { InMemoryItemViews } from '../support/fakes/item-views';
import { KnownImageEmbedder } from '../support/fakes/known-image-embedder';
import { InMemoryProfileRepository } from '../support/fakes/profile-repository';
import { inMemoryServing } from '../support/fakes/serving';
import { seededUniform } from '../support/seeded-random';

const MODEL_ID = 'paging-model';
const DIM = 8;
const NOW = Date.UTC(2026, 10, 1);
const DAY = 86_400_000;
const COUNT = 1200;

/** Clustered unit vectors: 6 clusters, items of a cluster near its centre. */
function catalogue() {
  const random = seededUniform(7);
  const centres = Array.from({ length: 6 }, () => Float32Array.from({ length: DIM }, () => random() - 0.5));
  return Array.from({ length: COUNT }, (_, i) => {
    const centre = centres[i % 6] as Float32Array;
    const v = Float32Array.from(centre, (c) => c + (random() - 0.5) * 0.6);
    const norm = Math.hypot(...v);
    return {
      itemId: `item-${i}`,
      vector: v.map((x) => x / norm),
      category: `cat-${i % 3}`,
      price: 5 + (i % 50),
      // Every 40th item is new (exploration's candidates; few enough that the organic ranking alone
      // leaves the share of new items short, so slots are explored); the rest went on sale months ago.
      publishedAt: i % 40 === 0 ? NOW - 2 * DAY : NOW - 200 * DAY,
    };
  });
}

function setUp(options: { exploration?: boolean } = {}) {
  const items = catalogue();
  const index = new ExactIndex(DIM);
  const views = new InMemoryItemViews();
  const store = new InMemoryProfileRepository();
  for (const item of items) {
    index.upsert(item.itemId, item.vector, {
      available: true,
      category: item.category,
      price: item.price,
      publishedAt: item.publishedAt,
    });
    const stored: StoredItem = {
      itemId: item.itemId,
      status: 'ready',
      source: { bucket: 'b', key: `catalogue/${item.itemId}.jpg`, sequencer: '1', eventAt: 0 },
      vectors: { [MODEL_ID]: item.vector },
      category: item.category,
      price: item.price,
      available: true,
      createdAt: item.publishedAt,
      updatedAt: item.publishedAt,
    };
    views.putItem(stored);
    store.putItem({ itemId: item.itemId, status: 'ready', available: true, vector: item.vector });
  }
  const impressions = new InMemoryImpressionLog();
  let now = NOW;
  const deps: RecommendDeps = {
    serving: inMemoryServing(index),
    reader: views,
    profiles: store,
    history: store,
    catalogue: store,
    aggregates: store,
    embedder: async () =>
      new KnownImageEmbedder(MODEL_ID, DIM, new Map([['a photo', items[3]?.vector as Float32Array]])),
    modelId: MODEL_ID,
    dim: DIM,
    profileSettings: DEFAULT_PROFILE_SETTINGS,
    ranking: DEFAULT_RANKING_SETTINGS,
    popularityEpoch: DEFAULT_TRACKING_POLICY.popularityEpoch,
    impressions,
    ...(options.exploration !== false
      ? { exploration: { default: { ...DEFAULT_EXPLORATION, minRelevance: 0.5 } } }
      : {}),
    now: () => now,
  };
  const tick = (ms: number) => {
    now += ms;
  };
  return { deps, store, impressions, items, tick };
}

/** A user with two tastes (likes in clusters 0 and 1, a hide and a view). */
async function twoTastes(
  store: InMemoryProfileRepository,
  items: ReturnType<typeof catalogue>,
  userId = 'ada',
) {
  const profile = emptyProfile(userId, DIM, NOW - 10 * DAY);
  const events: Array<[Parameters<typeof applyEvent>[1]['type'], number]> = [
    ['like', 1],
    ['like', 7],
    ['like', 0 + 6],
    ['purchase', 12],
    ['hide', 13],
    ['view', 2],
  ];
  events.forEach(([type, i], k) => {
    applyEvent(
      profile,
      { type, itemId: `item-${i}`, at: NOW - (events.length - k) * 3_600_000, vector: items[i]?.vector },
      DEFAULT_PROFILE_SETTINGS,
    );
  });
  await store.commit(
    userId,
    [],
    { profile, version: 1, settingsId: 'test', space: MODEL_ID, epoch: NOW },
    undefined,
    [],
    NOW,
  );
}

const ids = (list: { items: Array<{ itemId: string }> }) => list.items.map((item) => item.itemId);

/** Pages of `limit` until there is no token (or `pages` of them), each asked for with the last token. */
async function pages(
  fetch: (nextToken: string | undefined) => Promise<RecommendationList>,
  count: number,
): Promise<RecommendationList[]> {
  const out: RecommendationList[] = [];
  let token: string | undefined;
  for (let i = 0; i < count; i++) {
    const page = await fetch(token);
    out.push(page);
    token = page.nextToken;
    if (!token) break;
  }
  return out;
}

describe('paging', () => {
  it('5 pages of 10 hold the 50 items of one 50-item list, in its order, on every list route', async () => {
    const { deps, store, items } = setUp();
    await twoTastes(store, items);
    const image = KnownImageEmbedder.image('a photo');
    const routes: Array<
      [string, (extra: { limit: number; nextToken?: string }) => Promise<RecommendationList>]
    > = [
      ['personal', (q) => recommendForUser(deps, 'ada', q)],
      ['popular', (q) => recommendForUser(deps, 'newcomer', q)],
      ['similar', (q) => similarItems(deps, 'item-4', q, 'ada')],
      ['search', (q) => searchByImage(deps, image, q, 'ada')],
      ['filtered', (q) => recommendForUser(deps, 'ada', { ...q, category: ['cat-1'], maxPrice: '40' })],
    ];
    for (const [name, list] of routes) {
      const whole = ids(await list({ limit: 50 }));
      const paged = await pages((nextToken) => list({ limit: 10, ...(nextToken ? { nextToken } : {}) }), 5);
      expect({ name, pages: paged.length }).toEqual({ name, pages: 5 });
      expect({ name, items: paged.flatMap(ids) }).toEqual({ name, items: whole });
      expect(new Set(whole).size).toBe(50);
      if (name === 'personal')
        expect(paged.flatMap((p) => p.items).some((item) => item.reason.kind === 'exploration')).toBe(true);
    }
  });

  it('never repeats an item when the profile changes between pages, and stops when the pool is exhausted', async () => {
    const { deps, store, items, impressions } = setUp();
    await twoTastes(store, items);
    const first = await recommendForUser(deps, 'ada', { limit: 20 });
    // New likes change the ranking before the next page.
    const profile = (await store.getProfile('ada'))?.profile;
    if (!profile) throw new Error('no profile');
    for (const i of [5, 11, 17])
      applyEvent(
        profile,
        { type: 'like', itemId: `item-${i}`, at: NOW, vector: items[i]?.vector },
        DEFAULT_PROFILE_SETTINGS,
      );
    await store.commit(
      'ada',
      [],
      { profile, version: 2, settingsId: 'test', space: MODEL_ID, epoch: NOW },
      { version: 1, epoch: NOW },
      [],
      NOW,
    );
    const rest = await pages(
      (nextToken) =>
        recommendForUser(deps, 'ada', {
          limit: 30,
          ...(nextToken ? { nextToken } : { nextToken: first.nextToken }),
        }),
      50,
    );
    const all = [...ids(first), ...rest.flatMap(ids)];
    expect(new Set(all).size).toBe(all.length);
    // The pool runs out before the catalogue: the last page has no token.
    expect(rest.at(-1)?.nextToken).toBeUndefined();
    expect(all.length).toBeLessThanOrEqual(COUNT);
    // Positions continue across pages (attribution reads them).
    const second = impressions.recorded.find((r) => r.recommendationId === rest[0]?.recommendationId);
    expect(second?.items[0]?.position).toBe(21);
  });

  it('gives each bad token its own code: forged, tampered, foreign, expired, erased, mismatched', async () => {
    const { deps, store, items, impressions, tick } = setUp();
    await twoTastes(store, items);
    await twoTastes(store, items, 'bob');
    const first = await recommendForUser(deps, 'ada', { limit: 10, category: ['cat-1'] });
    const token = first.nextToken as string;
    expect(token).toMatch(/^p1\.[A-Za-z0-9_-]+$/);
    const next = (nextToken: string, query: object = { category: ['cat-1'] }, user = 'ada') =>
      recommendForUser(deps, user, { limit: 10, nextToken, ...query });
    const code = async (promise: Promise<unknown>) =>
      promise.then(
        () => 'no error',
        (error: { code?: string }) => error.code,
      );

    expect(await code(next('p1.not-a-token'))).toBe('invalid_token');
    expect(await code(next('garbage'))).toBe('invalid_token');
    // One bit flipped in the nonce: the row's nonce does not match.
    const decoded = decodePageToken(token);
    const flipped = encodePageToken({
      ...decoded,
      nonce: `${decoded.nonce[0] === '0' ? '1' : '0'}${decoded.nonce.slice(1)}`,
    });
    expect(await code(next(flipped))).toBe('invalid_token');
    expect(await code(next(token, { category: ['cat-1'] }, 'bob'))).toBe('foreign_token');
    expect(await code(next(token, { category: ['cat-2'] }))).toBe('token_mismatch');
    expect(await code(next(token, { category: ['cat-1'], strict: 'false' }))).toBe('token_mismatch');
    expect(await code(similarItems(deps, 'item-1', { nextToken: token }, 'ada'))).toBe('token_mismatch');
    // Another limit is fine.
    expect(ids(await next(token)).length).toBe(10);
    expect(
      ids(await recommendForUser(deps, 'ada', { limit: 3, nextToken: token, category: ['cat-1'] })),
    ).toHaveLength(3);

    // Expired: an hour later by default.
    tick(60 * 60_000 + 1);
    expect(await code(next(token))).toBe('expired_token');
    const fresh = await recommendForUser(deps, 'ada', { limit: 10 });
    // Erased with the user: the token names a list that is no longer stored.
    await impressions.eraseUser('ada');
    expect(await code(next(fresh.nextToken as string, {}))).toBe('token_not_found');
  });

  it('gives no token when the list could not be recorded, and reads tokens whole', async () => {
    const { deps, store, items, impressions } = setUp();
    await twoTastes(store, items);
    impressions.failWith = new Error('throttled');
    const list = await recommendForUser(deps, 'ada', { limit: 10 });
    expect(list.items).toHaveLength(10);
    expect(list.nextToken).toBeUndefined();
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (text) => {
        try {
          const token = decodePageToken(text);
          expect(encodePageToken(token)).toBe(text);
        } catch (error) {
          expect((error as { code?: string }).code).toBe('invalid_token');
        }
      }),
    );
  });
});

/**
 * Trending (issue 22): the short-term counter's frames and weights, the score (short-term mass over
 * the long-run pace plus a floor, a minimum mass), and the use case over in-memory fakes: events
 * recorded through the write path make an item trend, per category too, and it drops out as time passes.
 */
import type { RecommendDeps } from '../../functions/app/recommend';
import { TrendingQuerySchema, trendingItems } from '../../functions/app/recommend';
import { DEFAULT_TRACKING_POLICY, recordEvents, type TrackDeps } from '../../functions/app/track-events';
import { InvalidRequest } from '../../functions/domain/errors';
import { DEFAULT_PROFILE_SETTINGS } from '../../functions/domain/interest-profile';
import { DEFAULT_RANKING_SETTINGS } from '../../functions/domain/ranking';
import {
  DEFAULT_TRENDING,
  recentMass,
  recentWeight,
  TREND_FRAME_HALF_LIVES,
  trendingScores,
} from '../../functions/domain/trending';
import { ExactIndex } from '../../functions/vector-index';
import { InMemoryImpressionLog } from '../support/fakes/impression-log';
import { InMemoryItemViews } from '../support/fakes/item-views';
import { KnownImageEmbedder } from '../support/fakes/known-image-embedder';
import { InMemoryProfileRepository } from '../support/fakes/profile-repository';
import { inMemoryServing } from '../support/fakes/serving';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const EPOCH = DEFAULT_TRACKING_POLICY.popularityEpoch;
const NOW = Date.UTC(2026, 11, 1, 12);
const LONG = DEFAULT_PROFILE_SETTINGS.halfLifeDays * DAY;

describe('the short-term counter', () => {
  it('weighs an event 2^(time into its frame / half-life) times its type weight, below 2^16 per event', () => {
    const frameLength = TREND_FRAME_HALF_LIVES * DAY;
    const at = EPOCH + 3 * frameLength + 5 * DAY;

    const recent = recentWeight({ at, typeWeight: 0.5 }, EPOCH, DAY, at);

    expect(recent).toEqual({
      frameStart: EPOCH + 3 * frameLength,
      weight: 0.5 * 2 ** 5,
      staleFrameStart: EPOCH + frameLength,
    });
    const last = recentWeight({ at: EPOCH + 4 * frameLength - 1, typeWeight: 1 }, EPOCH, DAY, at);
    expect(last?.weight).toBeLessThan(2 ** 16);
  });

  it('decays to the same mass whichever frame an event fell in, and ignores events older than a frame', () => {
    const frameStart = EPOCH + 40 * TREND_FRAME_HALF_LIVES * DAY;
    const before = recentWeight({ at: frameStart - HOUR, typeWeight: 1 }, EPOCH, DAY, frameStart + HOUR);
    const after = recentWeight({ at: frameStart + HOUR, typeWeight: 1 }, EPOCH, DAY, frameStart + HOUR);
    expect(before?.frameStart).toBe(frameStart - TREND_FRAME_HALF_LIVES * DAY);
    expect(after?.frameStart).toBe(frameStart);

    const mass = recentMass(
      [before, after].filter((f) => f !== undefined),
      frameStart + HOUR,
      DAY,
    );

    expect(mass).toBeCloseTo(2 ** (-2 / 24) + 1, 12);
    const now = frameStart + HOUR;
    expect(recentWeight({ at: now - 17 * DAY, typeWeight: 4 }, EPOCH, DAY, now)).toBeUndefined();
    expect(recentWeight({ at: now, typeWeight: 0 }, EPOCH, DAY, now)).toBeUndefined();
  });
});

describe('trendingScores', () => {
  const frames = (mass: number) => [{ frameStart: NOW, weight: mass }];
  const score = (recent: Map<string, number>, popularity: Map<string, number>) =>
    trendingScores({
      recent: new Map([...recent].map(([id, mass]) => [id, frames(mass)])),
      popularity,
      longHalfLifeMs: LONG,
      settings: DEFAULT_TRENDING,
      now: NOW,
    });

  it('ranks by recent mass over the long-run pace plus the floor', () => {
    // burst: new and busy; steady: as busy as ever (recent = popularity * 1/30); rising: twice its pace.
    const ranked = score(
      new Map([
        ['burst', 12],
        ['steady', 10],
        ['rising', 20],
      ]),
      new Map([
        ['burst', 12],
        ['steady', 300],
        ['rising', 300],
      ]),
    );

    expect(ranked.map((c) => c.itemId)).toEqual(['burst', 'rising']);
    expect(ranked[0]?.score).toBeCloseTo(12 / (12 / 30 + 2), 10);
    expect(ranked[1]?.expected).toBeCloseTo(10, 10);
  });

  it('one click is not a trend: below the minimum mass nothing trends, however new the item', () => {
    expect(score(new Map([['one-click', 0.5]]), new Map([['one-click', 0.5]]))).toEqual([]);
    // One shopper's one purchase (4) is not a trend either.
    expect(score(new Map([['one-purchase', 4]]), new Map())).toEqual([]);
    expect(score(new Map([['just-under', 5.99]]), new Map())).toEqual([]);
    expect(score(new Map([['at-minimum', 6]]), new Map()).map((c) => c.itemId)).toEqual(['at-minimum']);
  });
});

describe('trendingItems (in-memory fakes)', () => {
  const DIM = 3;
  const CATALOGUE = [
    { itemId: 'boot', category: 'shoes' },
    { itemId: 'sandal', category: 'shoes' },
    { itemId: 'cap', category: 'hats' },
    { itemId: 'gone', category: 'hats', available: false },
  ];

  function setUp() {
    let now = NOW;
    const index = new ExactIndex(DIM);
    const items = new InMemoryItemViews();
    const store = new InMemoryProfileRepository();
    for (const [i, { itemId, category, available = true }] of CATALOGUE.entries()) {
      const vector = new Float32Array([i === 0 ? 1 : 0, i === 1 ? 1 : 0, i >= 2 ? 1 : 0]);
      index.upsert(itemId, vector, { available, category });
      items.putItem({
        itemId,
        status: 'ready',
        source: { bucket: 'b', key: `catalogue/${itemId}.jpg`, sequencer: '01', eventAt: 0 },
        vectors: { m: vector },
        category,
        available,
        createdAt: 0,
        updatedAt: 0,
      });
      store.putItem({ itemId, status: 'ready', available, vector });
    }
    const impressions = new InMemoryImpressionLog();
    const deps: RecommendDeps = {
      serving: inMemoryServing(index),
      reader: items,
      profiles: store,
      history: store,
      catalogue: store,
      aggregates: store,
      embedder: async () => new KnownImageEmbedder('m', DIM, new Map()),
      modelId: 'm',
      dim: DIM,
      profileSettings: DEFAULT_PROFILE_SETTINGS,
      ranking: DEFAULT_RANKING_SETTINGS,
      popularityEpoch: EPOCH,
      now: () => now,
      impressions,
    };
    const track: TrackDeps = {
      store,
      policy: { ...DEFAULT_TRACKING_POLICY, settings: DEFAULT_PROFILE_SETTINGS },
      space: 'm',
      dim: DIM,
      now: () => now,
    };
    let sent = 0;
    const engage = (itemId: string, type: string, times: number) =>
      recordEvents(
        track,
        Array.from({ length: times }, () => ({
          eventId: `e-${++sent}`,
          userId: `user-${sent}`,
          itemId,
          type,
        })),
      );
    return { deps, impressions, engage, advance: (ms: number) => (now += ms) };
  }
  const trending = (deps: RecommendDeps, query: Record<string, unknown> = {}, viewer?: string) =>
    trendingItems(deps, TrendingQuerySchema.parse(query), viewer);

  it('lists items whose engagement bursts, fastest rising first, and records the list as an impression', async () => {
    const { deps, impressions, engage } = setUp();
    await engage('cap', 'add_to_cart', 4);
    await engage('boot', 'click', 16);
    await engage('sandal', 'click', 1);

    const list = await trending(deps, {}, 'ada');

    expect(list.strategy).toBe('trending');
    expect(list.placement).toBe('trending');
    expect(list.items.map((i) => [i.itemId, i.reason.kind])).toEqual([
      ['cap', 'trending'],
      ['boot', 'trending'],
    ]);
    expect(list.items[0]?.reason).toEqual({ kind: 'trending', recent: 12, expected: 0.4 });
    expect(list).not.toHaveProperty('nextToken');
    const recorded = impressions.recorded;
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ strategy: 'trending', userId: 'ada', placement: 'trending' });
  });

  it('filters by category, refuses an unknown one, and leaves out unavailable items', async () => {
    const { deps, engage } = setUp();
    await engage('cap', 'add_to_cart', 4);
    await engage('gone', 'add_to_cart', 4);
    await engage('boot', 'add_to_cart', 3);

    expect((await trending(deps, { category: ['shoes'] })).items.map((i) => i.itemId)).toEqual(['boot']);
    expect((await trending(deps, { limit: 1 })).items.map((i) => i.itemId)).toEqual(['cap']);
    await expect(trending(deps, { category: ['socks'] })).rejects.toMatchObject({
      code: 'unknown_category',
    });
    await expect(trending(deps, { category: ['socks'] })).rejects.toBeInstanceOf(InvalidRequest);
  });

  it('drops an item as its burst ages', async () => {
    const { deps, engage, advance } = setUp();
    await engage('cap', 'add_to_cart', 4);
    expect((await trending(deps)).items.map((i) => i.itemId)).toEqual(['cap']);

    advance(DAY - HOUR);

    // 12 decayed by one half-life is 6, the minimum: an hour before, still trending; an hour after, not.
    expect((await trending(deps)).items.map((i) => i.itemId)).toEqual(['cap']);
    advance(2 * HOUR);
    expect((await trending(deps)).items).toEqual([]);
  });
});

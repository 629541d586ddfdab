/**
 * The recommend use case (functions/app/recommend.ts) through in-memory fakes of its ports: a small
 * exact index of hand-made vectors, items, profiles and aggregates in memory, a fake image embedder.
 * test/integration/recommendations.test.ts runs the same use case through the API on the local twin.
 */
import type { StoredItem } from '../../functions/app/ports';
import {
  itemDetails,
  type ProfileRefold,
  type RecommendDeps,
  recommendForUser,
  searchByImage,
  similarItems,
} from '../../functions/app/recommend';
import { DEFAULT_TRACKING_POLICY } from '../../functions/app/track-events';
import { InvalidImage, InvalidRequest, ItemNotReady, NotFound } from '../../functions/domain/errors';
import { impressionDecay } from '../../functions/domain/impressions';
import {
  applyEvent,
  DEFAULT_PROFILE_SETTINGS,
  decayFactor,
  type EventType,
  emptyProfile,
} from '../../functions/domain/interest-profile';
import { DEFAULT_EXPLORATION, DEFAULT_RANKING_SETTINGS } from '../../functions/domain/ranking';
import { ExactIndex } from '../../functions/vector-index';
import { InMemoryItemViews } from '../support/fakes/item-views';
import { KnownImageEmbedder } from '../support/fakes/known-image-embedder';
import { InMemoryProfileRepository } from '../support/fakes/profile-repository';
import { inMemoryServing } from '../support/fakes/serving';

const MODEL_ID = 'test-model';
const DIM = 4;
const NOW = Date.UTC(2026, 5, 1);
const HOUR = 3_600_000;

/** A unit vector from rough coordinates: shoes point along axis 0, hats along 1, scarves along 2. */
const unit = (...coordinates: number[]) => {
  const norm = Math.hypot(...coordinates);
  return Float32Array.from({ length: DIM }, (_, i) => (coordinates[i] ?? 0) / norm);
};

interface Fixture {
  itemId: string;
  category: string;
  vector?: Float32Array;
  available?: boolean;
  status?: StoredItem['status'];
  /** Known to the item store but not in the index (its vector still says what it looks like). */
  unserved?: boolean;
  price?: number;
  tags?: string[];
}

const CATALOGUE: Fixture[] = [
  { itemId: 'red-shoe', category: 'shoes', vector: unit(1, 0, 0, 0), price: 100, tags: ['leather', 'red'] },
  {
    itemId: 'blue-shoe',
    category: 'shoes',
    vector: unit(1, 0.05, 0, 0),
    price: 80,
    tags: ['canvas', 'blue'],
  },
  {
    itemId: 'green-shoe',
    category: 'shoes',
    vector: unit(1, 0, 0.1, 0),
    price: 60,
    tags: ['canvas', 'green'],
  },
  {
    itemId: 'brown-shoe',
    category: 'shoes',
    vector: unit(1, 0.2, 0, 0),
    price: 120,
    tags: ['leather', 'brown'],
  },
  {
    itemId: 'black-shoe',
    category: 'shoes',
    vector: unit(1, 0, 0, 0.3),
    price: 40,
    tags: ['leather', 'black'],
  },
  { itemId: 'sold-out-shoe', category: 'shoes', vector: unit(1, 0.01, 0, 0), available: false, price: 5 },
  { itemId: 'hat', category: 'hats', vector: unit(0, 1, 0, 0), price: 25, tags: ['wool'] },
  { itemId: 'cap', category: 'hats', vector: unit(0.1, 1, 0, 0), price: 15, tags: ['canvas'] },
  { itemId: 'scarf', category: 'scarves', vector: unit(0, 0, 1, 0), tags: ['wool'] },
  // Between blue (1, 0.05) and brown (1, 0.2), nearer brown by more than the index's int8 rounding.
  { itemId: 'boot', category: 'shoes', vector: unit(1, 0.13, 0, 0), unserved: true, price: 150 },
  { itemId: 'rejected-shoe', category: 'shoes', status: 'rejected' },
  { itemId: 'deleted-shoe', category: 'shoes', status: 'deleted' },
];

function storedItem(fixture: Fixture): StoredItem {
  return {
    itemId: fixture.itemId,
    status: fixture.status ?? 'ready',
    source: {
      bucket: 'catalogue-bucket',
      key: `catalogue/${fixture.itemId}.jpg`,
      sequencer: '0000000000000001',
      eventAt: 0,
    },
    vectors: fixture.vector ? { [MODEL_ID]: fixture.vector } : {},
    title: fixture.itemId.replace('-', ' '),
    category: fixture.category,
    ...(fixture.price !== undefined ? { price: fixture.price } : {}),
    ...(fixture.tags ? { tags: fixture.tags } : {}),
    available: fixture.available !== false,
    ...(fixture.status === 'rejected'
      ? { rejection: { code: 'not_an_image', message: 'the bytes are not an image' } }
      : {}),
    createdAt: NOW - 10 * HOUR,
    updatedAt: NOW - 5 * HOUR,
  };
}

function setUp() {
  const index = new ExactIndex(DIM);
  const items = new InMemoryItemViews();
  for (const fixture of CATALOGUE) {
    items.putItem(storedItem(fixture));
    if (fixture.vector && !fixture.unserved && (fixture.status ?? 'ready') === 'ready')
      index.upsert(fixture.itemId, fixture.vector, {
        available: fixture.available !== false,
        category: fixture.category,
        ...(fixture.price !== undefined ? { price: fixture.price } : {}),
        ...(fixture.tags ? { tags: fixture.tags } : {}),
      });
  }
  const store = new InMemoryProfileRepository();
  // The catalogue as the refold reads it: each item's state and vector in the active space.
  for (const fixture of CATALOGUE) {
    store.putItem({
      itemId: fixture.itemId,
      status: fixture.status ?? 'ready',
      available: fixture.available !== false,
      ...(fixture.vector ? { vector: fixture.vector } : {}),
    });
  }
  const embedder = new KnownImageEmbedder(
    MODEL_ID,
    DIM,
    new Map([
      ['a photo of a hat', unit(0, 1, 0, 0.05)],
      ['a photo of a shoe', unit(1, 0.1, 0, 0.1)],
    ]),
  );
  const deps: RecommendDeps = {
    serving: inMemoryServing(index),
    reader: items,
    profiles: store,
    history: store,
    catalogue: store,
    aggregates: store,
    embedder: async () => embedder,
    modelId: MODEL_ID,
    dim: DIM,
    profileSettings: DEFAULT_PROFILE_SETTINGS,
    ranking: DEFAULT_RANKING_SETTINGS,
    popularityEpoch: DEFAULT_TRACKING_POLICY.popularityEpoch,
    now: () => NOW,
  };
  return { deps, store, embedder };
}

const vectorOf = (itemId: string) => CATALOGUE.find((f) => f.itemId === itemId)?.vector;

/** Folds the events into a profile and stores it, as the event write path would. */
async function storeProfile(
  store: InMemoryProfileRepository,
  userId: string,
  events: Array<[EventType, string]>,
  popularity: Array<{ itemId: string; weight: number }> = [],
) {
  const profile = emptyProfile(userId, DIM, NOW - 24 * HOUR);
  events.forEach(([type, itemId], i) => {
    applyEvent(
      profile,
      { type, itemId, at: NOW - (events.length - i) * HOUR, vector: vectorOf(itemId) },
      {
        ...DEFAULT_PROFILE_SETTINGS,
      },
    );
  });
  await store.commit(
    userId,
    [],
    { profile, version: 1, settingsId: 'test', space: MODEL_ID, epoch: NOW },
    undefined,
    popularity,
    NOW,
  );
}

const ids = (list: { items: Array<{ itemId: string }> }) => list.items.map((item) => item.itemId);

describe('recommendForUser', () => {
  it('ranks a personal list by taste, leaving out hidden and unavailable items, and seen ones when asked', async () => {
    const { deps, store } = setUp();
    await storeProfile(store, 'ada', [
      ['like', 'red-shoe'],
      ['view', 'green-shoe'],
      ['hide', 'blue-shoe'],
    ]);

    const all = await recommendForUser(deps, 'ada', { limit: 4 });
    const unseen = await recommendForUser(deps, 'ada', { limit: 4, exclude: 'seen' });

    expect(all).toMatchObject({ userId: 'ada', strategy: 'personal', modelId: MODEL_ID });
    for (const list of [all, unseen]) {
      expect(ids(list)).not.toContain('blue-shoe');
      expect(ids(list)).not.toContain('sold-out-shoe');
      expect(list.items[0]).toMatchObject({
        category: 'shoes',
        available: true,
        reason: { kind: 'similar_to', itemId: 'red-shoe' },
      });
    }
    expect(ids(all).some((itemId) => itemId === 'red-shoe' || itemId === 'green-shoe')).toBe(true);
    expect(ids(unseen)).toHaveLength(4);
    expect(ids(unseen)).not.toContain('red-shoe');
    expect(ids(unseen)).not.toContain('green-shoe');
    expect(ids(unseen).slice(0, 2).sort()).toEqual(['black-shoe', 'brown-shoe']);
    expect(unseen.items[0]?.imageUrl).toContain('catalogue/');
  });

  it('brings in an item others engaged with together with the liked one, read from the aggregates', async () => {
    const { deps, store } = setUp();
    await storeProfile(store, 'ada', [['like', 'red-shoe']]);
    const before = await recommendForUser(deps, 'ada', { limit: 5, exclude: 'seen' });
    // Stored weights are frame-weighted from the popularity epoch, as the event write path adds them.
    const frame = decayFactor(
      { anchor: DEFAULT_TRACKING_POLICY.popularityEpoch },
      NOW,
      DEFAULT_PROFILE_SETTINGS.halfLifeDays,
    );
    await store.addCoEngagement([{ from: 'red-shoe', to: 'scarf', weight: 50 / frame }]);

    const after = await recommendForUser(deps, 'ada', { limit: 5, exclude: 'seen' });

    expect(ids(before)).not.toContain('scarf');
    expect(ids(after)).toContain('scarf');
  });

  it('falls back to the most popular available items for a user it does not know', async () => {
    const { deps, store } = setUp();
    await storeProfile(
      store,
      'others',
      [],
      [
        { itemId: 'sold-out-shoe', weight: 10 },
        { itemId: 'hat', weight: 5 },
        { itemId: 'scarf', weight: 3 },
        { itemId: 'red-shoe', weight: 1 },
      ],
    );

    const list = await recommendForUser(deps, 'nobody', { limit: 3 });

    expect(list).toMatchObject({ userId: 'nobody', strategy: 'popular' });
    expect(ids(list)).toEqual(['hat', 'scarf', 'red-shoe']);
    expect(list.items.every((item) => item.reason.kind === 'popular')).toBe(true);
    expect(list.items[0]?.score).toBeGreaterThan(list.items[1]?.score ?? Number.POSITIVE_INFINITY);
    const hats = await recommendForUser(deps, 'nobody', { limit: 3, category: ['hats'] });
    expect(ids(hats)).toEqual(['hat', 'cap']);
  });

  it('refuses a category the catalogue does not have', async () => {
    const { deps } = setUp();
    const refused = recommendForUser(deps, 'ada', { limit: 3, category: ['shoez'] });
    await expect(refused).rejects.toBeInstanceOf(InvalidRequest);
    await expect(refused).rejects.toMatchObject({ code: 'unknown_category' });
  });

  it('starts the index load with the list and answers only once it has settled, refused or not', async () => {
    const { deps } = setUp();
    const events: string[] = [];
    const pending: Array<() => void> = [];
    const prepared = () =>
      new Promise<void>((resolve) => {
        events.push('load started');
        pending.push(() => {
          events.push('load done');
          resolve();
        });
      });
    const withLoad = { ...deps, serving: { ...deps.serving, prepare: prepared } };
    const answered = recommendForUser(withLoad, 'nobody', { limit: 3 }).then(() => events.push('answered'));
    const refused = recommendForUser(withLoad, 'ada', { limit: 3, category: ['shoez'] }).catch(() =>
      events.push('refused'),
    );
    // Neither call answers while its load runs, though neither needs the index for long.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(events).toEqual(['load started', 'load started']);
    for (const finish of pending) finish();
    await Promise.all([answered, refused]);
    expect(events.slice(0, 4)).toEqual(['load started', 'load started', 'load done', 'load done']);
    expect(events.lastIndexOf('load done')).toBeLessThan(
      Math.min(events.indexOf('answered'), events.indexOf('refused')),
    );
  });
});

describe('placements', () => {
  const placements = { home: {}, product: { limit: 2 }, diverse: { mmrLambda: 0.3 } };

  it('refuses a placement the stack does not accept on every list, naming the accepted ones', async () => {
    const { deps, store } = setUp();
    const placed = { ...deps, placements };
    await storeProfile(store, 'ada', [['like', 'red-shoe']]);
    for (const refused of [
      recommendForUser(placed, 'ada', { placement: 'pdp' }),
      recommendForUser(placed, 'nobody', { placement: 'pdp' }),
      similarItems(placed, 'red-shoe', { placement: 'pdp' }),
      searchByImage(placed, Buffer.from('not read'), { placement: 'pdp' }),
    ]) {
      await expect(refused).rejects.toBeInstanceOf(InvalidRequest);
      await expect(refused).rejects.toMatchObject({
        code: 'unknown_placement',
        details: { placement: 'pdp', placements: ['diverse', 'home', 'product'] },
      });
    }
    // Without a placement the list is recorded under its strategy, which needs no configuration.
    expect((await recommendForUser(placed, 'ada', {})).placement).toBe('personal');
  });

  it("applies a placement's limit and MMR lambda where the request leaves them out", async () => {
    const { deps, store } = setUp();
    const placed = { ...deps, placements };
    await storeProfile(store, 'ada', [['like', 'red-shoe']]);
    expect(ids(await recommendForUser(placed, 'ada', { placement: 'home' }))).toHaveLength(
      Math.min(10, ids(await recommendForUser(placed, 'ada', { limit: 100 })).length),
    );
    expect(ids(await recommendForUser(placed, 'ada', { placement: 'product' }))).toHaveLength(2);
    expect(ids(await recommendForUser(placed, 'ada', { placement: 'product', limit: 3 }))).toHaveLength(3);
    expect(ids(await similarItems(placed, 'red-shoe', { placement: 'product' }))).toHaveLength(2);
    // MMR lambda 0.3 trades relevance for diversity: the same list as asking for it globally.
    const diverse = await recommendForUser(placed, 'ada', { placement: 'diverse', limit: 5 });
    const global = await recommendForUser({ ...deps, ranking: { ...deps.ranking, mmrLambda: 0.3 } }, 'ada', {
      limit: 5,
    });
    const plain = await recommendForUser(placed, 'ada', { placement: 'home', limit: 5 });
    expect(ids(diverse)).toEqual(ids(global));
    expect(ids(diverse)).not.toEqual(ids(plain));
  });
});

describe('recommendForUser after a switch of the active model', () => {
  /** Ada liked the red shoe; in the old model its vector pointed where hats are in the active one. */
  async function profileFoldedIn(store: InMemoryProfileRepository, space: string | undefined) {
    const at = NOW - 2 * HOUR;
    const profile = emptyProfile('ada', DIM, at);
    applyEvent(
      profile,
      { type: 'like', itemId: 'red-shoe', at, vector: unit(0, 1, 0, 0) },
      DEFAULT_PROFILE_SETTINGS,
    );
    await store.commit(
      'ada',
      [
        {
          userId: 'ada',
          eventId: 'e1',
          itemId: 'red-shoe',
          type: 'like',
          at,
          payloadHash: 'h1',
          receivedAt: at,
          expiresAt: Math.ceil(NOW / 1000) + 86_400,
        },
      ],
      { profile, version: 1, settingsId: 'test', ...(space ? { space } : {}), epoch: NOW },
      undefined,
      [],
      NOW,
    );
  }

  it.each([
    ['another model', 'old-model'],
    ['no recorded space (a legacy profile)', undefined],
  ])(
    'refolds a profile of %s from the raw events and serves a personal list in the active space',
    async (_, space) => {
      const { deps, store } = setUp();
      await profileFoldedIn(store, space);
      const refolds: ProfileRefold[] = [];
      const commits = jest.spyOn(store, 'commit');

      const list = await recommendForUser({ ...deps, onRefold: (r) => refolds.push(r) }, 'ada', {
        limit: 3,
        exclude: 'seen',
      });

      expect(list).toMatchObject({ strategy: 'personal', modelId: MODEL_ID });
      // Shoes, the red shoe's neighbours in the active space; the old centroid would have ranked hats first.
      expect(list.items.map((item) => item.category)).toEqual(['shoes', 'shoes', 'shoes']);
      expect(list.items[0]?.reason).toMatchObject({ kind: 'similar_to', itemId: 'red-shoe' });
      expect(refolds).toEqual([
        { userId: 'ada', from: space, to: MODEL_ID, events: 1, ms: expect.any(Number) },
      ]);
      // Read only: the stored profile stays as it was until the user's next event.
      expect(commits).not.toHaveBeenCalled();
      expect((await store.getProfile('ada'))?.space).toBe(space);
    },
  );

  it('serves a profile of the active space as it is, without reading the events', async () => {
    const { deps, store } = setUp();
    await profileFoldedIn(store, MODEL_ID);
    const reads = jest.spyOn(store, 'allEvents');
    const refolds: ProfileRefold[] = [];

    const list = await recommendForUser({ ...deps, onRefold: (r) => refolds.push(r) }, 'ada', { limit: 3 });

    expect(list.strategy).toBe('personal');
    expect(list.items[0]?.category).toBe('hats');
    expect(reads).not.toHaveBeenCalled();
    expect(refolds).toEqual([]);
  });

  it('falls back to the popular list when no event of the old profile has a vector in the active space', async () => {
    const { deps, store } = setUp();
    await profileFoldedIn(store, 'old-model');
    store.putItem({ itemId: 'red-shoe', status: 'ready', available: true });

    const list = await recommendForUser(deps, 'ada', { limit: 3 });

    expect(list.strategy).toBe('popular');
  });
});

describe('similarItems', () => {
  it('lists the nearest available items, without the item itself, within a category when asked', async () => {
    const { deps } = setUp();

    const list = await similarItems(deps, 'red-shoe', { limit: 3 });

    expect(list).toMatchObject({ itemId: 'red-shoe', strategy: 'similar_item', modelId: MODEL_ID });
    expect(ids(list)).toEqual(['blue-shoe', 'green-shoe', 'brown-shoe']);
    expect(list.items[0]?.reason).toEqual({ kind: 'similar_to_item', itemId: 'red-shoe' });
    expect(ids(await similarItems(deps, 'red-shoe', { limit: 3, category: ['hats'] }))).toEqual([
      'cap',
      'hat',
    ]);
  });

  it('finds items like one the index does not serve, from its stored vector', async () => {
    const { deps } = setUp();
    expect(ids(await similarItems(deps, 'boot', { limit: 2 }))).toEqual(['brown-shoe', 'blue-shoe']);
  });

  it('answers NotFound for an unknown or deleted item and ItemNotReady for one without a vector', async () => {
    const { deps } = setUp();
    await expect(similarItems(deps, 'no-such-item', { limit: 3 })).rejects.toBeInstanceOf(NotFound);
    await expect(similarItems(deps, 'deleted-shoe', { limit: 3 })).rejects.toBeInstanceOf(NotFound);
    const notReady = similarItems(deps, 'rejected-shoe', { limit: 3 });
    await expect(notReady).rejects.toBeInstanceOf(ItemNotReady);
    await expect(notReady).rejects.toMatchObject({ code: 'item_not_ready' });
  });

  it('refuses a category the catalogue does not have', async () => {
    const { deps } = setUp();
    await expect(similarItems(deps, 'red-shoe', { limit: 3, category: ['shoez'] })).rejects.toMatchObject({
      code: 'unknown_category',
    });
  });
});

describe('list filters', () => {
  const shoeLover = async (store: InMemoryProfileRepository) =>
    storeProfile(store, 'ada', [
      ['like', 'red-shoe'],
      ['like', 'blue-shoe'],
    ]);

  it('filters personal and popular lists on several categories, tags (any or all) and a price range', async () => {
    const { deps, store } = setUp();
    await shoeLover(store);
    const personal = (query: Parameters<typeof recommendForUser>[2]) =>
      recommendForUser(deps, 'ada', { limit: 10, ...query });
    expect(new Set(ids(await personal({ category: ['hats', 'scarves'] })))).toEqual(
      new Set(['hat', 'cap', 'scarf']),
    );
    expect(new Set(ids(await personal({ tag: ['leather'] })))).toEqual(
      new Set(['red-shoe', 'brown-shoe', 'black-shoe']),
    );
    expect(new Set(ids(await personal({ tag: ['canvas', 'wool'] })))).toEqual(
      new Set(['blue-shoe', 'green-shoe', 'cap', 'hat', 'scarf']),
    );
    expect(ids(await personal({ tag: ['canvas', 'green'], tagMatch: 'all' }))).toEqual(['green-shoe']);
    // Inclusive bounds; the scarf has no price and never passes a price bound.
    expect(new Set(ids(await personal({ minPrice: '25', maxPrice: '80' })))).toEqual(
      new Set(['blue-shoe', 'green-shoe', 'black-shoe', 'hat']),
    );
    const popular = await recommendForUser(deps, 'nobody', {
      limit: 10,
      maxPrice: '30',
      tag: ['wool', 'canvas'],
    });
    expect(popular.strategy).toBe('popular');
    expect(new Set(ids(popular))).toEqual(new Set(['hat', 'cap']));
  });

  it('fills a short list from the best other items when not strict, each labelled, and never when strict', async () => {
    const { deps, store } = setUp();
    await shoeLover(store);
    const strict = await recommendForUser(deps, 'ada', { limit: 4, category: ['hats'] });
    expect(new Set(ids(strict))).toEqual(new Set(['hat', 'cap']));
    const filled = await recommendForUser(deps, 'ada', { limit: 4, category: ['hats'], strict: 'false' });
    expect(ids(filled).slice(0, 2)).toEqual(ids(strict));
    expect(filled.items).toHaveLength(4);
    expect(filled.items.slice(2).every((item) => item.reason.kind === 'outside_filters')).toBe(true);
    expect(filled.items.slice(2).every((item) => item.category === 'shoes')).toBe(true);
    expect(new Set(ids(filled)).size).toBe(4);
    // The user's hides and excluded ids stay out of the fillers too.
    const excluded = await recommendForUser(deps, 'ada', {
      limit: 4,
      category: ['hats'],
      strict: 'false',
      excludeIds: ['cap', 'red-shoe', 'blue-shoe'],
    });
    expect(ids(excluded)).not.toEqual(expect.arrayContaining(['cap']));
    expect(ids(excluded).filter((id) => ['red-shoe', 'blue-shoe'].includes(id))).toEqual([]);
    const popular = await recommendForUser(deps, 'nobody', {
      limit: 3,
      category: ['scarves'],
      strict: 'false',
    });
    expect(popular.items.map((item) => item.reason.kind)).toEqual([
      'popular',
      'outside_filters',
      'outside_filters',
    ]);
    const sim = await similarItems(deps, 'red-shoe', { limit: 3, category: ['hats'], strict: 'false' });
    expect(ids(sim)).toEqual(['cap', 'hat', 'blue-shoe']);
    expect(sim.items[2]?.reason).toEqual({ kind: 'outside_filters' });
  });

  it("takes a placement's strictness where the request does not say", async () => {
    const { deps, store } = setUp();
    await shoeLover(store);
    const placed = { ...deps, placements: { home: {}, lenient: { strict: false } } };
    expect(
      ids(await recommendForUser(placed, 'ada', { limit: 4, category: ['hats'], placement: 'lenient' })),
    ).toHaveLength(4);
    expect(
      ids(
        await recommendForUser(placed, 'ada', {
          limit: 4,
          category: ['hats'],
          placement: 'lenient',
          strict: 'true',
        }),
      ),
    ).toHaveLength(2);
    expect(
      ids(await recommendForUser(placed, 'ada', { limit: 4, category: ['hats'], placement: 'home' })),
    ).toHaveLength(2);
  });

  it('finds similar items at a price relative to the item: like this, but cheaper', async () => {
    const { deps } = setUp();
    // red-shoe costs 100: at most 80.
    expect(ids(await similarItems(deps, 'red-shoe', { limit: 3, maxPriceRatio: '0.8' }))).toEqual([
      'blue-shoe',
      'green-shoe',
      'black-shoe',
    ]);
    // Tighter than maxPrice: the lower bound wins.
    expect(
      ids(await similarItems(deps, 'red-shoe', { limit: 5, maxPriceRatio: '0.8', maxPrice: '50' })),
    ).toEqual(['black-shoe', 'cap', 'hat']);
    // An item the index does not serve has its price read with its vector.
    expect(ids(await similarItems(deps, 'boot', { limit: 2, maxPriceRatio: '0.5' }))).toEqual([
      'green-shoe',
      'black-shoe',
    ]);
    await expect(similarItems(deps, 'scarf', { limit: 3, maxPriceRatio: '0.8' })).rejects.toMatchObject({
      code: 'no_reference_price',
    });
    await expect(similarItems(deps, 'red-shoe', { limit: 3, maxPriceRatio: '0' })).rejects.toMatchObject({
      code: 'invalid_query',
    });
  });

  it('filters image search, and leaves out excluded ids on every list', async () => {
    const { deps, store } = setUp();
    await shoeLover(store);
    const shoe = KnownImageEmbedder.image('a photo of a shoe');
    expect(ids(await searchByImage(deps, shoe, { limit: 2, tag: ['leather'], maxPrice: '100' }))).toEqual([
      'red-shoe',
      'black-shoe',
    ]);
    const excludeIds = ['blue-shoe', 'green-shoe'];
    for (const list of [
      await recommendForUser(deps, 'ada', { limit: 10, excludeIds }),
      await recommendForUser(deps, 'nobody', { limit: 10, excludeIds }),
      await similarItems(deps, 'red-shoe', { limit: 10, excludeIds }),
      await searchByImage(deps, shoe, { limit: 10, excludeIds }),
    ]) {
      expect(ids(list).length).toBeGreaterThan(0);
      expect(ids(list).filter((id) => excludeIds.includes(id))).toEqual([]);
    }
  });

  it('refuses too many exclusions with its own code, a minimum price above the maximum, and unknown categories', async () => {
    const { deps } = setUp();
    const many = Array.from({ length: 51 }, (_, i) => `item-${i}`);
    await expect(recommendForUser(deps, 'ada', { excludeIds: many })).rejects.toMatchObject({
      code: 'too_many_exclusions',
      details: { count: 51, maxIds: 50 },
    });
    const long = Array.from({ length: 5 }, (_, i) => `${i}${'x'.repeat(1000)}`);
    await expect(similarItems(deps, 'red-shoe', { excludeIds: long })).rejects.toMatchObject({
      code: 'too_many_exclusions',
      details: { bytes: 5005, maxBytes: 4096 },
    });
    expect(
      ids(await recommendForUser(deps, 'ada', { excludeIds: many.slice(0, 50) })).length,
    ).toBeGreaterThan(0);
    await expect(recommendForUser(deps, 'ada', { minPrice: '50', maxPrice: '20' })).rejects.toMatchObject({
      code: 'invalid_query',
    });
    await expect(
      recommendForUser(deps, 'ada', { category: ['hats', 'shoez', 'bagz'] }),
    ).rejects.toMatchObject({
      code: 'unknown_category',
      details: { categories: ['shoez', 'bagz'] },
    });
  });
});

describe('searchByImage', () => {
  it('embeds the image and lists the nearest available items', async () => {
    const { deps, embedder } = setUp();

    const list = await searchByImage(deps, KnownImageEmbedder.image('a photo of a hat'), { limit: 2 });

    expect(embedder.embedded).toEqual(['a photo of a hat']);
    expect(list).toMatchObject({ strategy: 'similar_image', modelId: MODEL_ID });
    expect(ids(list)).toEqual(['hat', 'cap']);
    expect(list.items.every((item) => item.reason.kind === 'similar_to_image')).toBe(true);
    expect(list.queryMs.embed).toBeGreaterThanOrEqual(0);
    const shoes = await searchByImage(deps, KnownImageEmbedder.image('a photo of a hat'), {
      limit: 2,
      category: ['shoes'],
    });
    expect(shoes.items.map((item) => item.category)).toEqual(['shoes', 'shoes']);
    expect(ids(shoes)).not.toContain('sold-out-shoe');
  });

  it('passes on what the embedder refuses, and checks the category before embedding', async () => {
    const { deps, embedder } = setUp();
    await expect(searchByImage(deps, KnownImageEmbedder.image('a cat'), { limit: 2 })).rejects.toBeInstanceOf(
      InvalidImage,
    );
    await expect(
      searchByImage(deps, KnownImageEmbedder.image('a photo of a hat'), { limit: 2, category: ['shoez'] }),
    ).rejects.toMatchObject({ code: 'unknown_category' });
    expect(embedder.embedded).toEqual([]);
  });
});

describe('with a learned projection serving', () => {
  // Swaps the first two dimensions: what looks like a hat in the base space is served as a shoe.
  const swap = Array.from({ length: DIM * DIM }, (_, i) => {
    const [row, column] = [Math.floor(i / DIM), i % DIM];
    return column === (row < 2 ? 1 - row : row) ? 1 : 0;
  });
  const projected = () => {
    const { deps } = setUp();
    return {
      ...deps,
      modelId: `${MODEL_ID}~p0123456789`,
      projection: { baseModelId: MODEL_ID, dim: DIM, matrix: swap },
    };
  };

  it('projects the image search query with its matrix', async () => {
    const list = await searchByImage(projected(), KnownImageEmbedder.image('a photo of a hat'), { limit: 2 });
    expect(list.modelId).toBe(`${MODEL_ID}~p0123456789`);
    expect(ids(list)).toEqual(['red-shoe', 'blue-shoe']);
  });

  it('projects the base vector of an item the index does not serve', async () => {
    expect(ids(await similarItems(projected(), 'boot', { limit: 2 }))).toEqual(['cap', 'hat']);
  });
});

describe('itemDetails', () => {
  it('shows an item with its models and image URL, and answers NotFound for an unknown or deleted one', async () => {
    const { deps } = setUp();

    expect(await itemDetails(deps, 'boot')).toMatchObject({
      itemId: 'boot',
      status: 'ready',
      category: 'shoes',
      available: true,
      modelIds: [MODEL_ID],
      servedByActiveModel: true,
      imageUrl: expect.stringContaining('catalogue/boot.jpg'),
      createdAt: new Date(NOW - 10 * HOUR).toISOString(),
    });
    expect(await itemDetails(deps, 'rejected-shoe')).toMatchObject({
      status: 'rejected',
      rejection: { code: 'not_an_image' },
      modelIds: [],
      servedByActiveModel: false,
    });
    await expect(itemDetails(deps, 'no-such-item')).rejects.toBeInstanceOf(NotFound);
    await expect(itemDetails(deps, 'deleted-shoe')).rejects.toBeInstanceOf(NotFound);
  });
});

describe('exploration and rotation', () => {
  const DAY = 24 * HOUR;
  /** The base fixture plus one new shoe that no ordinary slot would go to, and one older new shoe. */
  function withNewShoes() {
    const fixture = setUp();
    const index = new ExactIndex(DIM);
    for (const f of CATALOGUE)
      if (f.vector && !f.unserved && (f.status ?? 'ready') === 'ready')
        index.upsert(f.itemId, f.vector, {
          available: f.available !== false,
          category: f.category,
          publishedAt: NOW - 90 * DAY,
        });
    index.upsert('new-shoe', unit(1, 0.5, 0.5, 0.3), {
      available: true,
      category: 'shoes',
      publishedAt: NOW - DAY,
    });
    index.upsert('last-month-shoe', unit(1, 0.5, 0.5, 0.2), {
      available: true,
      category: 'shoes',
      publishedAt: NOW - 30 * DAY,
    });
    for (const itemId of ['new-shoe', 'last-month-shoe'])
      (fixture.deps.reader as InMemoryItemViews).putItem(
        storedItem({ itemId, category: 'shoes', vector: unit(1) }),
      );
    const deps: RecommendDeps = {
      ...fixture.deps,
      serving: inMemoryServing(index),
      exploration: {
        default: { ...DEFAULT_EXPLORATION, share: 0.2, maxAgeDays: 14, minRelevance: 0.3 },
        placements: { checkout: { ...DEFAULT_EXPLORATION, share: 0 } },
      },
    };
    return { ...fixture, deps };
  }

  it('gives personal, similar and popular lists their share of new items, per placement', async () => {
    const { deps, store } = withNewShoes();
    await storeProfile(store, 'ada', [['like', 'red-shoe']]);

    const personal = await recommendForUser(deps, 'ada', { limit: 5 });
    expect(personal.items.find((i) => i.itemId === 'new-shoe')?.reason).toMatchObject({
      kind: 'exploration',
      itemId: 'red-shoe',
      publishedAt: NOW - DAY,
    });
    expect(ids(personal)).not.toContain('last-month-shoe');
    expect(ids(await recommendForUser(deps, 'ada', { limit: 5, placement: 'checkout' }))).not.toContain(
      'new-shoe',
    );

    const similar = await similarItems(deps, 'red-shoe', { limit: 5 });
    expect(similar.items.find((i) => i.itemId === 'new-shoe')?.reason).toMatchObject({
      kind: 'exploration',
      itemId: 'red-shoe',
    });
    const popular = await recommendForUser(deps, 'stranger', { limit: 5 });
    expect(popular.strategy).toBe('popular');
    expect(popular.items.filter((i) => i.reason.kind === 'exploration').map((i) => i.itemId)).toEqual([
      'new-shoe',
    ]);
  });

  it('leaves out new items shown more than maxImpressions times (impressions decayed to now)', async () => {
    const { deps, store } = withNewShoes();
    await storeProfile(store, 'ada', [['like', 'red-shoe']]);
    const factor = impressionDecay(deps.popularityEpoch, NOW);
    const shown: RecommendDeps = {
      ...deps,
      aggregates: {
        popularity: () => store.popularity(),
        coEngagement: (itemIds) => store.coEngagement(itemIds),
        impressions: async () => new Map([['new-shoe', 5000 / factor]]),
        recentPopularity: () => store.recentPopularity(),
      },
    };
    expect(ids(await recommendForUser(shown, 'ada', { limit: 5 }))).not.toContain('new-shoe');
  });

  it('rotation demotes what the user was shown in their last lists, and only when configured', async () => {
    const { deps, store } = withNewShoes();
    await storeProfile(store, 'ada', [['like', 'red-shoe']]);
    const plain = { ...deps, exploration: undefined };
    const first = ids(await recommendForUser(plain, 'ada', { limit: 3 }));
    const asked: number[] = [];
    const rotated = {
      ...plain,
      rotation: { lists: 2, weight: 1 },
      shown: {
        recentItems: async (_userId: string, lists: number) => {
          asked.push(lists);
          return new Set(first);
        },
      },
    };
    const next = ids(await recommendForUser(rotated, 'ada', { limit: 3 }));
    expect(asked).toEqual([2]);
    expect(next.some((itemId) => first.includes(itemId))).toBe(false);
    expect(ids(await recommendForUser({ ...rotated, rotation: undefined }, 'ada', { limit: 3 }))).toEqual(
      first,
    );
  });
});

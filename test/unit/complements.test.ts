/**
 * "Goes with this" (issue 22): the pure rules (functions/domain/complements.ts: which earlier basket
 * events a new one pairs with, the list with its reasons) and the use case complementItems through
 * in-memory fakes (a small exact index, co-purchase counters in a map).
 * test/integration/complements.test.ts runs it through the API on the local twin.
 */
import type { CoPurchases, StoredItem } from '../../functions/app/ports';
import { complementItems, type RecommendDeps } from '../../functions/app/recommend';
import { DEFAULT_TRACKING_POLICY } from '../../functions/app/track-events';
import { type BasketEvent, basketPartners, complementList } from '../../functions/domain/complements';
import { NotFound } from '../../functions/domain/errors';
import { DEFAULT_PROFILE_SETTINGS } from '../../functions/domain/interest-profile';
import { DEFAULT_RANKING_SETTINGS } from '../../functions/domain/ranking';
import { ExactIndex } from '../../functions/vector-index';
import { InMemoryImpressionLog } from '../support/fakes/impression-log';
import { InMemoryItemViews } from '../support/fakes/item-views';
import { InMemoryProfileRepository } from '../support/fakes/profile-repository';
import { inMemoryServing } from '../support/fakes/serving';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);

describe('basketPartners', () => {
  const basket = (eventId: string, itemId: string, at: number, epoch?: number): BasketEvent => ({
    eventId,
    itemId,
    at,
    ...(epoch !== undefined ? { epoch } : {}),
  });

  it('pairs with earlier basket items of the same epoch in the window, most recent first, once per item', () => {
    const event = basket('e9', 'shoe', NOW);
    const history = [
      basket('e1', 'hat', NOW - 2 * DAY),
      basket('e2', 'scarf', NOW - DAY),
      basket('e3', 'hat', NOW - 3 * DAY),
      basket('e4', 'sock', NOW - 40 * DAY), // outside the 30-day window
      basket('e5', 'belt', NOW + 1), // later: that event forms the pair
      basket('e6', 'glove', NOW - DAY, 7), // another epoch (after an erasure)
      basket('e7', 'shoe', NOW - DAY), // the same item
      event,
    ];

    expect(basketPartners(event, history).map((p) => p.itemId)).toEqual(['scarf', 'hat']);
  });

  it('forms each pair once, by the later event, even at the same instant', () => {
    const a = basket('a', 'shoe', NOW);
    const b = basket('b', 'hat', NOW);

    const pairs = [...basketPartners(a, [a, b]), ...basketPartners(b, [a, b])];

    expect(pairs.map((p) => p.itemId)).toEqual(['shoe']);
  });

  it('keeps at most the fanout', () => {
    const history = Array.from({ length: 9 }, (_, i) => basket(`e${i}`, `item-${i}`, NOW - (i + 1) * 1000));

    expect(basketPartners(basket('x', 'shoe', NOW), history, { windowMs: DAY, fanout: 3 })).toHaveLength(3);
  });
});

describe('complementList', () => {
  const all = () => true;

  it('lists co-purchased items by weight first, then the fallback categories in turn, with their reasons', () => {
    const list = complementList(
      'shoe',
      new Map([
        ['hat', 1],
        ['scarf', 3],
      ]),
      [
        {
          category: 'bags',
          items: [
            { itemId: 'bag-1', score: 0.9 },
            { itemId: 'bag-2', score: 0.8 },
          ],
        },
        { category: 'belts', items: [{ itemId: 'belt-1', score: 0.7 }] },
      ],
      5,
      all,
    );

    expect(list.map((r) => [r.itemId, r.reason])).toEqual([
      ['scarf', { kind: 'co_purchased', itemId: 'shoe' }],
      ['hat', { kind: 'co_purchased', itemId: 'shoe' }],
      ['bag-1', { kind: 'bought_with_category', category: 'bags' }],
      ['belt-1', { kind: 'bought_with_category', category: 'belts' }],
      ['bag-2', { kind: 'bought_with_category', category: 'bags' }],
    ]);
    expect(list[0]?.score).toBeCloseTo(0.75);
  });

  it('never lists the item itself, an ineligible item, or one item twice, and stops at the limit', () => {
    const list = complementList(
      'shoe',
      new Map([
        ['shoe', 9],
        ['twin-shoe', 5],
        ['hat', 1],
      ]),
      [
        {
          category: 'hats',
          items: [
            { itemId: 'hat', score: 1 },
            { itemId: 'cap', score: 0.5 },
          ],
        },
      ],
      2,
      (id) => id !== 'twin-shoe',
    );

    expect(list.map((r) => r.itemId)).toEqual(['hat', 'cap']);
  });
});

describe('complementItems', () => {
  const unit = (...c: number[]) => {
    const norm = Math.hypot(...c);
    return Float32Array.from({ length: 4 }, (_, i) => (c[i] ?? 0) / norm);
  };
  const CATALOGUE = [
    { itemId: 'red-shoe', category: 'shoes', vector: unit(1, 0, 0, 0) },
    { itemId: 'red-shoe-again', category: 'shoes', vector: unit(1, 0.01, 0, 0) },
    { itemId: 'blue-shoe', category: 'shoes', vector: unit(1, 0.5, 0, 0) },
    { itemId: 'wool-hat', category: 'hats', vector: unit(0, 1, 0, 0) },
    { itemId: 'straw-hat', category: 'hats', vector: unit(0, 1, 0.3, 0) },
    { itemId: 'red-sock', category: 'socks', vector: unit(0, 0, 1, 0) },
    { itemId: 'blue-sock', category: 'socks', vector: unit(0, 0, 1, 0.6) },
    { itemId: 'red-sock-twin', category: 'socks', vector: unit(1, 0, 0.01, 0) },
  ];

  function setUp(counters: {
    items?: Record<string, Record<string, number>>;
    categories?: Record<string, Record<string, number>>;
    chosen?: Record<string, Record<string, number>>;
  }) {
    const index = new ExactIndex(4);
    const reader = new InMemoryItemViews();
    for (const { itemId, category, vector } of CATALOGUE) {
      index.upsert(itemId, vector, { available: true, category });
      reader.putItem({
        itemId,
        status: 'ready',
        source: { bucket: 'b', key: `catalogue/${itemId}.jpg`, sequencer: '01', eventAt: 0 },
        vectors: { m: vector },
        category,
        available: true,
        createdAt: 0,
        updatedAt: 0,
      } satisfies StoredItem);
    }
    const map = (rows: Record<string, number> | undefined) => new Map(Object.entries(rows ?? {}));
    const coPurchases: CoPurchases = {
      with: async (itemId) => map(counters.items?.[itemId]),
      categoriesWith: async (category) => map(counters.categories?.[category]),
      itemsBoughtWith: async (category, partner) => map(counters.chosen?.[`${category}/${partner}`]),
    };
    const store = new InMemoryProfileRepository();
    const impressions = new InMemoryImpressionLog();
    const deps: RecommendDeps = {
      serving: inMemoryServing(index),
      reader,
      profiles: store,
      history: store,
      catalogue: store,
      aggregates: store,
      coPurchases,
      embedder: async () => {
        throw new Error('not used');
      },
      modelId: 'm',
      dim: 4,
      profileSettings: DEFAULT_PROFILE_SETTINGS,
      ranking: DEFAULT_RANKING_SETTINGS,
      popularityEpoch: DEFAULT_TRACKING_POLICY.popularityEpoch,
      impressions,
      now: () => NOW,
    };
    return { deps, impressions };
  }
  const ids = (list: { items: Array<{ itemId: string }> }) => list.items.map((i) => i.itemId);

  it('lists co-purchased items of other categories first, never the item nor a near-duplicate, then the fallback', async () => {
    const { deps, impressions } = setUp({
      items: { 'red-shoe': { 'wool-hat': 2, 'red-shoe-again': 9, 'blue-shoe': 4, 'red-sock-twin': 5 } },
      categories: { shoes: { socks: 3, shoes: 10 } },
      chosen: { 'shoes/socks': { 'blue-sock': 1 } },
    });

    const list = await complementItems(deps, 'red-shoe', { limit: 3 });

    expect(ids(list)).toEqual(['wool-hat', 'blue-sock', 'red-sock']);
    expect(list.items.map((i) => i.reason)).toEqual([
      { kind: 'co_purchased', itemId: 'red-shoe' },
      { kind: 'bought_with_category', category: 'socks' },
      { kind: 'bought_with_category', category: 'socks' },
    ]);
    expect(list.strategy).toBe('complements');
    expect(impressions.recorded.map((i) => i.strategy)).toEqual(['complements']);
  });

  it("allows the item's own category with sameCategory=true, still never a near-duplicate", async () => {
    const { deps } = setUp({ items: { 'red-shoe': { 'red-shoe-again': 9, 'blue-shoe': 4 } } });

    const list = await complementItems(deps, 'red-shoe', { limit: 5, sameCategory: 'true' });

    expect(ids(list)).toEqual(['blue-shoe']);
  });

  it('is empty without any co-purchase data, and 404 for an unknown item', async () => {
    const { deps } = setUp({});

    expect(ids(await complementItems(deps, 'wool-hat', {}))).toEqual([]);
    await expect(complementItems(deps, 'no-such-item', {})).rejects.toBeInstanceOf(NotFound);
  });
});

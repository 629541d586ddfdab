/**
 * Merchandising rules (issue 20): what each kind does to the lists (through the recommend use case on
 * an in-memory index and profiles), pins per list and not per page, and the rule cache's freshness on
 * a fake clock. test/integration/merchandising.test.ts runs them through the API on the local twin.
 */
import fc from 'fast-check';
import { RuleCache } from '../../functions/adapters/dynamodb/rule-store';
import type { RuleSet, RuleSetReader, StoredItem } from '../../functions/app/ports';
import { type RecommendDeps, recommendForUser, similarItems } from '../../functions/app/recommend';
import { DEFAULT_TRACKING_POLICY } from '../../functions/app/track-events';
import type { Rule, RuleDefinition } from '../../functions/contract/rules';
import { applyEvent, DEFAULT_PROFILE_SETTINGS, emptyProfile } from '../../functions/domain/interest-profile';
import {
  applyPins,
  conditionMatcher,
  listRules,
  type PinRule,
  scoreAdjustment,
} from '../../functions/domain/merchandising';
import { DEFAULT_RANKING_SETTINGS } from '../../functions/domain/ranking';
import { ExactIndex } from '../../functions/vector-index';
import { InMemoryItemViews } from '../support/fakes/item-views';
import { InMemoryProfileRepository } from '../support/fakes/profile-repository';
import { inMemoryServing } from '../support/fakes/serving';
import { seededUniform } from '../support/seeded-random';

const MODEL_ID = 'test-model';
const DIM = 8;
const NOW = Date.UTC(2026, 5, 1);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const CATEGORIES = ['shoes', 'hats', 'bags', 'scarves'];
const PER_CATEGORY = 30;

/** Each category's items point near one axis (shoes 0, hats 1, ...), with noise of their own. */
function catalogue() {
  const random = seededUniform(7);
  return CATEGORIES.flatMap((category, c) =>
    Array.from({ length: PER_CATEGORY }, (_, i) => {
      const vector = Float32Array.from(
        { length: DIM },
        (_, d) => (d === c ? 1 : 0) + 0.25 * (random() - 0.5),
      );
      return {
        itemId: `${category}-${String(i).padStart(2, '0')}`,
        category,
        vector,
        price: 10 + ((i * 7) % 90),
        tags: i % 3 === 0 ? ['new-season'] : [],
        publishedAt: NOW - (i % 10) * DAY,
      };
    }),
  );
}

let ruleCounter = 0;
function rule(definition: RuleDefinition, createdAt = NOW - DAY + ruleCounter): Rule {
  ruleCounter += 1;
  return {
    ...definition,
    ruleId: `r-${String(ruleCounter).padStart(22, '0')}`,
    version: 1,
    createdAt,
    updatedAt: createdAt,
  };
}

async function setUp(rules: Rule[] = []) {
  const items = catalogue();
  const index = new ExactIndex(DIM);
  const views = new InMemoryItemViews();
  const store = new InMemoryProfileRepository();
  for (const item of items) {
    index.upsert(item.itemId, item.vector, {
      available: true,
      category: item.category,
      price: item.price,
      tags: item.tags,
      publishedAt: item.publishedAt,
    });
    views.putItem({
      itemId: item.itemId,
      status: 'ready',
      source: { bucket: 'b', key: `catalogue/${item.itemId}.jpg`, sequencer: '01', eventAt: 0 },
      vectors: { [MODEL_ID]: item.vector },
      category: item.category,
      price: item.price,
      tags: item.tags,
      available: true,
      createdAt: item.publishedAt,
      updatedAt: item.publishedAt,
    } satisfies StoredItem);
    store.putItem({ itemId: item.itemId, status: 'ready', available: true, vector: item.vector });
  }
  // Ada likes shoes (and a little hats); nobody has popularity but the shared counts below.
  const profile = emptyProfile('ada', DIM, NOW - DAY);
  const vectorOf = (itemId: string) => items.find((i) => i.itemId === itemId)?.vector;
  ['shoes-00', 'shoes-01', 'shoes-02', 'hats-00'].forEach((itemId, i) => {
    applyEvent(
      profile,
      { type: 'like', itemId, at: NOW - (10 - i) * HOUR, vector: vectorOf(itemId) },
      DEFAULT_PROFILE_SETTINGS,
    );
  });
  await store.commit(
    'ada',
    [],
    { profile, version: 1, settingsId: 'test', space: MODEL_ID, epoch: NOW },
    undefined,
    // Popularity: shoes most, then hats, bags, scarves.
    items.map((item, i) => ({ itemId: item.itemId, weight: 1000 - i })),
    NOW,
  );
  let current = rules;
  const deps: RecommendDeps = {
    serving: inMemoryServing(index),
    reader: views,
    profiles: store,
    history: store,
    catalogue: store,
    aggregates: store,
    embedder: async () => {
      throw new Error('no image search here');
    },
    modelId: MODEL_ID,
    dim: DIM,
    profileSettings: DEFAULT_PROFILE_SETTINGS,
    ranking: DEFAULT_RANKING_SETTINGS,
    popularityEpoch: DEFAULT_TRACKING_POLICY.popularityEpoch,
    now: () => NOW,
    placements: { home: {}, product: {}, cart: {} },
    rules: async () => current,
  };
  return { deps, setRules: (next: Rule[]) => (current = next) };
}

const ids = (list: { items: Array<{ itemId: string }> }) => list.items.map((item) => item.itemId);
const categoryOf = (itemId: string) => itemId.split('-')[0];
const positionsOf = (list: { items: Array<{ itemId: string }> }, category: string) =>
  ids(list).flatMap((itemId, i) => (categoryOf(itemId) === category ? [i] : []));

describe('merchandising rules on a personal list', () => {
  it('a boost lifts a category the tastes rank low; a bury pushes the top category down; reasons name them', async () => {
    const { deps, setRules } = await setUp();
    const before = await recommendForUser(deps, 'ada', { limit: 10, placement: 'home' });
    expect(positionsOf(before, 'bags')).toEqual([]);

    const boost = rule({
      name: 'bags week',
      kind: 'boost',
      factor: 10,
      condition: { categories: ['bags'] },
      placements: ['home'],
    });
    setRules([boost]);
    const boosted = await recommendForUser(deps, 'ada', { limit: 10, placement: 'home' });
    expect(positionsOf(boosted, 'bags').length).toBeGreaterThanOrEqual(3);
    expect(positionsOf(boosted, 'bags')[0]).toBeLessThan(3);
    for (const item of boosted.items.filter((i) => categoryOf(i.itemId) === 'bags'))
      expect(item.reason.rules).toEqual([boost.ruleId]);
    // Another placement is untouched.
    expect(ids(await recommendForUser(deps, 'ada', { limit: 10, placement: 'cart' }))).toEqual(
      ids(await recommendForUser(deps, 'ada', { limit: 10, placement: 'cart' })),
    );
    expect(
      positionsOf(await recommendForUser(deps, 'ada', { limit: 10, placement: 'cart' }), 'bags'),
    ).toEqual([]);

    const bury = rule({
      name: 'fewer shoes',
      kind: 'bury',
      factor: 10,
      condition: { categories: ['shoes'] },
      placements: ['*'],
    });
    setRules([bury]);
    const buried = await recommendForUser(deps, 'ada', { limit: 10, placement: 'home' });
    const shoesBefore = positionsOf(before, 'shoes');
    const shoesAfter = positionsOf(buried, 'shoes');
    expect(shoesBefore[0]).toBe(0);
    expect(shoesAfter.length).toBeLessThan(shoesBefore.length);
    expect(shoesAfter[0] ?? 10).toBeGreaterThan(0);
  });

  it('a promotion fills its share of the slots with matching items, the best for this user first', async () => {
    const { deps, setRules } = await setUp();
    const promote = rule({
      name: 'scarves',
      kind: 'promote',
      share: 0.2,
      condition: { categories: ['scarves'] },
      placements: ['*'],
    });
    setRules([promote]);
    const list = await recommendForUser(deps, 'ada', { limit: 10, placement: 'home' });
    const promoted = list.items.filter((item) => item.reason.kind === 'promoted');
    expect(promoted.map((item) => ids(list).indexOf(item.itemId))).toEqual([4, 9]);
    for (const item of promoted) {
      expect(categoryOf(item.itemId)).toBe('scarves');
      expect(item.reason).toMatchObject({ kind: 'promoted', ruleId: promote.ruleId });
    }
    // 50 items: 10 slots of 20%.
    const long = await recommendForUser(deps, 'ada', { limit: 50, placement: 'home' });
    expect(long.items.filter((item) => item.reason.kind === 'promoted')).toHaveLength(10);
    expect(ids(long).slice(0, 10)).toEqual(ids(list));
  });

  it('a pin sits at its position of the whole list, on its placement only, and nowhere else in it', async () => {
    const { deps, setRules } = await setUp();
    const organic = await recommendForUser(deps, 'ada', { limit: 10, placement: 'home' });
    const top = organic.items[0]?.itemId as string;
    const pin = rule({ name: 'hero', kind: 'pin', itemId: top, position: 4, placements: ['home'] });
    const far = rule({ name: 'deep', kind: 'pin', itemId: 'scarves-05', position: 15, placements: ['home'] });
    setRules([pin, far]);
    const list = await recommendForUser(deps, 'ada', { limit: 10, placement: 'home' });
    expect(ids(list)[3]).toBe(top);
    expect(ids(list).filter((id) => id === top)).toHaveLength(1);
    expect(list.items[3]?.reason).toEqual({ kind: 'pinned', ruleId: pin.ruleId });
    expect(ids(list)).not.toContain('scarves-05');
    // The list of 20 (what two pages of 10 show) holds the deep pin at position 15.
    const twenty = await recommendForUser(deps, 'ada', { limit: 20, placement: 'home' });
    expect(ids(twenty)[14]).toBe('scarves-05');
    expect(ids(twenty).slice(0, 10)).toEqual(ids(list));
    // Elsewhere, no pin.
    const cart = await recommendForUser(deps, 'ada', { limit: 20, placement: 'cart' });
    expect(ids(cart)[0]).toBe(top);
    expect(ids(cart)).not.toContain('scarves-05');
  });

  it('a rule outside its window, or for other lists, has no effect', async () => {
    const { deps, setRules } = await setUp();
    const plain = ids(await recommendForUser(deps, 'ada', { limit: 10, placement: 'home' }));
    const definition: RuleDefinition = {
      name: 'bags',
      kind: 'boost',
      factor: 10,
      condition: { categories: ['bags'] },
      placements: ['*'],
    };
    setRules([
      rule({ ...definition, endsAt: new Date(NOW - 1).toISOString() }),
      rule({ ...definition, startsAt: new Date(NOW + 1).toISOString() }),
      rule({ ...definition, lists: ['similar'] }),
    ]);
    expect(ids(await recommendForUser(deps, 'ada', { limit: 10, placement: 'home' }))).toEqual(plain);
  });
});

describe('merchandising rules on popular and similar lists', () => {
  it('boosts and pins apply to the popular list of a user without tastes', async () => {
    const { deps, setRules } = await setUp();
    const plain = await recommendForUser(deps, 'newcomer', { limit: 10 });
    expect(plain.strategy).toBe('popular');
    expect(positionsOf(plain, 'scarves')).toEqual([]);
    setRules([
      rule({
        name: 'scarves',
        kind: 'boost',
        factor: 10,
        condition: { categories: ['scarves'] },
        placements: ['*'],
      }),
      rule({ name: 'hero', kind: 'pin', itemId: 'bags-03', position: 1, placements: ['*'] }),
    ]);
    const ruled = await recommendForUser(deps, 'newcomer', { limit: 10 });
    expect(ids(ruled)[0]).toBe('bags-03');
    expect(positionsOf(ruled, 'scarves').length).toBeGreaterThan(0);
  });

  it('apply to similar lists only when the rule names them', async () => {
    const { deps, setRules } = await setUp();
    const plain = ids(await similarItems(deps, 'shoes-05', { limit: 10 }));
    const promote: RuleDefinition = {
      name: 'hats',
      kind: 'promote',
      share: 0.2,
      condition: { categories: ['hats'] },
      placements: ['*'],
    };
    setRules([rule(promote)]);
    expect(ids(await similarItems(deps, 'shoes-05', { limit: 10 }))).toEqual(plain);
    setRules([rule({ ...promote, lists: ['similar'] })]);
    const promoted = await similarItems(deps, 'shoes-05', { limit: 10 });
    expect(positionsOf(promoted, 'hats')).toEqual([4, 9]);
    expect(promoted.items[4]?.reason).toMatchObject({ kind: 'promoted', itemId: 'shoes-05' });
  });
});

describe('rule conditions and factors', () => {
  const attributes = {
    available: true,
    category: 'shoes',
    price: 50,
    tags: ['a', 'b'],
    publishedAt: NOW - 2 * DAY,
  };
  it('every part given must hold', () => {
    expect(conditionMatcher({ categories: ['shoes'], tags: ['b'] }, NOW)('x', attributes)).toBe(true);
    expect(conditionMatcher({ categories: ['hats'] }, NOW)('x', attributes)).toBe(false);
    expect(conditionMatcher({ minPrice: 10, maxPrice: 50 }, NOW)('x', attributes)).toBe(true);
    expect(conditionMatcher({ maxPrice: 49 }, NOW)('x', attributes)).toBe(false);
    expect(conditionMatcher({ newerThanDays: 3 }, NOW)('x', attributes)).toBe(true);
    expect(conditionMatcher({ newerThanDays: 1 }, NOW)('x', attributes)).toBe(false);
    expect(conditionMatcher({ itemIds: ['y'] }, NOW)('x', attributes)).toBe(false);
    expect(conditionMatcher({ minPrice: 1 }, NOW)('x', { available: true })).toBe(false);
  });

  it('factors multiply and stay within 1/10..10 together; promotions share at most half a list', () => {
    const rules = listRules(
      [
        rule({
          name: 'a',
          kind: 'boost',
          factor: 8,
          condition: { categories: ['shoes'] },
          placements: ['*'],
        }),
        rule({ name: 'b', kind: 'boost', factor: 8, condition: { tags: ['a'] }, placements: ['*'] }),
        rule({ name: 'c', kind: 'promote', share: 0.4, condition: { tags: ['a'] }, placements: ['*'] }),
        rule({ name: 'd', kind: 'promote', share: 0.4, condition: { tags: ['b'] }, placements: ['*'] }),
      ],
      { placement: 'home', list: 'personal', now: NOW },
    );
    expect(scoreAdjustment(rules, 'x', attributes)?.factor).toBe(10);
    expect(rules?.promotions.map((p) => Math.round(p.share * 10) / 10)).toEqual([0.4, 0.1]);
  });
});

describe('applyPins', () => {
  const item = (itemId: string) => ({ itemId });
  it('keeps lists prefixes of longer lists, each pinned item once, at its slot where the list reaches it', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 30 }),
        fc.array(
          fc.record({ item: fc.integer({ min: 0, max: 45 }), slot: fc.integer({ min: 0, max: 30 }) }),
          {
            maxLength: 5,
          },
        ),
        fc.integer({ min: 1, max: 30 }),
        (ranked, rawPins, depth) => {
          const pins: PinRule[] = rawPins
            .map((p, i) => ({ ruleId: `r${i}`, itemId: `i${p.item}`, slot: p.slot }))
            .sort((a, b) => a.slot - b.slot);
          const list = ranked.map((n) => item(`i${n}`));
          const eligible = (itemId: string) => itemId !== 'i45';
          const short = applyPins(list, pins, eligible, (pin) => item(pin.itemId), depth);
          const long = applyPins(list, pins, eligible, (pin) => item(pin.itemId), depth + 5);
          expect(long.slice(0, short.length)).toEqual(short);
          expect(new Set(long.map((i) => i.itemId)).size).toBe(long.length);
          expect(long.map((i) => i.itemId)).not.toContain('i45');
          // With organic items enough, a pinned item is at its slot, or after it where an older pin took it.
          const pinnedIds = new Set(pins.filter((p) => eligible(p.itemId)).map((p) => p.itemId));
          const organic = list.filter((i) => !pinnedIds.has(i.itemId)).length;
          const first = new Map<string, number>();
          for (const pin of pins)
            if (eligible(pin.itemId) && !first.has(pin.itemId)) first.set(pin.itemId, pin.slot);
          for (const [itemId, slot] of first) {
            const at = long.findIndex((i) => i.itemId === itemId);
            if (organic >= depth + 5 && at >= 0) expect(at).toBeGreaterThanOrEqual(slot);
            // Each older pin may push it one slot on: within the list even then, it is in it.
            if (slot + pins.length < depth + 5 && organic >= depth + 5) expect(at).toBeGreaterThanOrEqual(0);
          }
        },
      ),
    );
  });
});

describe('RuleCache', () => {
  class CountingReader implements RuleSetReader {
    reads = 0;
    versionReads = 0;
    set: RuleSet = { version: 1, rules: [] };
    failing = false;
    async version() {
      this.versionReads += 1;
      if (this.failing) throw new Error('throttled');
      return this.set.version;
    }
    async read() {
      this.reads += 1;
      if (this.failing) throw new Error('throttled');
      return structuredClone(this.set);
    }
  }

  it('reads at most once per TTL, however many requests, and serves a change within the TTL', async () => {
    let now = 0;
    const reader = new CountingReader();
    const cache = new RuleCache(reader, { ttlMs: 4000, now: () => now });
    await Promise.all(Array.from({ length: 50 }, () => cache.rules()));
    expect([reader.reads, reader.versionReads]).toEqual([1, 0]);
    for (now = 0; now < 4000; now += 100) await cache.rules();
    expect([reader.reads, reader.versionReads]).toEqual([1, 0]);
    // After the TTL, one version check; the same version: nothing else is read.
    await Promise.all([cache.rules(), cache.rules()]);
    expect([reader.reads, reader.versionReads]).toEqual([1, 1]);
    // A change at 4100 is served by 8000 at the latest, within 5 s.
    now = 4100;
    reader.set = {
      version: 2,
      rules: [rule({ name: 'x', kind: 'pin', itemId: 'a', position: 1, placements: ['*'] })],
    };
    expect(await cache.rules()).toEqual([]);
    now = 7999;
    expect(await cache.rules()).toEqual([]);
    now = 8000;
    expect(await cache.rules()).toHaveLength(1);
    expect([reader.reads, reader.versionReads]).toEqual([2, 2]);
  });

  it('keeps serving the rules last read when a read fails, and retries without any before the first', async () => {
    let now = 0;
    const errors: unknown[] = [];
    const reader = new CountingReader();
    reader.failing = true;
    const cache = new RuleCache(reader, { ttlMs: 1000, now: () => now, onError: (e) => errors.push(e) });
    expect(await cache.rules()).toEqual([]);
    reader.failing = false;
    reader.set = {
      version: 3,
      rules: [rule({ name: 'x', kind: 'pin', itemId: 'a', position: 1, placements: ['*'] })],
    };
    expect(await cache.rules()).toHaveLength(1);
    reader.failing = true;
    now = 1500;
    expect(await cache.rules()).toHaveLength(1);
    now = 2000;
    expect(await cache.rules()).toHaveLength(1);
    expect(errors).toHaveLength(2);
    expect(reader.versionReads).toBe(1);
  });
});

import {
  deserialiseProfile,
  MAX_PROFILE_ROW_BYTES,
  serialiseProfile,
} from '../../functions/adapters/dynamodb/profile-store';
import {
  applyEvent,
  DEFAULT_PROFILE_SETTINGS,
  decayedTotals,
  emptyProfile,
  foldEvents,
  type InterestProfile,
  maxProfileBytes,
  type ProfileEvent,
  type ProfileSettings,
  withinBudgets,
} from '../../functions/domain/interest-profile';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
const settings: ProfileSettings = {
  ...DEFAULT_PROFILE_SETTINGS,
  halfLifeDays: 30,
  maxCentroids: 2,
  joinSimilarity: 0.8,
};
const unit = (...values: number[]) => {
  const norm = Math.hypot(...values);
  return Float32Array.from(values.map((v) => v / norm));
};
const e1 = unit(1, 0, 0);
const e1b = unit(0.95, 0.3122, 0); // cos(e1, e1b) = 0.95
const e2 = unit(0, 1, 0);
const e3 = unit(0, 0, 1);

describe('time decay', () => {
  it('halves a weight every half-life (hand-checked)', () => {
    const profile = foldEvents('u', 3, [{ type: 'like', itemId: 'a', at: T0, vector: e1 }], settings);
    // like = 2; after one half-life 1, after two 0.5.
    expect(decayedTotals(profile, T0 + 30 * DAY, settings).total).toBeCloseTo(1, 12);
    expect(decayedTotals(profile, T0 + 60 * DAY, settings).byType.like).toBeCloseTo(0.5, 12);
  });

  it('adds a fresh event at full weight on top of decayed ones', () => {
    const profile = foldEvents(
      'u',
      3,
      [
        { type: 'like', itemId: 'a', at: T0, vector: e1 },
        { type: 'purchase', itemId: 'b', at: T0 + 30 * DAY, vector: e1b },
      ],
      settings,
    );
    const totals = decayedTotals(profile, T0 + 30 * DAY, settings);
    expect(totals.total).toBeCloseTo(1 + 4, 12);
    expect(totals.centroidWeights).toEqual([expect.closeTo(5, 12)]);
  });

  it('keeps its sums when the frame is rebased after hundreds of half-lives', () => {
    const tiny = { ...settings, halfLifeDays: 0.01 };
    const events: ProfileEvent[] = [
      { type: 'view', itemId: 'a', at: T0, vector: e1 },
      { type: 'like', itemId: 'b', at: T0 + 5 * DAY, vector: e1 }, // 500 half-lives later
    ];
    const totals = decayedTotals(foldEvents('u', 3, events, tiny), T0 + 5 * DAY, tiny);
    expect(totals.total).toBeCloseTo(2, 9);
    expect(Number.isFinite(totals.total)).toBe(true);
  });
});

describe('order independence of the decayed sums', () => {
  const random = (seed: number) => () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };

  it('gives the same weights per type, total centroid mass and penalties in any arrival order', () => {
    const next = random(7);
    const types = ['view', 'click', 'like', 'add_to_cart', 'purchase', 'dislike', 'hide'] as const;
    const events: ProfileEvent[] = Array.from({ length: 300 }, (_, _i) => ({
      type: types[Math.floor(next() * types.length)] as (typeof types)[number],
      itemId: `item-${Math.floor(next() * 40)}`,
      at: T0 + Math.floor(next() * 90 * DAY),
      vector: unit(next(), next(), next()),
    }));
    const now = T0 + 100 * DAY;
    const inOrder = emptyProfile('u', 3, T0);
    for (const e of [...events].sort((a, b) => a.at - b.at)) applyEvent(inOrder, e, settings);
    const shuffled = emptyProfile('u', 3, T0 + 45 * DAY); // another anchor, too
    for (const e of [...events].sort(() => next() - 0.5)) applyEvent(shuffled, e, settings);
    const a = decayedTotals(inOrder, now, settings);
    const b = decayedTotals(shuffled, now, settings);
    for (const type of types) expect(b.byType[type]).toBeCloseTo(a.byType[type], 9);
    const mass = (w: number[]) => w.reduce((s, x) => s + x, 0);
    expect(mass(b.centroidWeights) / mass(a.centroidWeights)).toBeCloseTo(1, 12);
    const penalties = (t: typeof a) => Object.fromEntries(t.penaltyWeights.map((p) => [p.itemId, p.weight]));
    for (const [itemId, weight] of Object.entries(penalties(a)))
      expect(penalties(b)[itemId]).toBeCloseTo(weight, 9);
    expect(new Set(shuffled.exclusions.map((x) => x.itemId))).toEqual(
      new Set(inOrder.exclusions.map((x) => x.itemId)),
    );
  });
});

describe('interest centroids', () => {
  it('joins the nearest centroid when similar enough, otherwise opens one', () => {
    const profile = foldEvents(
      'u',
      3,
      [
        { type: 'like', itemId: 'a', at: T0, vector: e1 },
        { type: 'like', itemId: 'b', at: T0 + 1, vector: e1b },
        { type: 'like', itemId: 'c', at: T0 + 2, vector: e2 },
      ],
      settings,
    );
    expect(profile.centroids.map((c) => c.itemIds)).toEqual([['a', 'b'], ['c']]);
    expect(profile.centroids[0]?.mass).toBeCloseTo(4, 6);
  });

  it('merges the closest pair when a new taste would exceed K', () => {
    const profile = foldEvents(
      'u',
      3,
      [
        { type: 'like', itemId: 'a', at: T0, vector: e1 },
        { type: 'like', itemId: 'c', at: T0 + 1, vector: e2 },
        // Closer to e2 than e1 is, but below the join threshold: a third centroid, then a merge.
        { type: 'like', itemId: 'd', at: T0 + 2, vector: unit(0, 0.6, 0.8) },
      ],
      settings,
    );
    expect(profile.centroids).toHaveLength(2);
    expect(profile.centroids.map((c) => c.itemIds)).toEqual([['a'], ['c', 'd']]);
    // The merged direction is the sum of the two: (0, 2*1 + 2*0.6, 2*0.8).
    const merged = profile.centroids[1];
    expect(Array.from(merged?.sum ?? []).map((x) => x / (merged?.mass ?? 1))).toEqual([
      0,
      expect.closeTo(0.8, 6),
      expect.closeTo(0.4, 6),
    ]);
  });
});

describe('negative feedback, exclusions and seen items', () => {
  const profile = foldEvents(
    'u',
    3,
    [
      { type: 'like', itemId: 'a', at: T0, vector: e1 },
      { type: 'dislike', itemId: 'x', at: T0 + DAY },
      { type: 'hide', itemId: 'y', at: T0 + DAY },
      { type: 'purchase', itemId: 'p', at: T0 + 2 * DAY, vector: e3 },
      { type: 'view', itemId: 'v', at: T0 + 3 * DAY, vector: e2 },
    ],
    { ...settings, maxCentroids: 4 },
  );

  it('puts dislike and hide into the penalty set, never into centroids', () => {
    expect(profile.penalties.map((p) => p.itemId).sort()).toEqual(['x', 'y']);
    expect(profile.centroids.flatMap((c) => c.itemIds)).not.toContain('x');
    expect(profile.centroids.every((c) => c.mass > 0)).toBe(true);
  });

  it('excludes hidden and purchased items, and remembers everything seen', () => {
    expect(profile.exclusions.map((x) => x.itemId).sort()).toEqual(['p', 'y']);
    expect(profile.seen.map((x) => x.itemId).sort()).toEqual(['a', 'p', 'v', 'x', 'y']);
  });

  it('bounds the lists, keeping the most recent', () => {
    const events: ProfileEvent[] = Array.from({ length: 20 }, (_, i) => ({
      type: 'hide',
      itemId: `h${i}`,
      at: T0 + i,
    }));
    const bounded = foldEvents('u', 3, events, { ...settings, maxExclusions: 5, maxSeen: 3 });
    expect(bounded.exclusions.map((x) => x.itemId)).toEqual(['h19', 'h18', 'h17', 'h16', 'h15']);
    expect(bounded.seen).toHaveLength(3);
  });

  it('refuses a positive event without the item vector', () => {
    expect(() =>
      applyEvent(emptyProfile('u', 3, T0), { type: 'like', itemId: 'a', at: T0 }, settings),
    ).toThrow(/vector/);
  });
});

describe('recently viewed and bought items', () => {
  const view = (itemId: string, at: number, type: 'view' | 'click' = 'view'): ProfileEvent => ({
    type,
    itemId,
    at,
    vector: e1,
  });
  const buy = (itemId: string, at: number): ProfileEvent => ({ type: 'purchase', itemId, at, vector: e2 });

  it('keeps views and clicks in viewed, purchases in purchased, newest first, each with its time', () => {
    const profile = foldEvents(
      'u',
      3,
      [
        view('a', T0),
        view('b', T0 + 1, 'click'),
        buy('p', T0 + 2),
        { type: 'like', itemId: 'l', at: T0 + 3, vector: e1 },
        { type: 'add_to_cart', itemId: 'c', at: T0 + 4, vector: e1 },
        { type: 'hide', itemId: 'h', at: T0 + 5 },
        buy('q', T0 + 6),
      ],
      settings,
    );
    expect(profile.viewed).toEqual([
      { itemId: 'b', at: T0 + 1 },
      { itemId: 'a', at: T0 },
    ]);
    expect(profile.purchased).toEqual([
      { itemId: 'q', at: T0 + 6 },
      { itemId: 'p', at: T0 + 2 },
    ]);
  });

  it('names an item once: viewing it again moves it to the front, an older event does not', () => {
    const profile = foldEvents('u', 3, [view('a', T0), view('b', T0 + 1), view('a', T0 + 2)], settings);
    expect(profile.viewed).toEqual([
      { itemId: 'a', at: T0 + 2 },
      { itemId: 'b', at: T0 + 1 },
    ]);
    // A late event (older than the latest view of the item) leaves it where it is.
    applyEvent(profile, view('b', T0 - DAY), settings);
    expect(profile.viewed.map((x) => x.itemId)).toEqual(['a', 'b']);
    applyEvent(profile, buy('a', T0 + 3), settings);
    applyEvent(profile, buy('a', T0 + 4), settings);
    expect(profile.purchased).toEqual([{ itemId: 'a', at: T0 + 4 }]);
  });

  it('bounds each list, keeping the most recent', () => {
    const events = Array.from({ length: 30 }, (_, i) =>
      i % 2 === 0 ? view(`v${i}`, T0 + i) : buy(`p${i}`, T0 + i),
    );
    const bounded = foldEvents('u', 3, events, { ...settings, maxViewed: 3, maxPurchased: 2 });
    expect(bounded.viewed.map((x) => x.itemId)).toEqual(['v28', 'v26', 'v24']);
    expect(bounded.purchased.map((x) => x.itemId)).toEqual(['p29', 'p27']);
    expect(DEFAULT_PROFILE_SETTINGS).toMatchObject({ maxViewed: 100, maxPurchased: 100 });
  });

  it('reads a profile stored by the previous fold (no typed lists) with empty ones', () => {
    const previous = foldEvents('u', 3, [view('a', T0)], settings) as Partial<InterestProfile>;
    delete previous.viewed;
    delete previous.purchased;
    const read = deserialiseProfile(serialiseProfile(previous as InterestProfile));
    expect(read.viewed).toEqual([]);
    expect(read.purchased).toEqual([]);
    expect(read.seen).toEqual([{ itemId: 'a', at: T0 }]);
  });
});

describe('the fold', () => {
  it('equals applying the events one by one in time order', () => {
    const events: ProfileEvent[] = [
      { type: 'like', itemId: 'b', at: T0 + 5, vector: e2 },
      { type: 'like', itemId: 'a', at: T0, vector: e1 },
      { type: 'dislike', itemId: 'z', at: T0 + 3 },
    ];
    const folded = foldEvents('u', 3, events, settings);
    const stepwise = emptyProfile('u', 3, T0);
    for (const e of [events[1], events[2], events[0]] as ProfileEvent[]) applyEvent(stepwise, e, settings);
    expect(folded).toEqual(stepwise);
  });
});

describe('stored size', () => {
  /** 512 characters that JSON escapes to six bytes each: the worst item id for the stored profile. */
  const escapedId = (i: number) => `${i}:`.padEnd(512, '\u0001');
  const unitVector = (i: number) => unit(Math.cos(i), Math.sin(i), 0.1 * (i % 7));

  it('stays within its byte bound however long and escaped the ids, keeping the most recent', () => {
    const types = ['purchase', 'hide', 'view', 'click'] as const;
    const events: ProfileEvent[] = Array.from({ length: 2000 }, (_, i) => {
      const type = types[i % 4] as (typeof types)[number];
      return {
        type,
        itemId: escapedId(i),
        at: T0 + i * 1000,
        ...(type === 'hide' ? {} : { vector: unitVector(i) }),
      };
    });
    const profile = foldEvents('u'.repeat(256), 3, events, DEFAULT_PROFILE_SETTINGS);
    const bytes = Buffer.byteLength(serialiseProfile(profile));
    // Counts alone would allow 1,000 exclusions of ~3 KB each.
    expect(bytes).toBeLessThanOrEqual(maxProfileBytes(DEFAULT_PROFILE_SETTINGS, 3));
    expect(maxProfileBytes(DEFAULT_PROFILE_SETTINGS, 128)).toBeLessThan(MAX_PROFILE_ROW_BYTES);
    expect(profile.exclusions[0]?.itemId).toBe(escapedId(1997));
    expect(profile.exclusions.length).toBeGreaterThan(10);
    expect(profile.viewed[0]?.itemId).toBe(escapedId(1999));
    expect(profile.viewed.length).toBeGreaterThan(3);
    expect(profile.purchased[0]?.itemId).toBe(escapedId(1996));
    expect(profile.purchased.length).toBeGreaterThan(3);
    expect(profile.eventCount).toBe(2000);
    for (const centroid of profile.centroids)
      expect(centroid.itemIds[centroid.itemIds.length - 1]).toBe(
        escapedId(Math.max(...centroid.itemIds.map((id) => Number(id.split(':')[0])))),
      );
  });

  it('keeps the same lists whatever the order the events arrive in', () => {
    const events: ProfileEvent[] = Array.from({ length: 400 }, (_, i) => ({
      type: 'hide',
      itemId: escapedId(i),
      at: T0 + i * 1000,
    }));
    const forward = foldEvents('u', 3, events, DEFAULT_PROFILE_SETTINGS);
    const stepwise = emptyProfile('u', 3, T0);
    for (const event of [...events].reverse()) applyEvent(stepwise, event, DEFAULT_PROFILE_SETTINGS);
    expect(stepwise.exclusions.map((x) => x.itemId)).toEqual(forward.exclusions.map((x) => x.itemId));
    expect(stepwise.seen.map((x) => x.itemId)).toEqual(forward.seen.map((x) => x.itemId));
  });

  it('keeps the same typed lists whatever the order the events arrive in', () => {
    const events: ProfileEvent[] = Array.from({ length: 400 }, (_, i) => ({
      type: i % 2 === 0 ? 'view' : 'purchase',
      itemId: escapedId(i % 150),
      at: T0 + i * 1000,
      vector: unitVector(i),
    }));
    const forward = foldEvents('u', 3, events, DEFAULT_PROFILE_SETTINGS);
    const stepwise = emptyProfile('u', 3, T0);
    for (const event of [...events].reverse()) applyEvent(stepwise, event, DEFAULT_PROFILE_SETTINGS);
    expect(stepwise.viewed).toEqual(forward.viewed);
    expect(stepwise.purchased).toEqual(forward.purchased);
    expect(new Set(forward.viewed.map((x) => x.itemId)).size).toBe(forward.viewed.length);
  });

  it('trims a profile stored before the budgets to them', () => {
    const stored = emptyProfile('u', 3, T0);
    stored.exclusions = Array.from({ length: 1000 }, (_, i) => ({ itemId: escapedId(i), at: T0 - i }));
    stored.viewed = Array.from({ length: 100 }, (_, i) => ({ itemId: escapedId(i), at: T0 - i }));
    withinBudgets(stored);
    expect(Buffer.byteLength(serialiseProfile(stored))).toBeLessThanOrEqual(
      maxProfileBytes(DEFAULT_PROFILE_SETTINGS, 3),
    );
    expect(stored.exclusions[0]?.itemId).toBe(escapedId(0));
    expect(stored.viewed[0]?.itemId).toBe(escapedId(0));
    expect(stored.viewed.length).toBeLessThan(100);
  });
});

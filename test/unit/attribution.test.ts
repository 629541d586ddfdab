/**
 * Attribution (issue 25): how an event joins the list it names, what a list adds per cell, the
 * per-user sums kept additively, and the ratio estimator's 95% intervals (coverage on seeded data).
 */

import { metricsReport } from '../../functions/app/attribution';
import { DEFAULT_PLACEMENTS } from '../../functions/contract/placements';
import {
  addSums,
  attributeEvent,
  type CellCounts,
  type CellSums,
  emptySums,
  impressionsOf,
  ratioDifference,
  ratioEstimate,
  ratioSums,
  type ServedList,
  sumsDelta,
} from '../../functions/domain/attribution';
import { InvalidRequest } from '../../functions/domain/errors';
import { InMemoryDailyMetrics } from '../support/fakes/daily-metrics';
import { seededUniform } from '../support/seeded-random';

const servedAt = Date.UTC(2026, 11, 1, 9, 30);
const list: ServedList = {
  placement: 'home',
  strategy: 'personal',
  servedAt,
  expiresAt: servedAt / 1000 + 30 * 86_400,
  items: [
    { itemId: 'a', position: 1, source: 'organic' },
    { itemId: 'b', position: 2, source: 'exploration' },
    { itemId: 'c', position: 3, source: 'pinned', rules: ['r1'] },
    { itemId: 'd', position: 4, source: 'organic' },
  ],
};
const now = servedAt + 60_000;

describe('attributeEvent', () => {
  it('joins a click to its list and the item source, on the day the list was served', () => {
    const late = Date.UTC(2026, 11, 2, 1);
    expect(
      attributeEvent({ type: 'click', itemId: 'b', at: late, recommendationId: 'r', position: 2 }, list, now),
    ).toEqual({
      kind: 'attributed',
      cell: { day: '2026-12-01', placement: 'home', strategy: 'personal', source: 'exploration' },
      outcome: 'clicks',
      revenue: 0,
    });
  });

  it('counts revenue on purchases only, at the price carried by the event', () => {
    const purchase = attributeEvent(
      { type: 'purchase', itemId: 'c', at: now, recommendationId: 'r', price: 25.5 },
      list,
      now,
    );
    expect(purchase).toMatchObject({ kind: 'attributed', outcome: 'purchases', revenue: 25.5 });
    expect(purchase?.kind === 'attributed' && purchase.cell.source).toBe('pinned');
    expect(
      attributeEvent(
        { type: 'add_to_cart', itemId: 'c', at: now, recommendationId: 'r', price: 9 },
        list,
        now,
      ),
    ).toMatchObject({ outcome: 'carts', revenue: 0 });
  });

  it('finds the item by id when the position given is not its position', () => {
    const event = { type: 'click' as const, itemId: 'd', at: now, recommendationId: 'r', position: 0 };
    expect(attributeEvent(event, list, now)).toMatchObject({
      kind: 'attributed',
      cell: { source: 'organic' },
    });
  });

  it('is unattributed for an unknown or foreign list, an expired one, or an item not in it', () => {
    const event = { type: 'click' as const, itemId: 'a', at: now, recommendationId: 'r' };
    expect(attributeEvent(event, undefined, now)).toMatchObject({ kind: 'unattributed', day: '2026-12-01' });
    const expired = { ...list, expiresAt: Math.floor(now / 1000) - 1 };
    expect(attributeEvent(event, expired, now)).toMatchObject({ kind: 'unattributed' });
    expect(attributeEvent({ ...event, itemId: 'z' }, list, now)).toMatchObject({ kind: 'unattributed' });
  });

  it('is organic without a recommendationId; views, likes and hides count nothing', () => {
    expect(attributeEvent({ type: 'purchase', itemId: 'a', at: now, price: 3 }, undefined, now)).toEqual({
      kind: 'organic',
      day: '2026-12-01',
      outcome: 'purchases',
      revenue: 3,
    });
    for (const type of ['view', 'like', 'hide', 'dislike'] as const)
      expect(
        attributeEvent({ type, itemId: 'a', at: now, recommendationId: 'r' }, list, now),
      ).toBeUndefined();
  });
});

describe('impressionsOf', () => {
  it('counts a list’s items per source', () => {
    expect(impressionsOf(list)).toEqual([
      {
        cell: { day: '2026-12-01', placement: 'home', strategy: 'personal', source: 'organic' },
        impressions: 2,
      },
      {
        cell: { day: '2026-12-01', placement: 'home', strategy: 'personal', source: 'exploration' },
        impressions: 1,
      },
      {
        cell: { day: '2026-12-01', placement: 'home', strategy: 'personal', source: 'pinned' },
        impressions: 1,
      },
    ]);
  });
});

describe('sumsDelta', () => {
  it('keeps Σx, Σn, Σx², Σn², Σx·n and the users exact whatever order the changes come in', () => {
    const random = seededUniform(7);
    const users = Array.from({ length: 30 }, () => ({
      impressions: 1 + Math.floor(random() * 12),
      clicks: Math.floor(random() * 3),
      purchases: random() < 0.2 ? 1 : 0,
      revenue: random() < 0.2 ? 10 : 0,
    }));
    // Each user's counts arrive as unit changes, shuffled (a click may come before its impression).
    const changes = users.flatMap((u, user) => [
      ...Array.from({ length: u.impressions }, () => ({ user, delta: { impressions: 1 } })),
      ...Array.from({ length: u.clicks }, () => ({ user, delta: { clicks: 1 } })),
      ...Array.from({ length: u.purchases }, () => ({ user, delta: { purchases: 1, revenue: u.revenue } })),
    ]);
    for (let i = changes.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [changes[i], changes[j]] = [
        changes[j] as (typeof changes)[number],
        changes[i] as (typeof changes)[number],
      ];
    }
    const cells = new Map<number, CellCounts>();
    const sums = emptySums();
    for (const { user, delta } of changes) {
      const { after, sums: added } = sumsDelta(cells.get(user), delta);
      cells.set(user, after);
      addSums(sums, added);
    }
    const sum = (f: (u: (typeof users)[number]) => number) => users.reduce((s, u) => s + f(u), 0);
    expect(sums).toMatchObject<Partial<CellSums>>({
      units: 30,
      n: sum((u) => u.impressions),
      nn: sum((u) => u.impressions ** 2),
      clicks: sum((u) => u.clicks),
      clicksSq: sum((u) => u.clicks ** 2),
      clicksByN: sum((u) => u.clicks * u.impressions),
      revenueByN: sum((u) => u.purchases * u.revenue * u.impressions),
      carts: 0,
    });
  });
});

/** One seeded population: users with varied impressions, clicks Binomial(n_u, p_u), p_u around p. */
function population(random: () => number, users: number, p: number) {
  const sums = emptySums();
  for (let u = 0; u < users; u++) {
    const impressions = 1 + Math.floor(random() * random() * 40);
    // Users differ in taste (p_u spread around p, mean p): the clustering the user unit accounts for.
    const pu = Math.min(1, p * 2 * random());
    let clicks = 0;
    for (let i = 0; i < impressions; i++) if (random() < pu) clicks++;
    addSums(sums, sumsDelta(undefined, { impressions, clicks }).sums);
  }
  return ratioSums(sums, 'clicks');
}

describe('ratio intervals', () => {
  it('cover the true click-through rate in at least 93 of 100 seeded cases', () => {
    let covered = 0;
    for (let seed = 1; seed <= 100; seed++) {
      const estimate = ratioEstimate(population(seededUniform(seed), 300, 0.08));
      if ((estimate.low as number) <= 0.08 && 0.08 <= (estimate.high as number)) covered++;
    }
    expect(covered).toBeGreaterThanOrEqual(93);
    // An interval that always covers is no interval: it is narrow too.
    expect(covered).toBeLessThan(100);
  });

  it('of a difference with no true difference cover 0 in at least 93 of 100 seeded cases', () => {
    let covered = 0;
    let widths = 0;
    for (let seed = 1; seed <= 100; seed++) {
      const random = seededUniform(1000 + seed);
      const difference = ratioDifference(population(random, 250, 0.05), population(random, 150, 0.05));
      if ((difference.low as number) <= 0 && 0 <= (difference.high as number)) covered++;
      widths += (difference.high as number) - (difference.low as number);
    }
    expect(covered).toBeGreaterThanOrEqual(93);
    expect(widths / 100).toBeLessThan(0.05);
  });

  it('are wider than the binomial interval that takes each impression as independent', () => {
    const sums = population(seededUniform(3), 300, 0.08);
    const estimate = ratioEstimate(sums);
    const rate = sums.x / sums.n;
    const binomial = Math.sqrt((rate * (1 - rate)) / sums.n);
    expect(estimate.standardError as number).toBeGreaterThan(binomial);
  });

  it('have no value without impressions and no interval with one user', () => {
    expect(ratioEstimate({ units: 0, x: 0, n: 0, xx: 0, nn: 0, xn: 0 }).value).toBeNull();
    expect(ratioEstimate({ units: 1, x: 1, n: 4, xx: 1, nn: 16, xn: 4 })).toEqual({
      value: 0.25,
      low: null,
      high: null,
      standardError: null,
    });
  });
});

describe('metricsReport (GET /admin/metrics) on daily rows', () => {
  const day = (d: number) => `2026-12-0${d}`;
  const cellSums = (
    users: Array<{ impressions: number; clicks: number; purchases?: number; revenue?: number }>,
  ) => {
    const sums = emptySums();
    for (const u of users) addSums(sums, sumsDelta(undefined, u).sums);
    return sums;
  };
  const metrics = new InMemoryDailyMetrics();
  metrics.rows.push(
    {
      day: day(1),
      kind: 'cell',
      cell: { placement: 'home', strategy: 'personal', source: 'organic' },
      sums: cellSums([
        { impressions: 10, clicks: 2 },
        { impressions: 10, clicks: 0, purchases: 1, revenue: 30 },
      ]),
    },
    {
      day: day(2),
      kind: 'cell',
      cell: { placement: 'home', strategy: 'personal', source: 'organic' },
      sums: cellSums([{ impressions: 20, clicks: 2 }]),
    },
    {
      day: day(2),
      kind: 'cell',
      cell: { placement: 'home', strategy: 'personal', source: 'exploration' },
      sums: cellSums([
        { impressions: 4, clicks: 1 },
        { impressions: 6, clicks: 0 },
      ]),
    },
    {
      day: day(2),
      kind: 'cell',
      cell: { placement: 'product', strategy: 'similar_item', source: 'organic' },
      sums: cellSums([{ impressions: 8, clicks: 1 }]),
    },
    { day: day(2), kind: 'organic', sums: { ...emptySums(), clicks: 3, purchases: 1, revenue: 12.5 } },
    { day: day(1), kind: 'unattributed', sums: { ...emptySums(), clicks: 1 } },
  );
  const deps = { metrics, placements: DEFAULT_PLACEMENTS, now: () => Date.parse('2026-12-03T10:00:00Z') };

  it('sums the period per placement and source, with rates, intervals and the organic baseline', async () => {
    const report = await metricsReport(deps, { from: day(1), to: day(2) });
    expect(metrics.reads.at(-1)).toEqual([day(1), day(2)]);
    const homeOrganic = report.placements.find((g) => g.placement === 'home' && g.source === 'organic');
    expect(homeOrganic).toMatchObject({ impressions: 40, clicks: 4, purchases: 1, revenue: 30, userDays: 3 });
    expect(homeOrganic?.clickThroughRate.value).toBeCloseTo(0.1, 12);
    expect(homeOrganic?.clickThroughRate.low).toBeLessThan(0.1);
    const exploration = report.placements.find((g) => g.source === 'exploration');
    expect(exploration?.clickThroughVsOrganic?.value).toBeCloseTo(0.1 - 0.1, 12);
    expect(report.daily.map((d) => [d.day, d.placement, d.impressions])).toEqual([
      [day(1), 'home', 20],
      [day(2), 'home', 30],
      [day(2), 'product', 8],
    ]);
    expect(report.organic).toEqual({ clicks: 3, addToCarts: 0, purchases: 1, revenue: 12.5 });
    expect(report.unattributed).toEqual({ clicks: 1, addToCarts: 0, purchases: 0, revenue: 0 });
  });

  it('filters by placement and source; defaults to the last 7 days', async () => {
    const report = await metricsReport(deps, { placement: 'home', source: 'exploration' });
    expect([report.from, report.to]).toEqual(['2026-11-27', '2026-12-03']);
    expect(metrics.reads.at(-1)).toHaveLength(7);
    expect(report.placements.map((g) => [g.placement, g.source, g.impressions])).toEqual([
      ['home', 'exploration', 10],
    ]);
  });

  it('refuses unknown placements, sources and parameters, bad days and periods', async () => {
    for (const query of [
      { placement: 'nowhere' },
      { source: 'paid' },
      { from: '2026-02-30' },
      { from: day(3), to: day(1) },
      { from: '2026-01-01', to: '2026-12-01' },
      { extra: '1' },
      { placement: ['home', 'product'] },
    ])
      await expect(metricsReport(deps, query)).rejects.toBeInstanceOf(InvalidRequest);
  });
});

/**
 * What the recommendations earn (issue 25): `GET /admin/metrics` from the pre-aggregated daily rows
 * (functions/adapters/dynamodb/attribution-counters.ts), never the raw events: counts, rates and
 * their 95% intervals per placement and source, per strategy, and per day for the charts.
 */
import * as z from 'zod';
import type { PlacementsConfig } from '../contract/placements';
import {
  addSums,
  type CellSums,
  emptySums,
  type Measure,
  type RatioEstimate,
  ratioDifference,
  ratioEstimate,
  ratioSums,
  SOURCES,
} from '../domain/attribution';
import { InvalidRequest } from '../domain/errors';
import { describeIssues } from '../domain/event-schema';
import { type ImpressionSource, STRATEGIES } from '../domain/impressions';
import type { DailyMetrics } from './ports';

export interface AttributionDeps {
  metrics: DailyMetrics;
  /** The placements a query may name. */
  placements: PlacementsConfig;
  now?: () => number;
}

/** The longest period one request reads: a day's partition each. */
export const MAX_METRICS_DAYS = 92;
/** The period when the query gives none: the last 7 days, today included. */
export const DEFAULT_METRICS_DAYS = 7;

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const day = z
  .string()
  .regex(DAY, 'must be a UTC day, YYYY-MM-DD')
  .refine((value) => {
    const date = new Date(`${value}T00:00:00Z`);
    return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
  }, 'is not a calendar day');

export const MetricsQuerySchema = z.strictObject({
  from: day.optional(),
  to: day.optional(),
  placement: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .describe(
      "Only this placement: one of the stack's, or a strategy's name (lists served without a placement)",
    ),
  source: z.enum(SOURCES as [ImpressionSource, ...ImpressionSource[]]).optional(),
});

const DAY_MS = 86_400_000;
const isStrategy = (name: string) => (STRATEGIES as readonly string[]).includes(name);
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const msOf = (value: string) => Date.parse(`${value}T00:00:00Z`);

function countsOf(sums: CellSums) {
  return {
    userDays: sums.units,
    impressions: sums.n,
    clicks: sums.clicks,
    addToCarts: sums.carts,
    purchases: sums.purchases,
    revenue: Math.round(sums.revenue * 100) / 100,
  };
}

/** The rates a group reports, each over its items shown (impressions). */
function ratesOf(
  sums: CellSums,
): Record<'clickThroughRate' | 'addToCartRate' | 'purchaseRate' | 'revenuePerImpression', RatioEstimate> {
  const rate = (measure: Measure) => ratioEstimate(ratioSums(sums, measure));
  return {
    clickThroughRate: rate('clicks'),
    addToCartRate: rate('carts'),
    purchaseRate: rate('purchases'),
    revenuePerImpression: rate('revenue'),
  };
}

const summed = <K>(groups: Map<string, { key: K; sums: CellSums }>, id: string, key: K, sums: CellSums) => {
  const existing = groups.get(id);
  if (existing) addSums(existing.sums, sums);
  else groups.set(id, { key, sums: addSums(emptySums(), sums) });
};

export async function metricsReport(deps: AttributionDeps, query: Record<string, unknown>) {
  const parsed = MetricsQuerySchema.safeParse(query);
  if (!parsed.success) throw new InvalidRequest('invalid_query', describeIssues(parsed.error));
  const { placement, source } = parsed.data;
  // A list served without a placement is recorded under its strategy's name.
  if (placement !== undefined && !Object.hasOwn(deps.placements, placement) && !isStrategy(placement)) {
    const names = [...Object.keys(deps.placements), ...STRATEGIES].sort();
    throw new InvalidRequest(
      'unknown_placement',
      `placement ${placement} is not one of this stack's placements (${names.join(', ')})`,
      { placement, placements: names },
    );
  }
  const today = dayOf((deps.now ?? Date.now)());
  const to = parsed.data.to ?? (parsed.data.from && parsed.data.from > today ? parsed.data.from : today);
  const from = parsed.data.from ?? dayOf(msOf(to) - (DEFAULT_METRICS_DAYS - 1) * DAY_MS);
  if (from > to) throw new InvalidRequest('invalid_query', `from (${from}) is after to (${to})`);
  const length = Math.round((msOf(to) - msOf(from)) / DAY_MS) + 1;
  if (length > MAX_METRICS_DAYS)
    throw new InvalidRequest(
      'invalid_query',
      `at most ${MAX_METRICS_DAYS} days at once (${from}..${to} is ${length})`,
    );
  const days = Array.from({ length }, (_, i) => dayOf(msOf(from) + i * DAY_MS));

  const rows = await deps.metrics.dailyRows(days);
  const byPlacement = new Map<
    string,
    { key: { placement: string; source: ImpressionSource }; sums: CellSums }
  >();
  const byStrategy = new Map<
    string,
    { key: { placement: string; strategy: string; source: ImpressionSource }; sums: CellSums }
  >();
  const daily = new Map<string, { key: { day: string; placement: string }; sums: CellSums }>();
  const organic = emptySums();
  const unattributed = emptySums();
  for (const row of rows) {
    if (row.kind === 'organic') addSums(organic, row.sums);
    else if (row.kind === 'unattributed') addSums(unattributed, row.sums);
    else if (row.kind === 'cell') {
      const { cell } = row;
      if ((placement && cell.placement !== placement) || (source && cell.source !== source)) continue;
      summed(
        byPlacement,
        `${cell.placement}#${cell.source}`,
        { placement: cell.placement, source: cell.source },
        row.sums,
      );
      summed(byStrategy, `${cell.placement}#${cell.strategy}#${cell.source}`, cell, row.sums);
      summed(daily, `${row.day}#${cell.placement}`, { day: row.day, placement: cell.placement }, row.sums);
    }
  }
  const sorted = <T extends { key: unknown }>(groups: Map<string, T>) =>
    [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, group]) => group);
  const organicOf = (name: string) => byPlacement.get(`${name}#organic`)?.sums;
  const eventCounts = (sums: CellSums) => ({
    clicks: sums.clicks,
    addToCarts: sums.carts,
    purchases: sums.purchases,
    revenue: Math.round(sums.revenue * 100) / 100,
  });
  return {
    from,
    to,
    ...(placement ? { placement } : {}),
    ...(source ? { source } : {}),
    /** The unit of sampling of every interval: a user's counts in one day and cell. */
    unit: 'user-day',
    confidence: 0.95,
    placements: sorted(byPlacement).map(({ key, sums }) => {
      const baseline = key.source === 'organic' ? undefined : organicOf(key.placement);
      return {
        ...key,
        ...countsOf(sums),
        ...ratesOf(sums),
        ...(baseline
          ? {
              clickThroughVsOrganic: ratioDifference(
                ratioSums(sums, 'clicks'),
                ratioSums(baseline, 'clicks'),
              ),
            }
          : {}),
      };
    }),
    strategies: sorted(byStrategy).map(({ key, sums }) => ({ ...key, ...countsOf(sums), ...ratesOf(sums) })),
    daily: sorted(daily).map(({ key, sums }) => ({
      ...key,
      ...countsOf(sums),
      clickThroughRate: ratioEstimate(ratioSums(sums, 'clicks')),
      purchaseRate: ratioEstimate(ratioSums(sums, 'purchases')),
    })),
    /** Events that named no list. */
    organic: eventCounts(organic),
    /** Events that named a list the user was not served (unknown, expired, another user's) or an item not in it. */
    unattributed: eventCounts(unattributed),
  };
}

import type { ImpressionItem, ImpressionSource, Strategy } from './impressions';
import type { EventType } from './interest-profile';

/**
 * Attribution (issue 25): events that carry a list's `recommendationId` joined to the list served
 * (its impression), counted per day, placement, strategy and item source. The unit of sampling is
 * the user: each user's counts in a cell (a day, placement, strategy, source) are kept, so the daily
 * rows can hold the per-user sums a ratio's delta-method variance needs (Σx_u, Σn_u, Σx_u², Σn_u²,
 * Σx_u·n_u), each kept additively from the change of one user's counts.
 */

/** What an event of each type adds when attributed; other types (view, like, hide...) count nothing. */
export const OUTCOME_OF: Partial<Record<EventType, Outcome>> = {
  click: 'clicks',
  add_to_cart: 'carts',
  purchase: 'purchases',
};
export const OUTCOMES = ['clicks', 'carts', 'purchases'] as const;
export type Outcome = (typeof OUTCOMES)[number];
/** Per user and cell: outcomes and revenue, each over the items shown (impressions). */
export const MEASURES = [...OUTCOMES, 'revenue'] as const;
export type Measure = (typeof MEASURES)[number];

export const SOURCES: readonly ImpressionSource[] = ['organic', 'exploration', 'pinned', 'promoted'];

/** A cell of the daily rows: the day (UTC) the list was served, where, by what strategy, why the item was there. */
export interface CellKey {
  day: string;
  placement: string;
  strategy: Strategy;
  source: ImpressionSource;
}

/** One user's counts in a cell. */
export interface CellCounts {
  impressions: number;
  clicks: number;
  carts: number;
  purchases: number;
  revenue: number;
}

export const EMPTY_COUNTS: CellCounts = { impressions: 0, clicks: 0, carts: 0, purchases: 0, revenue: 0 };

export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

export const cellId = ({ day, placement, strategy, source }: CellKey): string =>
  `${day}#${placement}#${strategy}#${source}`;

/** What attribution reads of an impression: the list served (see functions/domain/impressions.ts). */
export interface ServedList {
  placement: string;
  strategy: Strategy;
  servedAt: number;
  items: ImpressionItem[];
  /** TTL, epoch seconds: a row past it that DynamoDB has not yet removed is expired all the same. */
  expiresAt?: number;
}

/** An event as attribution sees it (the Events row). */
export interface AttributableEvent {
  type: EventType;
  itemId: string;
  /** ms */
  at: number;
  recommendationId?: string;
  position?: number;
  /** On a purchase: the item's price when it was bought. */
  price?: number;
}

/**
 * Where an event counts: `attributed` to a cell (its list found, the item in it); `unattributed`
 * (it names a list the user was not served: unknown, expired, another user's, or the item is not
 * in it); `organic` (it names no list). Undefined: the event's type counts nothing.
 */
export type Attribution =
  | { kind: 'attributed'; cell: CellKey; outcome: Outcome; revenue: number }
  | { kind: 'unattributed' | 'organic'; day: string; outcome: Outcome; revenue: number };

/**
 * Joins an event to the list it names. `list` is the user's own list of that id (the Impressions
 * row is keyed by user and id, so another user's list is never found), undefined when there is none.
 * The item is found by `position` when the item there is the event's, else by its id.
 */
export function attributeEvent(
  event: AttributableEvent,
  list: ServedList | undefined,
  now: number,
): Attribution | undefined {
  const outcome = OUTCOME_OF[event.type];
  if (!outcome) return undefined;
  const revenue =
    outcome === 'purchases' &&
    typeof event.price === 'number' &&
    Number.isFinite(event.price) &&
    event.price > 0
      ? event.price
      : 0;
  if (!event.recommendationId) return { kind: 'organic', day: utcDay(event.at), outcome, revenue };
  const unattributed = { kind: 'unattributed', day: utcDay(event.at), outcome, revenue } as const;
  if (!list || (list.expiresAt !== undefined && list.expiresAt * 1000 <= now)) return unattributed;
  const item =
    list.items.find((i) => i.position === event.position && i.itemId === event.itemId) ??
    list.items.find((i) => i.itemId === event.itemId);
  if (!item) return unattributed;
  return {
    kind: 'attributed',
    cell: {
      day: utcDay(list.servedAt),
      placement: list.placement,
      strategy: list.strategy,
      source: item.source,
    },
    outcome,
    revenue,
  };
}

/** The impressions a served list adds per cell: its items counted per source. */
export function impressionsOf(list: ServedList): Array<{ cell: CellKey; impressions: number }> {
  const bySource = new Map<ImpressionSource, number>();
  for (const item of list.items) bySource.set(item.source, (bySource.get(item.source) ?? 0) + 1);
  return [...bySource].map(([source, impressions]) => ({
    cell: { day: utcDay(list.servedAt), placement: list.placement, strategy: list.strategy, source },
    impressions,
  }));
}

/**
 * The per-user sums of a cell, summed over users (the daily row): `units` users, `n` impressions
 * and `nn` Σn_u²; per measure m: Σm_u, Σm_u² and Σm_u·n_u.
 */
export type CellSums = { units: number; n: number; nn: number } & Record<Measure, number> &
  Record<`${Measure}Sq`, number> &
  Record<`${Measure}ByN`, number>;

export const emptySums = (): CellSums => {
  const sums = { units: 0, n: 0, nn: 0 } as CellSums;
  for (const m of MEASURES) {
    sums[m] = 0;
    sums[`${m}Sq`] = 0;
    sums[`${m}ByN`] = 0;
  }
  return sums;
};

export function addSums(into: CellSums, more: Partial<CellSums>): CellSums {
  for (const [key, value] of Object.entries(more))
    if (typeof value === 'number') into[key as keyof CellSums] += value;
  return into;
}

/**
 * What one user's change of counts in a cell adds to the cell's sums: the difference of each sum's
 * term before and after (a new user adds a unit). The sums stay exact whatever order the changes
 * come in (an event counted before its impression, say): each term telescopes to its final value.
 */
export function sumsDelta(
  before: CellCounts | undefined,
  delta: Partial<CellCounts>,
): {
  after: CellCounts;
  sums: CellSums;
} {
  const old = before ?? EMPTY_COUNTS;
  const after: CellCounts = {
    impressions: old.impressions + (delta.impressions ?? 0),
    clicks: old.clicks + (delta.clicks ?? 0),
    carts: old.carts + (delta.carts ?? 0),
    purchases: old.purchases + (delta.purchases ?? 0),
    revenue: old.revenue + (delta.revenue ?? 0),
  };
  const sums = emptySums();
  sums.units = before ? 0 : 1;
  sums.n = after.impressions - old.impressions;
  sums.nn = after.impressions ** 2 - old.impressions ** 2;
  for (const m of MEASURES) {
    sums[m] = after[m] - old[m];
    sums[`${m}Sq`] = after[m] ** 2 - old[m] ** 2;
    sums[`${m}ByN`] = after[m] * after.impressions - old[m] * old.impressions;
  }
  return { after, sums };
}

/** A ratio and its 95% confidence interval; interval undefined with fewer than 2 users or no impressions. */
export interface RatioEstimate {
  value: number | null;
  low: number | null;
  high: number | null;
  standardError: number | null;
}

/** The normal quantile of a two-sided 95% interval. */
export const Z_95 = 1.959963984540054;

/** The sums a ratio needs: units, Σx, Σn, Σx², Σn², Σx·n. */
export interface RatioSums {
  units: number;
  x: number;
  n: number;
  xx: number;
  nn: number;
  xn: number;
}

export const ratioSums = (sums: CellSums, measure: Measure): RatioSums => ({
  units: sums.units,
  x: sums[measure],
  n: sums.n,
  xx: sums[`${measure}Sq`],
  nn: sums.nn,
  xn: sums[`${measure}ByN`],
});

/**
 * The variance of R = Σx/Σn by the delta method, users as independent units: with residuals
 * e_u = x_u − R·n_u, Var(R) ≈ N/(N−1) · Σe_u² / (Σn)², and Σe_u² = Σx² − 2RΣxn + R²Σn².
 */
function ratioVariance(s: RatioSums): { value: number; variance: number } | undefined {
  if (s.n <= 0) return undefined;
  const value = s.x / s.n;
  if (s.units < 2) return { value, variance: Number.NaN };
  const residuals = Math.max(0, s.xx - 2 * value * s.xn + value * value * s.nn);
  return { value, variance: ((s.units / (s.units - 1)) * residuals) / (s.n * s.n) };
}

const interval = (value: number, variance: number): RatioEstimate => {
  if (!Number.isFinite(variance)) return { value, low: null, high: null, standardError: null };
  const standardError = Math.sqrt(variance);
  return { value, low: value - Z_95 * standardError, high: value + Z_95 * standardError, standardError };
};

/** A ratio (click-through rate, conversion, revenue per impression) with its 95% interval. */
export function ratioEstimate(sums: RatioSums): RatioEstimate {
  const estimate = ratioVariance(sums);
  if (!estimate) return { value: null, low: null, high: null, standardError: null };
  return interval(estimate.value, estimate.variance);
}

/**
 * The difference of two ratios (a source against another, say) with its 95% interval, the two
 * taken as independent samples of users.
 */
export function ratioDifference(a: RatioSums, b: RatioSums): RatioEstimate {
  const ea = ratioVariance(a);
  const eb = ratioVariance(b);
  if (!ea || !eb) return { value: null, low: null, high: null, standardError: null };
  return interval(ea.value - eb.value, ea.variance + eb.variance);
}

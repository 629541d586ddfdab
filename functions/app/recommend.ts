import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { ExplorationConfig } from '../contract/exploration';
import { DEFAULT_LIST_LIMIT, PLACEMENT_NAME, type PlacementsConfig } from '../contract/placements';
import type { Rule } from '../contract/rules';
import { type CategoryFallback, complementList, NEAR_DUPLICATE_COSINE } from '../domain/complements';
import { InvalidRequest, ItemNotReady, NotFound } from '../domain/errors';
import { describeIssues } from '../domain/event-schema';
import { impressionDecay, impressionItems, newRecommendationId, type Strategy } from '../domain/impressions';
import {
  cosine as centroidCosine,
  decayFactor,
  HISTORY_KINDS,
  type HistoryKind,
  isBoosted,
  isMuted,
  type ProfileSettings,
  servingProfile,
} from '../domain/interest-profile';
import { projectVector } from '../domain/learned-similarity';
import type { ProjectionArtefact } from '../domain/learned-space';
import {
  canonicalFilter,
  filterPredicate,
  isFiltering,
  type ListFilter,
  MAX_EXCLUDED_BYTES,
  MAX_EXCLUDED_IDS,
  MAX_FILTER_VALUES,
  withRelativePrice,
} from '../domain/list-filter';
import {
  applyPins,
  boostMatcher,
  type ListRules,
  listRules,
  scaledScore,
  scoreAdjustment,
} from '../domain/merchandising';
import {
  DEFAULT_PAGE_TOKEN_TTL_MINUTES,
  encodePageToken,
  MAX_PAGED_ITEMS,
  newNonce,
  pagingKey,
  shownBefore,
  viewerTag,
} from '../domain/paging';
import {
  type ExplorationInputs,
  exclusionFilter,
  explorableItem,
  explorationForNewcomers,
  explorationNear,
  explorationPositions,
  explorationSlots,
  interleaveExploration,
  interleavePromotions,
  type ListRequest,
  normalised,
  promotedItem,
  promotionCandidates,
  promotionSlots,
  type RankedItem,
  type RankingSettings,
  type Reason,
  rankForUser,
  rankPopular,
  withRules,
} from '../domain/ranking';
import { DEFAULT_TRENDING, type TrendingSettings, trendingScores } from '../domain/trending';
import { isWellFormedUnicode } from '../domain/unicode';
import type { ItemAttributes, VectorIndex } from '../vector-index';
import {
  type Aggregates,
  type CatalogueSnapshots,
  type CoPurchases,
  type EventHistory,
  foldedIn,
  type ImageEmbedder,
  type ImpressionHistory,
  type ImpressionLog,
  type ItemView,
  type ItemViews,
  type ProfileReader,
  type Serving,
  type StoredProfile,
} from './ports';
import { foldedWith, refoldProfile } from './refold';

export interface RecommendDeps {
  serving: Serving;
  reader: ItemViews;
  profiles: ProfileReader;
  /** A user's raw events and the items' vectors in the active space: what a profile of another space is refolded from. */
  history: EventHistory;
  catalogue: CatalogueSnapshots;
  /** Popularity and co-engagement (in production reused for a few seconds: see AggregateCache). */
  aggregates: Aggregates;
  /** Co-purchase counters (complements); absent: none, so complements are empty. */
  coPurchases?: CoPurchases;
  /** Only image search embeds: the model may load on first use. */
  embedder: () => Promise<ImageEmbedder>;
  /**
   * The active space: the one served, and the one profiles must be folded in. The deployed model's
   * id, or its learned projection's space (functions/domain/learned-space.ts).
   */
  modelId: string;
  dim: number;
  /**
   * When a learned projection serves: its matrix. Query vectors the embedder gives in the base
   * space (image search, an item only holding its base vector) are projected with it.
   */
  projection?: Pick<ProjectionArtefact, 'baseModelId' | 'dim' | 'matrix'>;
  profileSettings: ProfileSettings;
  ranking: RankingSettings;
  popularityEpoch: number;
  /** What makes an item trend (functions/domain/trending.ts). @default DEFAULT_TRENDING */
  trending?: TrendingSettings;
  /**
   * Exploration slots for new items, per placement (`default` for the rest); absent: none. Image
   * search never explores: its list answers a photo, not a taste.
   */
  exploration?: ExplorationConfig;
  /**
   * The placements a list may name, each with its defaults (limit, MMR lambda); absent: any valid
   * name, with the global defaults. A list without a placement is recorded under its strategy.
   */
  placements?: PlacementsConfig;
  /**
   * Rotation (off unless set): items of the user's last `lists` lists are demoted by `weight`, so a
   * returning user does not see the same top 10 every visit. Needs `shown`.
   */
  rotation?: { lists: number; weight: number };
  shown?: ImpressionHistory;
  now?: () => number;
  /** Told of each refold on read (the handler logs it and records `profile_refold_ms`). */
  onRefold?: (refold: ProfileRefold) => void;
  /** Where each list served is recorded (one write per list); none: nothing is recorded. */
  impressions?: ImpressionLog;
  /** How long a page's `nextToken` is good for (ms). @default 60 minutes */
  pageTokenTtlMs?: number;
  /**
   * The merchandising rules (issue 20), as this instance last read them: a cache that checks their
   * version at most once per TTL (functions/adapters/dynamodb/rule-store.ts). Absent: no rules.
   */
  rules?: () => Promise<readonly Rule[]>;
  /** Told when recording a list failed; the list is still answered (the handler logs and counts it). */
  onImpressionFailed?: (error: unknown, list: { recommendationId: string; strategy: Strategy }) => void;
}

/** A profile of another space refolded in memory for one request. */
export interface ProfileRefold {
  userId: string;
  /** The space the stored profile was folded in; undefined for a legacy profile. */
  from: string | undefined;
  to: string;
  /**
   * Set when the profile was refolded for its fold or settings (an older fold version, other
   * weights), in its own space: the settings id it was folded with.
   */
  fromSettings?: string;
  /** Raw events read. */
  events: number;
  /** Wall time of the refold: reading the events and the items' vectors, and the fold. */
  ms: number;
}

export interface RecommendationItem extends ItemView {
  score: number;
  reason: Reason;
}

export interface RecommendationList {
  recommendationId: string;
  strategy: Strategy;
  /** Where the list is shown, as the caller named it (default: the strategy's name); recorded with the impression. */
  placement: string;
  modelId: string;
  items: RecommendationItem[];
  /**
   * The next page's token (pass it back as `nextToken` with the same parameters); absent once the
   * candidate pool is exhausted.
   */
  nextToken?: string;
}

// No default here: a placement may have its own (resolved by `atPlacement`).
const limit = z.coerce.number().int().min(1).max(100).optional();
// A lone surrogate names no category or tag (none can be stored), and filters compare them with stored ones.
const label = (max: number) =>
  z.string().min(1).max(max).refine(isWellFormedUnicode, 'must be well-formed Unicode');
// Repeatable (`?category=a&category=b`): read from the raw query string, so a value may hold a comma.
const categories = z.array(label(128)).min(1).max(MAX_FILTER_VALUES).optional();
const tags = z.array(label(64)).min(1).max(MAX_FILTER_VALUES).optional();
// Kept as strings here (the OpenAPI document is generated from these schemas); numbers in `filtersOf`.
const price = z
  .string()
  .regex(/^\d{1,12}(\.\d{1,6})?$/, 'must be a non-negative decimal number (e.g. 19.99)')
  .optional();
const placement = z
  .string()
  .regex(PLACEMENT_NAME, 'must be 1..64 of a-z, 0-9, _ and -, starting with a letter or digit')
  .optional();
const filterShape = {
  category: categories,
  tag: tags,
  tagMatch: z.enum(['any', 'all']).optional(),
  minPrice: price,
  maxPrice: price,
  strict: z.enum(['true', 'false']).optional(),
  // The previous page's `nextToken` (checked in functions/domain/paging.ts).
  nextToken: z.string().min(1).max(200).optional(),
  // Counted in `filtersOf`, which refuses too many with its own code (too_many_exclusions).
  excludeIds: z
    .array(z.string().min(1).refine(isWellFormedUnicode, 'must be well-formed Unicode'))
    .optional(),
};
export const ListQuerySchema = z.strictObject({
  limit,
  exclude: z.enum(['seen']).optional(),
  placement,
  ...filterShape,
});
export const SimilarQuerySchema = z.strictObject({
  limit,
  placement,
  ...filterShape,
  maxPriceRatio: z
    .string()
    .regex(/^\d{1,3}(\.\d{1,6})?$/, 'must be a positive decimal number (e.g. 0.8)')
    .optional(),
});
export const SearchQuerySchema = z.strictObject({ limit, placement, ...filterShape });
export const HistoryQuerySchema = z.strictObject({
  kind: z.enum(HISTORY_KINDS),
  limit: z.coerce.number().int().min(1).max(100).optional().describe('How many items to return (default 20)'),
});

/** GET /users/{userId}/interests takes no parameters. */
export const InterestsQuerySchema = z.strictObject({});

/** Items of a history page when the request names no limit. */
export const DEFAULT_HISTORY_LIMIT = 20;
export const ComplementsQuerySchema = z.strictObject({
  limit,
  placement,
  /** Complements come from other categories than the item's unless this is `true`. */
  sameCategory: z.enum(['true', 'false']).optional(),
});
// One list, no pages: a trend moves faster than a reader pages, and a short list is its use.
export const TrendingQuerySchema = z.strictObject({ limit, placement, category: categories });

/** Query parameters that may be given more than once (each value kept whole, commas and all). */
export const REPEATABLE_QUERY_PARAMETERS: ReadonlySet<string> = new Set(['category', 'tag', 'excludeIds']);

/** The filters of a list request as the query gave them (strings), before `filtersOf` reads them. */
type FilterQuery = { [K in keyof typeof filterShape]?: z.output<(typeof filterShape)[K]> };

/** A list request's filters, exclusions and strictness, read and checked. */
export interface ListFilters {
  filter: ListFilter | undefined;
  excludeIds: string[];
  /** false: a list with fewer than `limit` matching items is filled from the best others. */
  strict: boolean;
}

/**
 * The request's filters: prices as numbers (a minimum above the maximum is refused), `excludeIds`
 * within its limits (400 `too_many_exclusions`), strictness from the request, else the placement.
 */
export function filtersOf(query: FilterQuery, placementStrict: boolean | undefined): ListFilters {
  const minPrice = query.minPrice === undefined ? undefined : Number(query.minPrice);
  const maxPrice = query.maxPrice === undefined ? undefined : Number(query.maxPrice);
  if (minPrice !== undefined && maxPrice !== undefined && minPrice > maxPrice)
    throw new InvalidRequest('invalid_query', `minPrice (${minPrice}) is above maxPrice (${maxPrice})`);
  const excludeIds = [...new Set(query.excludeIds ?? [])];
  const bytes = excludeIds.reduce((sum, id) => sum + Buffer.byteLength(id), 0);
  if (excludeIds.length > MAX_EXCLUDED_IDS || bytes > MAX_EXCLUDED_BYTES)
    throw new InvalidRequest(
      'too_many_exclusions',
      `excludeIds names ${excludeIds.length} items (${bytes} bytes); the limit is ${MAX_EXCLUDED_IDS} items and ${MAX_EXCLUDED_BYTES} bytes`,
      { count: excludeIds.length, bytes, maxIds: MAX_EXCLUDED_IDS, maxBytes: MAX_EXCLUDED_BYTES },
    );
  const filter: ListFilter = {
    ...(query.category ? { categories: [...new Set(query.category)] } : {}),
    ...(query.tag ? { tags: [...new Set(query.tag)], tagMatch: query.tagMatch ?? 'any' } : {}),
    ...(minPrice !== undefined ? { minPrice } : {}),
    ...(maxPrice !== undefined ? { maxPrice } : {}),
  };
  return {
    filter: isFiltering(filter) ? filter : undefined,
    excludeIds,
    strict: query.strict === undefined ? (placementStrict ?? true) : query.strict === 'true',
  };
}

export function parseQuery<T extends z.ZodType>(
  schema: T,
  query: Record<string, string | string[] | undefined> | undefined,
): z.output<T> {
  const parsed = schema.safeParse(query ?? {});
  if (!parsed.success) throw new InvalidRequest('invalid_query', describeIssues(parsed.error));
  return parsed.data;
}

/**
 * A request at its placement: the placement must be one the stack accepts (400 `unknown_placement`),
 * and its defaults apply to what the request leaves out: the limit (else 10) and MMR's lambda.
 */
export function atPlacement<Q extends { limit?: number | undefined; placement?: string | undefined }>(
  deps: Pick<RecommendDeps, 'placements' | 'ranking'>,
  query: Q,
): Q & { limit: number; ranking: RankingSettings; placementStrict: boolean | undefined } {
  const defaults = query.placement === undefined ? undefined : deps.placements?.[query.placement];
  if (query.placement !== undefined && deps.placements && !Object.hasOwn(deps.placements, query.placement)) {
    const known = Object.keys(deps.placements).sort();
    throw new InvalidRequest(
      'unknown_placement',
      `placement ${query.placement} is not one of this stack's placements (${known.join(', ')})`,
      { placement: query.placement, placements: known },
    );
  }
  return {
    ...query,
    limit: query.limit ?? defaults?.limit ?? DEFAULT_LIST_LIMIT,
    ranking:
      defaults?.mmrLambda === undefined ? deps.ranking : { ...deps.ranking, mmrLambda: defaults.mmrLambda },
    placementStrict: defaults?.strict,
  };
}

/** A category filter must name categories the catalogue has; a typo would silently return nothing. */
async function checkCategories(serving: Serving, requested: readonly string[] | undefined): Promise<void> {
  if (!requested?.length) return;
  const categories = await serving.categories();
  const unknown = categories ? requested.filter((c) => !categories.has(c)) : [];
  if (unknown.length > 0) {
    throw new InvalidRequest('unknown_category', `no items in category ${unknown.join(', ')}`, {
      category: unknown[0],
      categories: unknown,
    });
  }
}

/** Fillers for a list of fewer than `limit` matching items (`strict=false`): labelled as such. */
const outsideFilters = (ranked: ReadonlyArray<{ itemId: string; score: number }>): RankedItem[] =>
  ranked.map(({ itemId, score }) => ({ itemId, score, reason: { kind: 'outside_filters' } }));

/** How many fillers a list needs: none when strict, unfiltered or full. */
const fillersWanted = (filters: ListFilters, limit: number, listed: number): number =>
  !filters.strict && filters.filter !== undefined ? Math.max(0, limit - listed) : 0;

async function decayedPopularity(deps: RecommendDeps, now: number): Promise<Map<string, number>> {
  const popularity = await deps.aggregates.popularity();
  const factor = decayFactor({ anchor: deps.popularityEpoch }, now, deps.profileSettings.halfLifeDays);
  return new Map([...popularity].map(([itemId, weight]) => [itemId, weight * factor]));
}

/** Exploration for this list: its placement's settings and the impressions decayed to now, or none. */
async function explorationFor(
  deps: RecommendDeps,
  placement: string | undefined,
  depth: number,
  now: number,
): Promise<ExplorationInputs | undefined> {
  const settings =
    (placement !== undefined ? deps.exploration?.placements?.[placement] : undefined) ??
    deps.exploration?.default;
  if (!settings || explorationSlots(settings, depth) === 0) return undefined;
  return {
    settings,
    impressions: await deps.aggregates.impressions(),
    impressionScale: impressionDecay(deps.popularityEpoch, now),
  };
}

async function withViews(deps: RecommendDeps, ranked: readonly RankedItem[]): Promise<RecommendationItem[]> {
  const views = await deps.reader.views(ranked.map((r) => r.itemId));
  return ranked.flatMap((r) => {
    const view = views.get(r.itemId);
    return view ? [{ ...view, score: Math.round(r.score * 1e5) / 1e5, reason: r.reason }] : [];
  });
}

/** A list about to be served, as its impression records it. */
interface ServedList {
  recommendationId: string;
  strategy: Strategy;
  placement: string;
  /** Undefined for a list served without a user. */
  userId: string | undefined;
  servedAt: number;
}

/** Where a page starts: the items shown on the chain's earlier pages, and what a next token is bound to. */
interface PageStart {
  shown: string[];
  key: string;
}

/** How far a page's ranking must go: past what was shown, the page, and one more to tell if there is a next. */
const depthOf = (page: PageStart, limit: number) => page.shown.length + limit + 1;

/**
 * The page the caller asked for: the first page, or (with `nextToken`) the items shown before it,
 * after the token's checks (functions/domain/paging.ts). `parts` is what the token is bound to.
 */
async function pageStart(
  deps: RecommendDeps,
  nextToken: string | undefined,
  viewer: string | undefined,
  parts: readonly unknown[],
  now: number,
): Promise<PageStart> {
  const key = pagingKey(parts);
  if (nextToken === undefined) return { shown: [], key };
  const shown = await shownBefore(
    nextToken,
    { viewer, key, now, ttlMs: deps.pageTokenTtlMs ?? DEFAULT_PAGE_TOKEN_TTL_MINUTES * 60_000 },
    async (token) => deps.impressions?.page(viewer, token.recommendationId),
  );
  return { shown, key };
}

/**
 * The ranking down to `depthOf(page, limit)`, less what earlier pages showed: this page, and whether
 * there is another. With nothing changed since the first page, this is exactly the next stretch of
 * that page's ranking (a list is the start of any longer one); whatever changed, nothing repeats.
 */
function pageOf(ranked: readonly RankedItem[], page: PageStart, limit: number) {
  const shown = new Set(page.shown);
  const rest = ranked.filter((r) => !shown.has(r.itemId));
  const items = rest.slice(0, limit);
  return { items, more: rest.length > limit && page.shown.length + items.length < MAX_PAGED_ITEMS };
}

/**
 * The page's items with their views, its impression recorded meanwhile: one write beside the views'
 * read, never after the response (Lambda freezes once it returns). The impression holds the ranked
 * items (an item whose view is missing, deleted since the index refresh, keeps its position there),
 * at positions that continue the earlier pages', and, when there is a next page, what its token is
 * checked against. A failed write is reported, not thrown: the list is what the user waits for, but
 * it then has no next token (the token would name a list that is not stored).
 */
async function servedPage(
  deps: RecommendDeps,
  list: ServedList,
  ranked: readonly RankedItem[],
  page: PageStart,
  limit: number,
): Promise<{ items: RecommendationItem[]; nextToken?: string }> {
  const { items: pageItems, more } = pageOf(ranked, page, limit);
  const paging = more
    ? { nonce: newNonce(), key: page.key, shown: [...page.shown, ...pageItems.map((r) => r.itemId)] }
    : undefined;
  const record = async (): Promise<boolean> => {
    if (!deps.impressions) return false;
    try {
      await deps.impressions.record({
        recommendationId: list.recommendationId,
        ...(list.userId !== undefined ? { userId: list.userId } : {}),
        placement: list.placement,
        strategy: list.strategy,
        modelId: deps.modelId,
        servedAt: list.servedAt,
        items: impressionItems(pageItems, page.shown.length),
        ...(paging ? { paging } : {}),
      });
      return true;
    } catch (error) {
      deps.onImpressionFailed?.(error, list);
      return false;
    }
  };
  const [items, recorded] = await Promise.all([withViews(deps, pageItems), record()]);
  return {
    items,
    ...(paging && recorded
      ? {
          nextToken: encodePageToken({
            recommendationId: list.recommendationId,
            nonce: paging.nonce,
            viewer: viewerTag(list.userId),
          }),
        }
      : {}),
  };
}

/** A new list's id (a UUIDv7 of `now`), strategy and placement. */
function newList(strategy: Strategy, placement: string | undefined, userId: string | undefined, now: number) {
  return {
    recommendationId: newRecommendationId(now),
    strategy,
    placement: placement ?? strategy,
    userId,
    servedAt: now,
  };
}

/** What a token of a list route is bound to, besides the route's subject. */
const boundParts = (
  filters: ListFilters,
  placement: string | undefined,
  extra: Record<string, unknown> = {},
): unknown[] => [
  canonicalFilter(filters.filter),
  [...filters.excludeIds].sort(),
  filters.strict,
  placement ?? null,
  extra,
];

/**
 * A list request at its placement (its defaults applied), its filters read and checked (categories
 * the catalogue has), and the time it is served at: what every list route starts from.
 */
async function listRequest<
  Q extends FilterQuery & { limit?: number | undefined; placement?: string | undefined },
>(deps: RecommendDeps, requested: Q) {
  const query = atPlacement(deps, requested);
  const filters = filtersOf(query, query.placementStrict);
  await checkCategories(deps.serving, filters.filter?.categories);
  return { query, filters, now: (deps.now ?? Date.now)() };
}

/** The items the rules pin, which must be loaded with the candidates (the `dynamodb-vector` backend). */
const pinnedIds = (rules: readonly Rule[]): string[] =>
  rules.flatMap((rule) => (rule.kind === 'pin' ? [rule.itemId] : []));

/**
 * The list with its pins applied (functions/domain/merchandising.ts): a pinned item that may be shown
 * here (`accept`, on its attributes in `index`) sits at its position and nowhere else.
 */
function pinned(
  ranked: RankedItem[],
  rules: ListRules | undefined,
  index: Pick<VectorIndex, 'attributes'>,
  accept: (itemId: string, attributes: ItemAttributes) => boolean,
  depth: number,
): RankedItem[] {
  if (!rules || rules.pins.length === 0) return ranked;
  const scores = new Map(ranked.map((r) => [r.itemId, r.score]));
  return applyPins(
    ranked,
    rules.pins,
    (itemId) => {
      const attributes = index.attributes(itemId);
      return attributes !== undefined && accept(itemId, attributes);
    },
    (pin) => ({
      itemId: pin.itemId,
      score: scores.get(pin.itemId) ?? 0,
      reason: { kind: 'pinned', ruleId: pin.ruleId },
    }),
    depth,
  );
}

export function recommendForUser(
  deps: RecommendDeps,
  userId: string,
  requested: z.output<typeof ListQuerySchema>,
): Promise<RecommendationList & { userId: string }> {
  return withIndexLoading(deps, () => listForUser(deps, userId, requested));
}

/**
 * Runs a list's work with the serving index's load started beside it (Serving.prepare): on a cold
 * start the snapshot downloads while the list reads the profile, the page, the rules and the
 * aggregates, or while image search loads its model. The load is awaited before the answer, failed
 * or not, so nothing runs after it (Lambda freezes an instance once it has answered).
 */
async function withIndexLoading<T>(deps: RecommendDeps, work: () => Promise<T>): Promise<T> {
  const loading = deps.serving.prepare?.();
  try {
    return await work();
  } finally {
    await loading;
  }
}

async function listForUser(
  deps: RecommendDeps,
  userId: string,
  requested: z.output<typeof ListQuerySchema>,
): Promise<RecommendationList & { userId: string }> {
  const { query, filters, now } = await listRequest(deps, requested);
  const [inSpace, page, allRules] = await Promise.all([
    profileInActiveSpace(deps, userId),
    pageStart(
      deps,
      query.nextToken,
      userId,
      ['user', userId, ...boundParts(filters, query.placement, { exclude: query.exclude ?? null })],
      now,
    ),
    deps.rules?.() ?? [],
  ]);
  // The shopper's edits in effect now: muted interests retrieve nothing, boosted ones weigh more.
  const stored = inSpace && { ...inSpace, profile: servingProfile(inSpace.profile, now) };
  const depth = depthOf(page, query.limit);
  const request: ListRequest = {
    limit: depth,
    ...(filters.filter ? { filter: filters.filter } : {}),
    excludeSeen: query.exclude === 'seen',
    excludeIds: filters.excludeIds,
  };
  const explorationRead = explorationFor(deps, query.placement, depth, now);
  let strategy: Strategy;
  let ranked: RankedItem[];
  if (!stored || stored.profile.centroids.length === 0) {
    strategy = 'popular';
    const rules = listRules(allRules, { placement: query.placement ?? strategy, list: 'popular', now });
    const [popularity, exploration] = await Promise.all([decayedPopularity(deps, now), explorationRead]);
    const top = [...popularity]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10 * depth + (stored?.profile.exclusions.length ?? 0));
    const index = await deps.serving.forItems([...top.map(([itemId]) => itemId), ...pinnedIds(allRules)]);
    const accept = exclusionFilter(stored?.profile, request);
    const positions = explorationPositions(exploration?.settings, depth);
    const organic = rankPopular(
      index,
      popularity,
      accept,
      depth + positions.length + promotionSlots(rules?.promotions ?? [], depth),
      rules,
    );
    const explored = exploration
      ? interleaveExploration(
          organic,
          explorationForNewcomers(index, accept, exploration, now),
          positions,
          { minRelevance: 0, floor: 'none' },
          depth + promotionSlots(rules?.promotions ?? [], depth),
        )
      : organic;
    const promoted = interleavePromotions(
      explored,
      rules?.promotions ?? [],
      (promotion) =>
        rankPopular(
          index,
          popularity,
          (id, a) => accept(id, a) && promotion.matches(id, a),
          promotionCandidates(promotion.share),
          rules,
        ).map((r) => promotedItem(promotion.ruleId, r)),
      depth,
    );
    ranked = pinned(promoted.slice(0, depth), rules, index, accept, depth);
    const wanted = fillersWanted(filters, depth, ranked.length);
    if (wanted > 0) {
      const listed = new Set(ranked.map((r) => r.itemId));
      const unfiltered = exclusionFilter(stored?.profile, { ...request, filter: undefined });
      ranked = [
        ...ranked,
        ...outsideFilters(
          rankPopular(index, popularity, (id, a) => !listed.has(id) && unfiltered(id, a), wanted),
        ),
      ];
    }
  } else {
    strategy = 'personal';
    const rules = listRules(allRules, { placement: query.placement ?? strategy, list: 'personal', now });
    const { profile } = stored;
    const recent = profile.positives.slice(0, 10).map((p) => p.itemId);
    const factor = decayFactor({ anchor: deps.popularityEpoch }, now, deps.profileSettings.halfLifeDays);
    const rotation = deps.rotation && deps.rotation.lists > 0 && deps.shown ? deps.rotation : undefined;
    const [coEngaged, exploration, recentlyShown] = await Promise.all([
      deps.ranking.coEngagementWeight > 0 ? deps.aggregates.coEngagement(recent) : undefined,
      explorationRead,
      rotation ? deps.shown?.recentItems(userId, rotation.lists) : undefined,
    ]);
    const coEngagement = coEngaged && new Map([...coEngaged].map(([itemId, w]) => [itemId, w * factor]));
    const queries = profile.centroids.map((c) => normalised(c.sum));
    const pool = Math.max(deps.ranking.candidatePool, depth);
    const alsoLoad = [
      ...profile.positives.map((p) => p.itemId),
      ...profile.penalties.map((p) => p.itemId),
      ...(coEngagement?.keys() ?? []),
      ...pinnedIds(allRules),
    ];
    const index = await deps.serving.forQueries(queries, pool, {
      ...(filters.filter ? { filter: filters.filter } : {}),
      alsoLoad,
    });
    const inputs = {
      index,
      profile,
      profileSettings: deps.profileSettings,
      settings: query.ranking,
      now,
      coEngagement,
      ...(rotation && recentlyShown ? { recentlyShown, rotationWeight: rotation.weight } : {}),
    };
    ranked = pinned(
      rankForUser(
        { ...inputs, ...(exploration ? { exploration } : {}), ...(rules ? { rules } : {}) },
        request,
      ),
      rules,
      index,
      exclusionFilter(profile, request),
      depth,
    );
    const wanted = fillersWanted(filters, depth, ranked.length);
    if (wanted > 0) {
      // The best of the rest, unfiltered, after the matching items: one more retrieval, only when short.
      const everything = await deps.serving.forQueries(queries, pool, { alsoLoad });
      const fillers = rankForUser(
        { ...inputs, index: everything },
        {
          ...request,
          filter: undefined,
          limit: wanted,
          excludeIds: [...filters.excludeIds, ...ranked.map((r) => r.itemId)],
        },
      );
      ranked = [...ranked, ...outsideFilters(fillers)];
    }
  }
  const list = newList(strategy, query.placement, userId, now);
  const served = await servedPage(deps, list, ranked, page, query.limit);
  return {
    userId,
    recommendationId: list.recommendationId,
    strategy: list.strategy,
    placement: list.placement,
    modelId: deps.modelId,
    items: served.items,
    ...(served.nextToken ? { nextToken: served.nextToken } : {}),
  };
}

/**
 * The user's profile in the active space. One of another space (a model switch, or a legacy profile)
 * is refolded in memory from the raw events with the active space's vectors: recommend writes
 * nothing, and the user's next event persists the refold (see `recordEvents`).
 */
async function profileInActiveSpace(
  deps: RecommendDeps,
  userId: string,
  options: { currentFold?: boolean } = {},
): Promise<StoredProfile | undefined> {
  const stored = await deps.profiles.getProfile(userId);
  if (!stored) return stored;
  const inSpace = foldedIn(stored, deps.modelId);
  const inFold = !options.currentFold || foldedWith(stored, deps.profileSettings);
  if (inSpace && inFold) return stored;
  const started = performance.now();
  const refolded = await refoldProfile({ history: deps.history, catalogue: deps.catalogue }, userId, {
    epoch: stored.epoch,
    dim: deps.dim,
    settings: deps.profileSettings,
  });
  deps.onRefold?.({
    userId,
    from: stored.space,
    to: deps.modelId,
    ...(inFold ? {} : { fromSettings: stored.settingsId }),
    events: refolded.events,
    ms: performance.now() - started,
  });
  return { ...stored, profile: refolded.profile, space: deps.modelId };
}

export interface HistoryItem extends ItemView {
  /** When the user last viewed (or clicked) or bought the item: ISO 8601. */
  at: string;
}

export interface UserHistory {
  userId: string;
  kind: HistoryKind;
  /** Newest first, each item once; items deleted since are left out. */
  items: HistoryItem[];
}

/**
 * Recently viewed or bought items ("buy again"), newest first, with the lists' item views. A profile
 * of an older fold (no typed lists) or another space is refolded in memory, as for a list: the
 * history must not read as empty until the user's next event.
 */
export async function userHistory(
  deps: RecommendDeps,
  userId: string,
  query: z.output<typeof HistoryQuerySchema>,
): Promise<UserHistory> {
  const stored = await profileInActiveSpace(deps, userId, { currentFold: true });
  // The whole list (at most maxViewed or maxPurchased) is read, so deleted items do not shorten a page.
  const entries = stored?.profile[query.kind] ?? [];
  const views = await deps.reader.views(entries.map((entry) => entry.itemId));
  const items = entries.flatMap((entry) => {
    const view = views.get(entry.itemId);
    return view ? [{ ...view, at: new Date(entry.at).toISOString() }] : [];
  });
  return { userId, kind: query.kind, items: items.slice(0, query.limit ?? DEFAULT_HISTORY_LIMIT) };
}

/** How many of an interest's members stand for it: those closest to its centroid (its medoids). */
export const INTEREST_REPRESENTATIVES = 4;

export interface InterestView {
  /** Stable: a rebuild from the raw events gives the same id. */
  interestId: string;
  /** The interest's share of the profile's decayed weight (0..1; boosts not counted). */
  weight: number;
  /** The most common category among its members, when they have one. */
  label?: string;
  /** Member items still in the catalogue. */
  memberCount: number;
  /** Until when it is muted or boosted, ISO 8601, while it is. */
  mutedUntil?: string;
  boostedUntil?: string;
  /** Its most representative members, closest to the centroid first, with their item views. */
  items: ItemView[];
}

/**
 * A user's interests as the shopper sees them (issue 23): heaviest first, each with its stable id,
 * weight, label and its representative members. A profile of an older fold (no ids) or of another
 * space is refolded in memory first, as for the history.
 */
export async function userInterests(
  deps: RecommendDeps,
  userId: string,
): Promise<{ userId: string; interests: InterestView[] }> {
  const now = (deps.now ?? Date.now)();
  const stored = await profileInActiveSpace(deps, userId, { currentFold: true });
  const centroids = stored?.profile.centroids ?? [];
  if (!stored || centroids.length === 0) return { userId, interests: [] };
  const factor = decayFactor(stored.profile, now, deps.profileSettings.halfLifeDays);
  const total = centroids.reduce((sum, c) => sum + c.mass * factor, 0) || 1;
  const members = [...new Set(centroids.flatMap((c) => c.itemIds))];
  const [snapshots, views] = await Promise.all([
    deps.catalogue.getItems(members),
    deps.reader.views(members),
  ]);
  const interests = centroids.map((centroid): InterestView => {
    const present = centroid.itemIds.filter((id) => snapshots.get(id)?.vector && views.has(id));
    const closest = present
      .map((id) => ({
        id,
        similarity: centroidCosine(centroid.sum, snapshots.get(id)?.vector as Float32Array),
      }))
      .sort((a, b) => b.similarity - a.similarity || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, INTEREST_REPRESENTATIVES);
    const categories = new Map<string, number>();
    for (const id of present) {
      const category = snapshots.get(id)?.category;
      if (category !== undefined) categories.set(category, (categories.get(category) ?? 0) + 1);
    }
    const label = [...categories].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0];
    return {
      interestId: centroid.id ?? '',
      weight: Math.round(((centroid.mass * factor) / total) * 1e4) / 1e4,
      ...(label !== undefined ? { label } : {}),
      memberCount: present.length,
      ...(isMuted(centroid, now)
        ? { mutedUntil: new Date(centroid.mutedUntil as number).toISOString() }
        : {}),
      ...(isBoosted(centroid, now)
        ? { boostedUntil: new Date(centroid.boostedUntil as number).toISOString() }
        : {}),
      items: closest.map(({ id }) => views.get(id) as ItemView),
    };
  });
  interests.sort((a, b) => b.weight - a.weight || (a.interestId < b.interestId ? -1 : 1));
  return { userId, interests };
}

export function similarItems(
  deps: RecommendDeps,
  itemId: string,
  requested: z.output<typeof SimilarQuerySchema>,
  /** The user the list is shown to, when the caller is one. */
  viewer?: string,
): Promise<RecommendationList & { itemId: string }> {
  return withIndexLoading(deps, () => listLikeItem(deps, itemId, requested, viewer));
}

async function listLikeItem(
  deps: RecommendDeps,
  itemId: string,
  requested: z.output<typeof SimilarQuerySchema>,
  viewer?: string,
): Promise<RecommendationList & { itemId: string }> {
  const { query, filters, now } = await listRequest(deps, requested);
  const page = await pageStart(
    deps,
    query.nextToken,
    viewer,
    ['item', itemId, ...boundParts(filters, query.placement, { maxPriceRatio: query.maxPriceRatio ?? null })],
    now,
  );
  const depth = depthOf(page, query.limit);
  let index = await deps.serving.forQueries([], 0, {});
  const { vector, price } = await referenceItem(deps, index, itemId);
  if (query.maxPriceRatio !== undefined) {
    const ratio = Number(query.maxPriceRatio);
    if (!(ratio > 0)) throw new InvalidRequest('invalid_query', 'maxPriceRatio: must be above 0');
    if (price === undefined)
      throw new InvalidRequest('no_reference_price', `item ${itemId} has no price to compare with`, {
        itemId,
      });
    filters.filter = withRelativePrice(filters.filter, ratio, price);
  }
  const allRules = (await deps.rules?.()) ?? [];
  const rules = listRules(allRules, { placement: query.placement ?? 'similar_item', list: 'similar', now });
  const [loaded, exploration] = await Promise.all([
    deps.serving.forQueries([vector], depth + 1, {
      ...(filters.filter ? { filter: filters.filter } : {}),
      ...(rules?.pins.length ? { alsoLoad: pinnedIds(allRules) } : {}),
    }),
    explorationFor(deps, query.placement, depth, now),
  ]);
  index = loaded;
  const excluded = new Set([itemId, ...filters.excludeIds]);
  const matches = filterPredicate(filters.filter);
  const eligible = (id: string, attributes: ItemAttributes) => !excluded.has(id) && attributes.available;
  const accept = (id: string, attributes: ItemAttributes) => eligible(id, attributes) && matches(attributes);
  const positions = explorationPositions(exploration?.settings, depth);
  const promotionDepth = depth + promotionSlots(rules?.promotions ?? [], depth);
  const similarTo = (hits: Array<{ itemId: string; score: number }>): RankedItem[] =>
    hits.map((r) => {
      const adjustment = scoreAdjustment(rules, r.itemId, index.attributes(r.itemId));
      return {
        itemId: r.itemId,
        score: adjustment ? scaledScore(r.score, adjustment.factor) : r.score,
        reason: withRules({ kind: 'similar_to_item', itemId }, adjustment?.ruleIds),
      };
    });
  let organic = similarTo(index.search({ queries: [vector], k: promotionDepth + positions.length, accept }));
  const boosted = boostMatcher(rules);
  if (rules && rules.scores.length > 0) {
    // Boosted items a little further away may now make the list: the closest of them join, then all re-sort.
    const listed = new Set(organic.map((r) => r.itemId));
    const more = boosted
      ? index.search({
          queries: [vector],
          k: promotionDepth,
          accept: (id, a) => !listed.has(id) && accept(id, a) && boosted(id, a),
        })
      : [];
    organic = [...organic, ...similarTo(more)].sort(
      (a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1),
    );
  }
  // New items that would not make the list on their own (those in it keep their place).
  const explored = exploration
    ? interleaveExploration(
        organic,
        explorationNear(index, vector, accept, exploration, now, itemId),
        positions,
        exploration.settings,
        promotionDepth,
        explorableItem(index, exploration, now),
      )
    : organic;
  const promoted = interleavePromotions(
    explored,
    rules?.promotions ?? [],
    (promotion) =>
      index
        .search({
          queries: [vector],
          k: promotionCandidates(promotion.share),
          accept: (id, a) => accept(id, a) && promotion.matches(id, a),
        })
        .map((hit) =>
          promotedItem(promotion.ruleId, hit, { itemId, similarity: Math.round(hit.score * 1000) / 1000 }),
        ),
    depth,
  );
  const ranked = pinned(promoted.slice(0, depth), rules, index, accept, depth);
  const list = newList('similar_item', query.placement, viewer, now);
  const served = await servedPage(
    deps,
    list,
    await withFillers(deps, filters, depth, ranked, vector, eligible),
    page,
    query.limit,
  );
  return {
    itemId,
    recommendationId: list.recommendationId,
    strategy: list.strategy,
    placement: list.placement,
    modelId: deps.modelId,
    items: served.items,
    ...(served.nextToken ? { nextToken: served.nextToken } : {}),
  };
}

/** The categories most often bought with the item's that the fallback draws from. */
const FALLBACK_CATEGORIES = 3;
/** The most chosen items of a fallback category whose neighbours are its candidates. */
const FALLBACK_ANCHORS = 8;

/** A unit-length copy of a vector. */
function unitCopy(vector: Float32Array): Float32Array {
  let squares = 0;
  for (const value of vector) squares += value * value;
  const norm = Math.sqrt(squares) || 1;
  return Float32Array.from(vector, (value) => value / norm);
}

/**
 * How much an item looks like one that buyers chose: its cosine, sharpened (the fourth power of its
 * positive part), so that what is near one chosen look counts more than what is halfway between two.
 */
function closeness(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += (a[i] as number) * (b[i] as number);
  return Math.max(0, dot) ** 4;
}

/** Cosine of two vectors (index vectors are unit length, a stored one may not be). */
function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] ?? 0;
    dot += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa > 0 && bb > 0 ? dot / Math.sqrt(aa * bb) : 0;
}

/**
 * "Goes with this" (issue 22): items bought or put in a cart together with `itemId`, then, when those
 * are too few for the list, items of the categories most often bought with its category, closest to
 * what those buyers chose there (functions/domain/complements.ts). Never the item itself nor its
 * near-duplicates; other categories than the item's unless `sameCategory=true`. One page, recorded
 * as an impression like the other lists.
 */
export async function complementItems(
  deps: RecommendDeps,
  itemId: string,
  requested: z.output<typeof ComplementsQuerySchema>,
  /** The user the list is shown to, when the caller is one. */
  viewer?: string,
): Promise<RecommendationList & { itemId: string }> {
  const query = atPlacement(deps, requested);
  const now = (deps.now ?? Date.now)();
  const sameCategory = query.sameCategory === 'true';
  const { vector: itemVector, category } = await referenceItem(
    deps,
    await deps.serving.forItems([itemId]),
    itemId,
  );
  const vetted = new Map<string, boolean>();
  const vet = (id: string, attributes: ItemAttributes | undefined, candidate: Float32Array | undefined) => {
    const ok =
      id !== itemId &&
      attributes?.available === true &&
      candidate !== undefined &&
      (sameCategory || category === undefined || attributes.category !== category) &&
      cosine(candidate, itemVector) <= NEAR_DUPLICATE_COSINE;
    vetted.set(id, ok);
    return ok;
  };
  const coPurchased = (await deps.coPurchases?.with(itemId)) ?? new Map<string, number>();
  const loaded = await deps.serving.forItems([...coPurchased.keys()]);
  for (const id of coPurchased.keys()) vet(id, loaded.attributes(id), loaded.vector(id));
  const usable = [...coPurchased.keys()].filter((id) => vetted.get(id)).length;
  const fallback: CategoryFallback[] =
    usable < query.limit && category !== undefined && deps.coPurchases
      ? await categoryFallback(deps, deps.coPurchases, category, sameCategory, query.limit, vet)
      : [];
  const ranked = complementList(itemId, coPurchased, fallback, query.limit, (id) => vetted.get(id) === true);
  const list = newList('complements', query.placement, viewer, now);
  const served = await servedPage(deps, list, ranked, { shown: [], key: '' }, query.limit);
  return {
    itemId,
    recommendationId: list.recommendationId,
    strategy: list.strategy,
    placement: list.placement,
    modelId: deps.modelId,
    items: served.items,
  };
}

/**
 * The fallback of thin co-purchases: for each of the categories most often bought with `category`
 * (its own left out unless `sameCategory`), its items closest to those of its items that buyers of
 * `category` chose: near the most chosen ones, scored by their closeness to every chosen one.
 */
async function categoryFallback(
  deps: RecommendDeps,
  coPurchases: CoPurchases,
  category: string,
  sameCategory: boolean,
  limit: number,
  vet: (id: string, attributes: ItemAttributes | undefined, vector: Float32Array | undefined) => boolean,
): Promise<CategoryFallback[]> {
  const partners = [...(await coPurchases.categoriesWith(category))]
    .filter(([partner, weight]) => weight > 0 && (sameCategory || partner !== category))
    .sort(([a, wa], [b, wb]) => wb - wa || (a < b ? -1 : 1))
    .slice(0, FALLBACK_CATEGORIES);
  return Promise.all(
    partners.map(async ([partner]): Promise<CategoryFallback> => {
      const chosen = await coPurchases.itemsBoughtWith(category, partner);
      const chosenIndex = await deps.serving.forItems([...chosen.keys()]);
      const picks = [...chosen].flatMap(([id, weight]) => {
        const vector = chosenIndex.vector(id);
        return vector && weight > 0 ? [{ vector: unitCopy(vector), weight }] : [];
      });
      if (picks.length === 0) return { category: partner, items: [] };
      // Candidates near the most chosen items (what buyers chose may be several looks, whose average
      // would look like none of them), each scored by how close it is to everything chosen.
      const anchors = [...picks].sort((a, b) => b.weight - a.weight).slice(0, FALLBACK_ANCHORS);
      const k = 2 * limit + 1;
      const near = await deps.serving.forQueries(
        anchors.map((a) => a.vector),
        k,
        { filter: { categories: [partner] } },
      );
      const candidates = new Set<string>();
      for (const anchor of anchors)
        for (const hit of near.search({
          queries: [anchor.vector],
          k,
          accept: (id, attributes) => attributes.category === partner && vet(id, attributes, near.vector(id)),
        }))
          candidates.add(hit.itemId);
      const total = picks.reduce((sum, p) => sum + p.weight, 0);
      const items = [...candidates]
        .map((id) => {
          const vector = unitCopy(near.vector(id) as Float32Array);
          let score = 0;
          for (const pick of picks) score += pick.weight * closeness(vector, pick.vector);
          return { itemId: id, score: score / total };
        })
        .sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1))
        .slice(0, k);
      return { category: partner, items };
    }),
  );
}

/**
 * A list about one vector (similar items, image search) with its fillers when it is short and not
 * strict: the items closest to the vector that are eligible but outside the filters, after the rest.
 */
async function withFillers(
  deps: RecommendDeps,
  filters: ListFilters,
  depth: number,
  ranked: RankedItem[],
  vector: Float32Array,
  eligible: (itemId: string, attributes: ItemAttributes) => boolean,
): Promise<RankedItem[]> {
  const wanted = fillersWanted(filters, depth, ranked.length);
  if (wanted === 0) return ranked;
  const listed = new Set(ranked.map((r) => r.itemId));
  const everything = await deps.serving.forQueries([vector], depth + listed.size + 1, {});
  const fillers = everything.search({
    queries: [vector],
    k: wanted,
    accept: (id, attributes) => !listed.has(id) && eligible(id, attributes),
  });
  return [...ranked, ...outsideFilters(fillers)];
}

/**
 * The item a list is about: its vector, price and category from the index, or, when it is not served
 * (unavailable, say) but known, from its stored row, whose vector still says what it looks like.
 * Unknown or deleted: 404; known without a vector in the served space: 409 item_not_ready.
 */
async function referenceItem(
  deps: RecommendDeps,
  index: Pick<VectorIndex, 'vector' | 'attributes'>,
  itemId: string,
): Promise<{ vector: Float32Array; price: number | undefined; category: string | undefined }> {
  const vector = index.vector(itemId);
  if (vector) {
    const attributes = index.attributes(itemId);
    return { vector, price: attributes?.price, category: attributes?.category };
  }
  const item = await deps.reader.get(itemId);
  if (!item || item.status === 'deleted') throw new NotFound('item', itemId);
  const stored = item.vectors[deps.modelId] ?? inServedSpace(deps, item.vectors);
  if (!stored) throw new ItemNotReady(`item ${itemId} is ${item.status} and has no vector`);
  return { vector: stored, price: item.price, category: item.category };
}

/** An item's base-space vector projected into the served learned space, when one serves. */
function inServedSpace(deps: RecommendDeps, vectors: Record<string, Float32Array>): Float32Array | undefined {
  const base = deps.projection && vectors[deps.projection.baseModelId];
  return deps.projection && base ? projectVector(deps.projection, base) : undefined;
}

export function searchByImage(
  deps: RecommendDeps,
  image: Uint8Array,
  requested: z.output<typeof SearchQuerySchema>,
  /** The user the list is shown to, when the caller is one. */
  viewer?: string,
): Promise<RecommendationList & { queryMs: { embed: number } }> {
  return withIndexLoading(deps, () => listLikePhoto(deps, image, requested, viewer));
}

async function listLikePhoto(
  deps: RecommendDeps,
  image: Uint8Array,
  requested: z.output<typeof SearchQuerySchema>,
  viewer?: string,
): Promise<RecommendationList & { queryMs: { embed: number } }> {
  const { query, filters, now } = await listRequest(deps, requested);
  // A next page must come with the same image: the token is bound to its bytes.
  const page = await pageStart(
    deps,
    query.nextToken,
    viewer,
    ['image', createHash('sha256').update(image).digest('hex'), ...boundParts(filters, query.placement)],
    now,
  );
  const depth = depthOf(page, query.limit);
  const started = performance.now();
  const embedded = (await (await deps.embedder()).embed(image)).vector;
  const vector = deps.projection ? projectVector(deps.projection, embedded) : embedded;
  const embedMs = performance.now() - started;
  const index = await deps.serving.forQueries(
    [vector],
    depth,
    filters.filter ? { filter: filters.filter } : {},
  );
  const excluded = new Set(filters.excludeIds);
  const matches = filterPredicate(filters.filter);
  const eligible = (id: string, attributes: ItemAttributes) => !excluded.has(id) && attributes.available;
  const found = index
    .search({ queries: [vector], k: depth, accept: (id, a) => eligible(id, a) && matches(a) })
    .map((r): RankedItem => ({ ...r, reason: { kind: 'similar_to_image' } }));
  const list = newList('similar_image', query.placement, viewer, now);
  const served = await servedPage(
    deps,
    list,
    await withFillers(deps, filters, depth, found, vector, eligible),
    page,
    query.limit,
  );
  return {
    recommendationId: list.recommendationId,
    strategy: list.strategy,
    placement: list.placement,
    modelId: deps.modelId,
    items: served.items,
    ...(served.nextToken ? { nextToken: served.nextToken } : {}),
    queryMs: { embed: Math.round(embedMs) },
  };
}

const DAY_MS = 86_400_000;
const round = (value: number) => Math.round(value * 1e3) / 1e3;

/**
 * Items whose engagement is rising fastest (functions/domain/trending.ts), overall or in the given
 * categories (400 `unknown_category` for one the catalogue lacks), available items only, from the
 * short- and long-term popularity this instance last read (AggregateCache). No merchandising rules,
 * exploration or fillers: the list reports a trend, and may be short or empty when nothing trends.
 * Recorded as an impression like every list served.
 */
export async function trendingItems(
  deps: RecommendDeps,
  requested: z.output<typeof TrendingQuerySchema>,
  /** The user the list is shown to, when the caller is one. */
  viewer?: string,
): Promise<Omit<RecommendationList, 'nextToken'>> {
  const query = atPlacement(deps, requested);
  const categories = query.category ? [...new Set(query.category)] : undefined;
  await checkCategories(deps.serving, categories);
  const now = (deps.now ?? Date.now)();
  const [recent, popularity] = await Promise.all([
    deps.aggregates.recentPopularity(),
    decayedPopularity(deps, now),
  ]);
  const candidates = trendingScores({
    recent,
    popularity,
    longHalfLifeMs: deps.profileSettings.halfLifeDays * DAY_MS,
    settings: deps.trending ?? DEFAULT_TRENDING,
    now,
  });
  const index = await deps.serving.forItems(candidates.map((c) => c.itemId));
  const matches = filterPredicate(categories ? { categories } : undefined);
  const ranked: RankedItem[] = [];
  for (const candidate of candidates) {
    if (ranked.length >= query.limit) break;
    const attributes = index.attributes(candidate.itemId);
    if (!attributes?.available || !matches(attributes)) continue;
    ranked.push({
      itemId: candidate.itemId,
      score: candidate.score,
      reason: { kind: 'trending', recent: round(candidate.recent), expected: round(candidate.expected) },
    });
  }
  const list = newList('trending', query.placement, viewer, now);
  const served = await servedPage(
    deps,
    list,
    ranked,
    { shown: [], key: pagingKey(['trending', categories ?? null, query.placement ?? null]) },
    query.limit,
  );
  return {
    recommendationId: list.recommendationId,
    strategy: list.strategy,
    placement: list.placement,
    modelId: deps.modelId,
    items: served.items,
  };
}

export async function itemDetails(deps: RecommendDeps, itemId: string) {
  const item = await deps.reader.get(itemId);
  if (!item || item.status === 'deleted') throw new NotFound('item', itemId);
  return {
    itemId: item.itemId,
    status: item.status,
    ...(item.rejection ? { rejection: item.rejection } : {}),
    ...(item.lastUpdateError
      ? {
          lastUpdateError: {
            code: item.lastUpdateError.code,
            message: item.lastUpdateError.message,
            key: item.lastUpdateError.key,
            at: new Date(item.lastUpdateError.at).toISOString(),
          },
        }
      : {}),
    title: item.title,
    category: item.category,
    price: item.price,
    tags: item.tags,
    available: item.available !== false,
    modelIds: Object.keys(item.vectors).sort(),
    servedByActiveModel: item.vectors[deps.modelId] !== undefined,
    ...(item.metadataWarnings ? { metadataWarnings: item.metadataWarnings } : {}),
    createdAt: new Date(item.createdAt).toISOString(),
    updatedAt: new Date(item.updatedAt).toISOString(),
    imageUrl: await deps.reader.imageUrl(item.source),
  };
}

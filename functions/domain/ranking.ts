import { DEFAULT_EXPLORATION, type ExplorationSettings } from '../contract/exploration';
import { MAX_RULE_FACTOR } from '../contract/rules';
import { type ItemAttributes, MAX_K, type VectorIndex } from '../vector-index';

export { DEFAULT_EXPLORATION, type ExplorationSettings };

import { decayFactor, type InterestProfile, type ProfileSettings } from './interest-profile';
import { filterPredicate, type ListFilter } from './list-filter';
import {
  boostMatcher,
  type ListRules,
  type MatchingItems,
  matchingItems,
  type PromotionRule,
  scaledScore,
  scoreAdjustment,
} from './merchandising';

export interface RankingSettings {
  /** MMR trade-off: 1 = relevance only, 0 = diversity only. */
  mmrLambda: number;
  /** How hard disliked/hidden look-alikes are pushed down. */
  penaltyWeight: number;
  /** Weight of the co-engagement signal; 0 turns it off. */
  coEngagementWeight: number;
  /** Decayed co-engagement mass below which the signal is ignored (too little of it to trust). */
  minCoEngagement: number;
  /** Candidates re-ranked by penalties, co-engagement and MMR. */
  candidatePool: number;
  /**
   * Each taste's similarities are divided by max(its best candidate's, this): a tight taste cannot
   * crowd out a loose one, and a taste whose best match is weak is not amplified into noise.
   */
  calibrationFloor: number;
}

export const DEFAULT_RANKING_SETTINGS: RankingSettings = {
  mmrLambda: 0.85,
  penaltyWeight: 0.5,
  coEngagementWeight: 0.15,
  minCoEngagement: 3,
  candidatePool: 300,
  calibrationFloor: 0.5,
};

export type Reason = (
  | { kind: 'similar_to'; itemId: string; similarity: number }
  /** A new item given an exploration slot; `itemId` is what it looks like (a liked item, the item shown). */
  | { kind: 'exploration'; itemId?: string; similarity?: number; publishedAt: number }
  | { kind: 'co_engaged'; itemId: string }
  | { kind: 'popular' }
  /** Engagement rising (issue 22): short-term mass now, and what the item's long-run pace predicts. */
  | { kind: 'trending'; recent: number; expected: number }
  | { kind: 'similar_to_item'; itemId: string }
  | { kind: 'similar_to_image' }
  /** Fewer items than asked for match the filters (`strict=false`): one of the best without them. */
  | { kind: 'outside_filters' }
  /** Put at this position by a merchandising pin. */
  | { kind: 'pinned'; ruleId: string }
  /** In one of a promotion's slots; `itemId` is the liked item (or the item shown) it looks most like. */
  | { kind: 'promoted'; ruleId: string; itemId?: string; similarity?: number }
  /** Bought or put in a cart together with `itemId`, the item shown (complements, issue 22). */
  | { kind: 'co_purchased'; itemId: string }
  /** Co-purchases are thin: from `category`, often bought with the item's, near what those buyers chose. */
  | { kind: 'bought_with_category'; category: string }
) & {
  /** The boost and bury rules that scaled this item's score (issue 20). */
  rules?: string[];
};

/** How deep exploration candidates are drawn for: five pages of 10 (see rankForUser). */
export const EXPLORATION_HORIZON = 50;

/** The fewest candidates a taste retrieves, however small its weight: three lists of 10. */
export const MIN_TASTE_CANDIDATES = 30;

export interface RankedItem {
  itemId: string;
  score: number;
  reason: Reason;
}

export interface ListRequest {
  limit: number;
  /** Attribute filters (categories, tags, price), applied inside retrieval. */
  filter?: ListFilter;
  excludeSeen?: boolean;
  /** Items the caller leaves out of this list (`excludeIds`, earlier pages). */
  excludeIds?: readonly string[];
}

/** What exploration needs at request time besides the index. */
export interface ExplorationInputs {
  settings: ExplorationSettings;
  /** Impressions per item (items never shown are absent), times `impressionScale` for decayed to now. */
  impressions: ReadonlyMap<string, number>;
  /**
   * What turns `impressions` into impressions decayed to now (the stored counts are frame weights):
   * applied per item looked up, so a request never copies the whole map. @default 1
   */
  impressionScale?: number;
}

/** An item's impressions decayed to now. */
const shownOf = (inputs: ExplorationInputs, itemId: string): number =>
  (inputs.impressions.get(itemId) ?? 0) * (inputs.impressionScale ?? 1);

const DAY_MS = 86_400_000;

/**
 * Where a list's exploration slots are (0-based): the j-th (from 0) at round((j + 1) / share) - 1,
 * never first (the top slot is the ranking's best bet). The positions do not depend on the list's
 * length, so a list is the start of any longer one: pages continue it (share 0.1: the 10th, 20th,
 * ... slots; a list shorter than 10 has none).
 */
export function explorationPositions(settings: ExplorationSettings | undefined, depth: number): number[] {
  return slotPositions(settings?.share ?? 0, depth);
}

/** The slots (0-based) a share of a list takes: the j-th at round((j + 1) / share) - 1, never the first. */
export function slotPositions(share: number, depth: number): number[] {
  if (!(share > 0)) return [];
  const positions: number[] = [];
  for (let j = 0; ; j++) {
    const position = Math.max(j + 1, Math.round((j + 1) / share) - 1);
    if (position >= depth) return positions;
    positions.push(position);
  }
}

/** Slots the promotions of a list take down to `depth`: the organic ranking must reach that much deeper. */
export const promotionSlots = (promotions: readonly PromotionRule[], depth: number): number =>
  promotions.reduce((n, promotion) => n + slotPositions(promotion.share, depth).length, 0);

/** How many candidates a promotion draws for its slots: four per slot of the first EXPLORATION_HORIZON items. */
export const promotionCandidates = (share: number): number =>
  Math.min(MAX_K, 4 * Math.max(1, slotPositions(share, EXPLORATION_HORIZON).length));

/**
 * The list with each promotion's slots given to its candidates (best first, for this user), oldest
 * rule first: a pick is the best candidate not listed yet; a slot without one stays as it was. The
 * positions and candidates do not depend on `depth`, so a list is the start of any longer one.
 */
export function interleavePromotions(
  list: readonly RankedItem[],
  promotions: readonly PromotionRule[],
  candidatesOf: (promotion: PromotionRule) => RankedItem[],
  depth: number,
): RankedItem[] {
  let current = [...list];
  for (const promotion of promotions) {
    const positions = slotPositions(promotion.share, depth);
    if (positions.length === 0) continue;
    current = interleaveExploration(
      current,
      candidatesOf(promotion),
      positions,
      { minRelevance: 0, floor: 'none' },
      depth,
    );
  }
  return current;
}

/** A candidate for a promotion's slot, with its reason. */
export const promotedItem = (
  ruleId: string,
  item: { itemId: string; score: number },
  like?: { itemId: string; similarity: number },
): RankedItem => ({
  itemId: item.itemId,
  score: item.score,
  reason: { kind: 'promoted', ruleId, ...(like ? { itemId: like.itemId, similarity: like.similarity } : {}) },
});

/** Slots a list of `limit` gives to exploration. */
export function explorationSlots(settings: ExplorationSettings | undefined, limit: number): number {
  return explorationPositions(settings, limit).length;
}

/** Whether an item may take an exploration slot: new, and shown little. */
export function explorable(
  inputs: ExplorationInputs,
  now: number,
): (itemId: string, attributes: ItemAttributes) => boolean {
  const { settings } = inputs;
  const newerThan = explorationCutoff(inputs, now);
  return (itemId, attributes) =>
    attributes.publishedAt !== undefined &&
    attributes.publishedAt > newerThan &&
    shownOf(inputs, itemId) <= settings.maxImpressions;
}

/**
 * The publishedAt (ms) an item must be after to count as new (see `explorable`): the searches for
 * new items pass it as `publishedAfter`, so the index skips old items without building their
 * attributes (at a cold start, most of a 100k catalogue).
 */
export function explorationCutoff(inputs: ExplorationInputs, now: number): number {
  return now - inputs.settings.maxAgeDays * DAY_MS;
}

/** Whether an item of the index may take an exploration slot (see `explorable`), by id. */
export function explorableItem(
  index: VectorIndex,
  inputs: ExplorationInputs,
  now: number,
): (itemId: string) => boolean {
  const isNew = explorable(inputs, now);
  return (itemId) => {
    const attributes = index.attributes(itemId);
    return attributes !== undefined && isNew(itemId, attributes);
  };
}

/**
 * The list down to `depth`: organic items (best first, the ranking's own order) with exploration
 * picks at `positions`. At each position the pick is the first candidate (best first) that is not
 * listed yet and is not one of the organic items down to the one it displaces (those have slots of
 * their own), if it is relevant enough: its score at least `minRelevance` x the best organic score
 * (`floor: 'best'`) or x the score of the organic item it displaces (`'displaced'`; no floor where
 * no organic item is left, nor with `floor: 'none'`). A slot without such a pick stays organic; an
 * organic item already listed as a pick keeps that place. With `isNew`, the share is the least share
 * of new items rather than an addition to it: a slot stays organic when the list above it already
 * holds as many new items as the slots so far (new items that won ordinary slots count). Nothing
 * depends on `depth` but where the list stops, so a list is the start of any longer one.
 */
export function interleaveExploration(
  organic: readonly RankedItem[],
  candidates: readonly RankedItem[],
  positions: readonly number[],
  settings: Pick<ExplorationSettings, 'minRelevance'> & { floor: ExplorationSettings['floor'] | 'none' },
  depth: number,
  isNew?: (itemId: string) => boolean,
): RankedItem[] {
  const list: RankedItem[] = [];
  const listed = new Set<string>();
  // New items listed so far (picks and, with `isNew`, organic items that won their slot).
  let listedNew = 0;
  const organicRank = new Map(organic.map((r, i) => [r.itemId, i]));
  const top = organic[0]?.score ?? 0;
  let o = 0;
  let slot = 0;
  const nextOrganic = () => {
    while (o < organic.length && listed.has((organic[o] as RankedItem).itemId)) o++;
    return organic[o];
  };
  while (list.length < depth) {
    const displaced = nextOrganic();
    if (slot < positions.length && list.length === positions[slot]) {
      slot++;
      // The share is the least share of new items, not an addition to it: a list whose organic
      // ranking already shows as many new items as it has slots so far needs no exploration pick.
      if (isNew && displaced && listedNew >= slot) {
        list.push(displaced);
        listed.add(displaced.itemId);
        if (isNew(displaced.itemId)) listedNew++;
        continue;
      }
      const floor =
        settings.floor === 'none'
          ? Number.NEGATIVE_INFINITY
          : settings.floor === 'best'
            ? settings.minRelevance * top
            : displaced
              ? settings.minRelevance * displaced.score
              : Number.NEGATIVE_INFINITY;
      const pick = candidates.find(
        (c) => !listed.has(c.itemId) && (organicRank.get(c.itemId) ?? Number.POSITIVE_INFINITY) > o,
      );
      if (pick && pick.score >= floor) {
        list.push(pick);
        listed.add(pick.itemId);
        listedNew++;
        continue;
      }
    }
    if (!displaced) {
      // No organic item left: the remaining slots' picks, if any, close the list.
      const rest = candidates.filter((c) => !listed.has(c.itemId));
      const more = Math.min(positions.length - slot, rest.length, depth - list.length);
      for (const pick of rest.slice(0, more)) {
        list.push(pick);
        listed.add(pick.itemId);
      }
      return list;
    }
    list.push(displaced);
    listed.add(displaced.itemId);
    if (isNew?.(displaced.itemId)) listedNew++;
  }
  return list;
}

/** Co-engagement weights from the user's recent positive items to other items. */
export type CoEngagement = Map<string, number>;

export interface PersonalInputs {
  index: VectorIndex;
  profile: InterestProfile;
  profileSettings: ProfileSettings;
  settings: RankingSettings;
  now: number;
  /** Co-engagement towards each candidate, already decayed to `now` (see ProfileStore); may be empty. */
  coEngagement?: CoEngagement;
  /** Exploration slots for new items; absent or share 0: none. */
  exploration?: ExplorationInputs;
  /**
   * Rotation: items shown to this user in their last lists, each demoted by `rotationWeight` (on the
   * scale of the scores, where the best candidate is about 1). Absent or weight 0: off.
   */
  recentlyShown?: ReadonlySet<string>;
  rotationWeight?: number;
  /** The merchandising rules in effect for this list (boosts, buries, promotions; pins are the caller's). */
  rules?: ListRules;
}

/** Items that must not appear for this user and request. */
export function exclusionFilter(
  profile: InterestProfile | undefined,
  request: ListRequest,
  extra: string[] = [],
) {
  const excluded = new Set([...extra, ...(request.excludeIds ?? [])]);
  for (const item of profile?.exclusions ?? []) excluded.add(item.itemId);
  if (request.excludeSeen) for (const item of profile?.seen ?? []) excluded.add(item.itemId);
  const matches = filterPredicate(request.filter);
  return (itemId: string, attributes: ItemAttributes) =>
    attributes.available && !excluded.has(itemId) && matches(attributes);
}

/** A centroid's direction: its sum scaled to unit length, as float32 (a zero sum stays zero). */
export const normalised = (sum: Float64Array): Float32Array => {
  let norm = 0;
  for (const v of sum) norm += v * v;
  norm = Math.sqrt(norm) || 1;
  return Float32Array.from(sum, (v) => v / norm);
};

/**
 * Personal top-N: blend of centroid similarities by decayed centroid weight, minus the pull of the
 * penalty set, plus co-engagement when there is enough of it, then MMR for diversity.
 */
export function rankForUser(inputs: PersonalInputs, request: ListRequest): RankedItem[] {
  const { index, profile, settings, now } = inputs;
  const factor = decayFactor(profile, now, inputs.profileSettings.halfLifeDays);
  const queries = profile.centroids.map((c) => normalised(c.sum));
  const weights = profile.centroids.map((c) => c.mass * factor);
  const totalWeight = weights.reduce((s, w) => s + w, 0) || 1;
  const blend = weights.map((w) => w / totalWeight);
  const accept = exclusionFilter(profile, request);
  // Each taste retrieves its own candidates (a share of the pool by weight, never fewer than a few
  // lists' worth), as PinnerSage does per medoid: a blended query would let the tightest taste crowd
  // out the others before scoring even starts. The quota does not depend on the list's length, so a
  // list is the start of any longer one (pages continue it), down to the pool's size.
  const candidates = new Set<string>();
  queries.forEach((query, k) => {
    const quota = Math.max(MIN_TASTE_CANDIDATES, Math.ceil(settings.candidatePool * (blend[k] as number)));
    // The pool only has to hold the best items, not order them: its members are scored exactly below,
    // so the int8 scan's own top `quota` will do (the index's default over-fetch is for exact top-k).
    const hits = index.search({ queries: [query], k: quota, candidates: quota, accept });
    for (const hit of hits) candidates.add(hit.itemId);
  });
  // Boosted items join the pool too (the best of them for these tastes): a boost must be able to lift
  // an item the tastes alone would not have retrieved.
  // The list's other searches with the blended tastes, from one scan of the index (searchMany):
  // boosted items (joining the pool), exploration's new items, and each promotion's items.
  const boosted = boostMatcher(inputs.rules);
  const exploration = inputs.exploration;
  const positions = explorationPositions(exploration?.settings, request.limit);
  const explores = positions.length > 0 && exploration !== undefined;
  const promotions = inputs.rules?.promotions ?? [];
  const isNew = exploration ? explorable(exploration, now) : undefined;
  const searches = [
    ...(boosted
      ? [
          {
            k: MIN_TASTE_CANDIDATES,
            accept: (id: string, a: ItemAttributes) => accept(id, a) && boosted(id, a),
          },
        ]
      : []),
    ...(explores && exploration && isNew
      ? [
          {
            // Four per slot of the first EXPLORATION_HORIZON items, per taste: a number that does not
            // depend on the list's length (a list is the start of a longer one).
            k: Math.min(
              MAX_K,
              4 * queries.length * Math.max(1, explorationSlots(exploration.settings, EXPLORATION_HORIZON)),
            ),
            accept: (id: string, a: ItemAttributes) => accept(id, a) && isNew(id, a),
            publishedAfter: explorationCutoff(exploration, now),
          },
        ]
      : []),
    // A promotion of few items (a category, a launch) scores its own items below; a broad one is searched.
    ...promotions.flatMap((promotion) =>
      matchingItems(index, promotion.key, promotion.matches)
        ? []
        : [
            {
              k: promotionCandidates(promotion.share),
              accept: (id: string, a: ItemAttributes) => promotion.matches(id, a) && accept(id, a),
            },
          ],
    ),
  ].map((search) => ({ ...search, candidates: search.k }));
  const found = searches.length > 0 ? index.searchMany({ queries, weights: blend, searches }) : [];
  const boostedHits = boosted ? (found.shift() ?? []) : [];
  const explorationHits = explores ? (found.shift() ?? []) : [];
  const promotionHits = promotions.map((promotion) => {
    const items = matchingItems(index, promotion.key, promotion.matches);
    return items
      ? topOf(index, items, accept, queries, blend, promotionCandidates(promotion.share))
      : (found.shift() ?? []);
  });
  // Boosted items join the pool too (the best of them for these tastes): a boost must be able to lift
  // an item the tastes alone would not have retrieved.
  for (const hit of boostedHits) candidates.add(hit.itemId);
  // Co-engaged items join the pool even when they look different: that is the point of the signal.
  const co = inputs.coEngagement ?? new Map<string, number>();
  let coTotal = 0;
  for (const weight of co.values()) coTotal += weight;
  const useCo = settings.coEngagementWeight > 0 && coTotal >= settings.minCoEngagement;
  const coMax = useCo ? Math.max(...co.values()) : 1;
  if (useCo) {
    for (const itemId of co.keys()) {
      const attributes = index.attributes(itemId);
      if (attributes && index.vector(itemId) && accept(itemId, attributes)) candidates.add(itemId);
    }
  }

  // Similarity to each taste, calibrated by that taste's best candidate, then blended by weight:
  // a loose taste (vehicles of all kinds) counts as much as a tight one (hearts) of equal weight.
  // Every vector is made unit once, so each cosine below is a plain dot product.
  const vectors = new Map<string, Float32Array>();
  for (const itemId of candidates) {
    const vector = index.vector(itemId);
    if (vector) vectors.set(itemId, toUnit(vector));
  }
  const similarities = new Map<string, number[]>();
  const best = queries.map(() => 0);
  for (const [itemId, vector] of vectors) {
    const sims = queries.map((query) => dot(query, vector));
    sims.forEach((sim, k) => {
      best[k] = Math.max(best[k] as number, sim);
    });
    similarities.set(itemId, sims);
  }
  const visualScore = (itemId: string) =>
    (similarities.get(itemId) ?? []).reduce((sum, sim, k) => {
      const top = best[k] as number;
      return sum + (blend[k] as number) * (sim / Math.max(top, settings.calibrationFloor));
    }, 0);

  const unitVector = (itemId: string) => {
    const vector = index.vector(itemId);
    return vector && toUnit(vector);
  };
  const penalties = profile.penalties
    .map((p) => ({
      vector: unitVector(p.itemId),
      strength: Math.min(1, (p.weight * factor) / Math.max(inputs.profileSettings.weights.dislike, 1e-9)),
    }))
    .filter((p): p is { vector: Float32Array; strength: number } => p.vector !== undefined);

  const rotation = inputs.rotationWeight && inputs.recentlyShown ? inputs.rotationWeight : 0;
  const scoreOf = (itemId: string, vector: Float32Array) => {
    const visual = visualScore(itemId);
    let penalty = 0;
    for (const p of penalties) penalty = Math.max(penalty, p.strength * Math.max(0, dot(vector, p.vector)));
    const coScore = useCo ? (co.get(itemId) ?? 0) / coMax : 0;
    const rotated = rotation > 0 && inputs.recentlyShown?.has(itemId) ? rotation : 0;
    const score = visual - settings.penaltyWeight * penalty + settings.coEngagementWeight * coScore - rotated;
    // Merchandising: boosts and buries scale the score (functions/domain/merchandising.ts).
    const adjustment = scoreAdjustment(inputs.rules, itemId, index.attributes(itemId));
    return {
      itemId,
      score: adjustment ? scaledScore(score, adjustment.factor) : score,
      vector,
      coScore,
      rules: adjustment?.ruleIds,
    };
  };
  /** Scores an item retrieved after the pool was scored (an exploration or promotion candidate). */
  const scoreLate = (itemId: string) => {
    const vector = vectors.get(itemId) ?? toUnit(index.vector(itemId) as Float32Array);
    if (!similarities.has(itemId))
      similarities.set(
        itemId,
        queries.map((q) => dot(q, vector)),
      );
    return scoreOf(itemId, vector);
  };
  const scored = [...vectors].map(([itemId, vector]) => scoreOf(itemId, vector));
  // Reasons only for what is shown: the liked item each pick looks most like.
  const positives = profile.positives
    .map((p) => ({ itemId: p.itemId, vector: unitVector(p.itemId) }))
    .filter((p): p is { itemId: string; vector: Float32Array } => p.vector !== undefined);

  const extraSlots = promotionSlots(promotions, request.limit);
  // Deep enough for every slot to stay organic (picks skip the organic items they list early).
  const organic = maximalMarginalRelevance(
    scored,
    request.limit + positions.length + extraSlots,
    settings.mmrLambda,
  ).map(
    ({ itemId, score, vector, coScore, rules }): RankedItem => ({
      itemId,
      score,
      reason: withRules(reasonFor(vector, positives, coScore > 0.5 ? itemId : undefined), rules),
    }),
  );
  const promote = (list: RankedItem[]): RankedItem[] =>
    promotions.length === 0
      ? list.slice(0, request.limit)
      : interleavePromotions(
          list,
          promotions,
          (promotion) =>
            // The best matching items for this user's tastes, scored like the rest.
            (promotionHits[promotions.indexOf(promotion)] ?? [])
              .map((hit) => scoreLate(hit.itemId))
              .sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1))
              .map(({ itemId, score, vector }) => {
                const like = reasonFor(vector, positives);
                return promotedItem(
                  promotion.ruleId,
                  { itemId, score },
                  like.kind === 'similar_to' ? like : undefined,
                );
              }),
          request.limit,
        );
  if (!explores || !exploration) return promote(organic);
  // Exploration: the new, little-shown items closest to the tastes, scored like the rest; a new item
  // that wins an ordinary slot keeps it and takes no exploration slot. How many are considered does
  // not depend on the list's length (a list is the start of a longer one): four per slot of the
  // first EXPLORATION_HORIZON items, per taste (deeper pages may find no new item left for a slot,
  // which then stays organic).
  const fresh = new Map<string, ReturnType<typeof scoreOf>>();
  for (const hit of explorationHits) fresh.set(hit.itemId, scoreLate(hit.itemId));
  const picks = [...fresh.values()]
    .sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1))
    .map(({ itemId, score, vector, rules }): RankedItem => {
      const like = reasonFor(vector, positives);
      return {
        itemId,
        score,
        reason: withRules(
          {
            kind: 'exploration',
            ...(like.kind === 'similar_to' ? { itemId: like.itemId, similarity: like.similarity } : {}),
            publishedAt: index.attributes(itemId)?.publishedAt as number,
          },
          rules,
        ),
      };
    });
  return promote(
    interleaveExploration(
      organic,
      picks,
      positions,
      exploration.settings,
      request.limit + extraSlots,
      explorableItem(index, exploration, now),
    ),
  );
}

/**
 * The `k` of `itemIds` (accepted ones only) with the best exact blended score: what `search` would
 * answer with `accept` narrowed to these items, without a pass over the whole index.
 */
export function topOf(
  index: VectorIndex,
  items: MatchingItems,
  accept: (itemId: string, attributes: ItemAttributes) => boolean,
  queries: readonly Float32Array[],
  weights: readonly number[],
  k: number,
): Array<{ itemId: string; score: number }> {
  const { itemIds, vectors } = items;
  const dim = index.dim;
  // The blended query once: sum_q w_q (q . v) = (sum_q w_q q) . v.
  const blended = new Float32Array(dim);
  queries.forEach((query, q) => {
    const w = weights[q] as number;
    for (let j = 0; j < dim; j++) blended[j] = (blended[j] as number) + w * (query[j] as number);
  });
  const scored: Array<{ itemId: string; score: number }> = [];
  for (let i = 0; i < itemIds.length; i++) {
    const itemId = itemIds[i] as string;
    const attributes = index.attributes(itemId);
    if (!attributes || !accept(itemId, attributes)) continue;
    let score = 0;
    for (let j = 0, at = i * dim; j < dim; j++, at++)
      score += (blended[j] as number) * (vectors[at] as number);
    scored.push({ itemId, score });
  }
  return scored.sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1)).slice(0, k);
}

/** A reason with the boost and bury rules that scaled the item's score, if any. */
export const withRules = (reason: Reason, rules: readonly string[] | undefined): Reason =>
  rules && rules.length > 0 ? { ...reason, rules: [...rules] } : reason;

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] as number) * (b[i] as number);
  return sum;
}

/** Scales `vector` to unit length in place (a zero vector stays zero) and returns it. */
function toUnit(vector: Float32Array): Float32Array {
  const norm = Math.sqrt(dot(vector, vector));
  if (norm > 0) for (let i = 0; i < vector.length; i++) vector[i] = (vector[i] as number) / norm;
  return vector;
}

function reasonFor(
  vector: Float32Array,
  positives: Array<{ itemId: string; vector: Float32Array }>,
  coEngaged?: string,
): Reason {
  let best: Reason | undefined;
  let bestSimilarity = -Infinity;
  for (const positive of positives) {
    const similarity = dot(vector, positive.vector);
    if (similarity > bestSimilarity) {
      bestSimilarity = similarity;
      best = {
        kind: 'similar_to',
        itemId: positive.itemId,
        similarity: Math.round(similarity * 1000) / 1000,
      };
    }
  }
  if (!best && coEngaged) return { kind: 'co_engaged', itemId: coEngaged };
  return best ?? { kind: 'popular' };
}

/**
 * Greedy MMR: each pick maximises lambda * relevance - (1 - lambda) * max similarity to the picks so
 * far. Relevance is divided by the best candidate's first: blended scores and item-to-item cosines
 * live on different scales, and unscaled, redundancy would swamp relevance. Vectors must be unit
 * (similarity is their dot product).
 */
export function maximalMarginalRelevance<T extends { score: number; vector: Float32Array }>(
  candidates: T[],
  limit: number,
  lambda: number,
): T[] {
  const remaining = [...candidates].sort((a, b) => b.score - a.score);
  const top = remaining[0]?.score ?? 0;
  const relevance = remaining.map((c) => (top > 0 ? c.score / top : c.score));
  const picked: T[] = [];
  // Similarities are computed lazily: maxSimilarity[i] covers picks [0, compared[i]).
  const maxSimilarity = new Float64Array(remaining.length);
  const compared = new Uint32Array(remaining.length);
  const taken = new Uint8Array(remaining.length);
  while (picked.length < limit && picked.length < remaining.length) {
    let best = -1;
    let bestValue = -Infinity;
    for (let i = 0; i < remaining.length; i++) {
      if (taken[i]) continue;
      // Similarity is >= 0, so no value beats lambda * relevance, and relevance only falls from here.
      if (best >= 0 && lambda * (relevance[i] as number) <= bestValue) break;
      const candidate = remaining[i] as T;
      let similarity = maxSimilarity[i] as number;
      for (let p = compared[i] as number; p < picked.length; p++)
        similarity = Math.max(similarity, dot(candidate.vector, (picked[p] as T).vector));
      maxSimilarity[i] = similarity;
      compared[i] = picked.length;
      const value = lambda * (relevance[i] as number) - (1 - lambda) * similarity;
      if (value > bestValue) {
        bestValue = value;
        best = i;
      }
    }
    if (best < 0) break;
    taken[best] = 1;
    picked.push(remaining[best] as T);
  }
  return picked;
}

/** How many new items near one vector (items like a given item) compete for its list's exploration slots. */
export const EXPLORATION_NEAR_CANDIDATES = 40;

/**
 * Exploration candidates for a list about one vector (items like a given item): the new,
 * little-shown items closest to it, best first (a fixed number, whatever the list's length).
 */
export function explorationNear(
  index: VectorIndex,
  vector: Float32Array,
  accept: (itemId: string, attributes: ItemAttributes) => boolean,
  exploration: ExplorationInputs,
  now: number,
  like?: string,
): RankedItem[] {
  const isNew = explorable(exploration, now);
  const hits = index.search({
    queries: [vector],
    k: EXPLORATION_NEAR_CANDIDATES,
    accept: (id, a) => accept(id, a) && isNew(id, a),
    publishedAfter: explorationCutoff(exploration, now),
  });
  return hits.map((hit) => ({
    itemId: hit.itemId,
    score: hit.score,
    reason: {
      kind: 'exploration',
      ...(like ? { itemId: like, similarity: Math.round(hit.score * 1000) / 1000 } : {}),
      publishedAt: index.attributes(hit.itemId)?.publishedAt as number,
    },
  }));
}

/**
 * Exploration candidates for users without tastes (the popular list): every new item, least shown
 * first, newest first among equals. One pass over the index's attributes.
 */
export function explorationForNewcomers(
  index: VectorIndex,
  accept: (itemId: string, attributes: ItemAttributes) => boolean,
  exploration: ExplorationInputs,
  now: number,
): RankedItem[] {
  const isNew = explorable(exploration, now);
  const found: Array<{ itemId: string; shown: number; publishedAt: number }> = [];
  for (const itemId of index.ids()) {
    const attributes = index.attributes(itemId);
    if (!attributes || !accept(itemId, attributes) || !isNew(itemId, attributes)) continue;
    found.push({
      itemId,
      shown: shownOf(exploration, itemId),
      publishedAt: attributes.publishedAt as number,
    });
  }
  return found
    .sort((a, b) => a.shown - b.shown || b.publishedAt - a.publishedAt || (a.itemId < b.itemId ? -1 : 1))
    .map(({ itemId, publishedAt }) => ({ itemId, score: 0, reason: { kind: 'exploration', publishedAt } }));
}

/** Most popular eligible items; popularity is decayed to `now` by the caller. */
export function rankPopular(
  index: VectorIndex,
  popularity: Map<string, number>,
  accept: (itemId: string, attributes: ItemAttributes) => boolean,
  limit: number,
  /** Boosts and buries scale popularity (functions/domain/merchandising.ts). */
  rules?: ListRules,
): RankedItem[] {
  let ranked: RankedItem[] = [];
  const sorted = [...popularity].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const scaled = (rules?.scores.length ?? 0) > 0;
  // With boosts and buries, items are read down the popularity order until no item further down,
  // boosted to the most, could reach the list; then sorted by their scaled popularity.
  let threshold = Number.NEGATIVE_INFINITY;
  for (const [itemId, weight] of sorted) {
    if (scaled && ranked.length >= limit && weight * MAX_RULE_FACTOR < threshold) break;
    const attributes = index.attributes(itemId);
    if (!attributes || !accept(itemId, attributes)) continue;
    if (!scaled) {
      ranked.push({ itemId, score: weight, reason: { kind: 'popular' } });
      if (ranked.length >= limit) return ranked;
      continue;
    }
    const adjustment = scoreAdjustment(rules, itemId, attributes);
    ranked.push({
      itemId,
      score: adjustment ? scaledScore(weight, adjustment.factor) : weight,
      reason: withRules({ kind: 'popular' }, adjustment?.ruleIds),
    });
    if (ranked.length >= limit && (ranked.length === limit || ranked.length % 32 === 0)) {
      ranked.sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1));
      threshold = (ranked[limit - 1] as RankedItem).score;
    }
  }
  if (scaled) {
    ranked = ranked.sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1)).slice(0, limit);
    if (ranked.length >= limit) return ranked;
  }
  // A young catalogue has little popularity yet: fill with other eligible items, in a stable order.
  const chosen = new Set(ranked.map((r) => r.itemId));
  for (const itemId of index.ids()) {
    if (ranked.length >= limit) break;
    const attributes = index.attributes(itemId);
    if (chosen.has(itemId) || !attributes || !accept(itemId, attributes)) continue;
    ranked.push({ itemId, score: 0, reason: { kind: 'popular' } });
  }
  return ranked;
}

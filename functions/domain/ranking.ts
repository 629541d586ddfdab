import type { ItemAttributes, VectorIndex } from '../vector-index';
import { decayFactor, type InterestProfile, type ProfileSettings } from './interest-profile';

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

export type Reason =
  | { kind: 'similar_to'; itemId: string; similarity: number }
  | { kind: 'co_engaged'; itemId: string }
  | { kind: 'popular' }
  | { kind: 'similar_to_item'; itemId: string }
  | { kind: 'similar_to_image' };

export interface RankedItem {
  itemId: string;
  score: number;
  reason: Reason;
}

export interface ListRequest {
  limit: number;
  category?: string;
  excludeSeen?: boolean;
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
}

/** Items that must not appear for this user and request. */
export function exclusionFilter(
  profile: InterestProfile | undefined,
  request: ListRequest,
  extra: string[] = [],
) {
  const excluded = new Set(extra);
  for (const item of profile?.exclusions ?? []) excluded.add(item.itemId);
  if (request.excludeSeen) for (const item of profile?.seen ?? []) excluded.add(item.itemId);
  return (itemId: string, attributes: ItemAttributes) =>
    attributes.available &&
    !excluded.has(itemId) &&
    (request.category === undefined || attributes.category === request.category);
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
  // out the others before scoring even starts.
  const candidates = new Set<string>();
  queries.forEach((query, k) => {
    const quota = Math.max(request.limit * 3, Math.ceil(settings.candidatePool * (blend[k] as number)));
    // The pool only has to hold the best items, not order them: its members are scored exactly below,
    // so the int8 scan's own top `quota` will do (the index's default over-fetch is for exact top-k).
    const hits = index.search({ queries: [query], k: quota, candidates: quota, accept });
    for (const hit of hits) candidates.add(hit.itemId);
  });
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

  const scored: Array<{ itemId: string; score: number; vector: Float32Array; coScore: number }> = [];
  for (const [itemId, vector] of vectors) {
    const visual = visualScore(itemId);
    let penalty = 0;
    for (const p of penalties) penalty = Math.max(penalty, p.strength * Math.max(0, dot(vector, p.vector)));
    const coScore = useCo ? (co.get(itemId) ?? 0) / coMax : 0;
    const score = visual - settings.penaltyWeight * penalty + settings.coEngagementWeight * coScore;
    scored.push({ itemId, score, vector, coScore });
  }
  // Reasons only for what is shown: the liked item each pick looks most like.
  const positives = profile.positives
    .map((p) => ({ itemId: p.itemId, vector: unitVector(p.itemId) }))
    .filter((p): p is { itemId: string; vector: Float32Array } => p.vector !== undefined);
  return maximalMarginalRelevance(scored, request.limit, settings.mmrLambda).map(
    ({ itemId, score, vector, coScore }) => ({
      itemId,
      score,
      reason: reasonFor(vector, positives, coScore > 0.5 ? itemId : undefined),
    }),
  );
}

/** a . b over a's length: the cosine when both are unit vectors. */
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

/** Most popular eligible items; popularity is decayed to `now` by the caller. */
export function rankPopular(
  index: VectorIndex,
  popularity: Map<string, number>,
  accept: (itemId: string, attributes: ItemAttributes) => boolean,
  limit: number,
): RankedItem[] {
  const ranked: RankedItem[] = [];
  const sorted = [...popularity].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  for (const [itemId, weight] of sorted) {
    const attributes = index.attributes(itemId);
    if (!attributes || !accept(itemId, attributes)) continue;
    ranked.push({ itemId, score: weight, reason: { kind: 'popular' } });
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

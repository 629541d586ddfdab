/**
 * Learned similarity: a d -> d linear projection of a base model's frozen embeddings, fitted on what
 * shoppers engaged with together (KISSME, a closed-form metric: Koestinger et al., CVPR 2012) and
 * shrunk toward the identity, so that little data can do only little harm. Projected vectors are
 * L2-normalised, so cosine search, the int8 index and every backend keep working unchanged.
 */
import { DEFAULT_PROFILE_SETTINGS, type EventType, NEGATIVE_TYPES } from './interest-profile';
import { seededUniform } from './seeded-random';
import { symmetricEigen } from './symmetric-eigen';

/** What the trainer reads of a stored event: who, what, which kind, when. Nothing else. */
export interface EngagementEvent {
  userId: string;
  itemId: string;
  type: EventType;
  /** Event time, ms. */
  at: number;
}

/** The trainer's own settings: the only ones the evaluation may tune. */
export interface LearnedSimilarityKnobs {
  /** Two positives of one user count as a similar pair when at most this many days apart. */
  windowDays: number;
  /** Event types whose profile weight is at least this are positives (views and clicks are browsing). */
  minPositiveWeight: number;
  /** Share of the fitted metric replaced by the identity, whatever the amount of data. */
  shrinkage: number;
  /** Pairs the identity is worth: with n similar pairs, the metric's share is n / (n + priorPairs). */
  priorPairs: number;
  /** Ridge of each pair covariance toward its mean variance (keeps 128-d inverses stable). */
  covarianceRidge: number;
  /** Dissimilar pairs sampled per similar pair, among items never engaged together. */
  dissimilarPerSimilar: number;
  /** At most this many similar pairs per user (the most recent first), so no one user dominates. */
  maxPairsPerUser: number;
  /** Seed of the dissimilar-pair sampling: same events, same seed, same projection. */
  seed: number;
}

export const DEFAULT_LEARNED_SIMILARITY_KNOBS: LearnedSimilarityKnobs = {
  windowDays: 30,
  minPositiveWeight: 1,
  shrinkage: 0.2,
  priorPairs: 200,
  covarianceRidge: 0.1,
  dissimilarPerSimilar: 2,
  maxPairsPerUser: 200,
  seed: 1,
};

/** The artefact: serialisable as JSON; holds no user id and no item id. */
export interface LearnedProjection {
  baseModelId: string;
  version: string;
  dim: number;
  /** L, row-major dim x dim: a vector x is served as L x / |L x|. */
  matrix: number[];
  /** ISO 8601. */
  trainedAt: string;
  data: {
    events: number;
    users: number;
    items: number;
    similarPairs: number;
    negativePairs: number;
    sampledDissimilarPairs: number;
    /** Share of the fitted metric in the projection (the rest is the identity). */
    metricShare: number;
  };
  knobs: LearnedSimilarityKnobs;
}

export class LearnedSimilarityError extends Error {
  constructor(
    readonly code: 'invalid_knobs' | 'dimension_mismatch' | 'invalid_projection' | 'space_id_too_long',
    message: string,
  ) {
    super(message);
    this.name = 'LearnedSimilarityError';
  }
}

export interface TrainingPairs {
  /** Unordered pairs of item ids, each once, sorted: [a, b] with a < b. */
  similar: Array<[string, string]>;
  /** A user's positive with an item the same user disliked or hid, within the window. */
  negative: Array<[string, string]>;
  events: number;
  users: number;
  /** Items in at least one similar or negative pair. */
  items: Set<string>;
}

const DAY_MS = 86_400_000;
const pairKey = (a: string, b: string) => (a < b ? `${a}\n${b}` : `${b}\n${a}`);
const splitKey = (key: string) => key.split('\n') as [string, string];

export function positiveTypes(knobs: Pick<LearnedSimilarityKnobs, 'minPositiveWeight'>): Set<EventType> {
  const weights = DEFAULT_PROFILE_SETTINGS.weights;
  return new Set(
    (Object.keys(weights) as EventType[]).filter(
      (type) => !NEGATIVE_TYPES.has(type) && weights[type] > 0 && weights[type] >= knobs.minPositiveWeight,
    ),
  );
}

/** Similar and negative pairs from raw events, user by user; user ids stop here. */
export function trainingPairs(
  events: readonly EngagementEvent[],
  knobs: LearnedSimilarityKnobs,
): TrainingPairs {
  const positives = positiveTypes(knobs);
  const windowMs = knobs.windowDays * DAY_MS;
  const byUser = new Map<string, EngagementEvent[]>();
  for (const event of events) {
    const list = byUser.get(event.userId) ?? [];
    list.push(event);
    byUser.set(event.userId, list);
  }
  const similar = new Set<string>();
  const negative = new Set<string>();
  for (const userEvents of byUser.values()) {
    const ordered = [...userEvents].sort((a, b) => b.at - a.at || (a.itemId < b.itemId ? -1 : 1));
    const liked = ordered.filter((e) => positives.has(e.type));
    const rejected = ordered.filter((e) => NEGATIVE_TYPES.has(e.type));
    let pairs = 0;
    for (let i = 0; i < liked.length && pairs < knobs.maxPairsPerUser; i++) {
      const a = liked[i] as EngagementEvent;
      for (let j = i + 1; j < liked.length && pairs < knobs.maxPairsPerUser; j++) {
        const b = liked[j] as EngagementEvent;
        if (a.at - b.at > windowMs) break;
        if (a.itemId === b.itemId) continue;
        similar.add(pairKey(a.itemId, b.itemId));
        pairs++;
      }
    }
    for (const r of rejected) {
      for (const p of liked) {
        if (Math.abs(p.at - r.at) <= windowMs && p.itemId !== r.itemId)
          negative.add(pairKey(p.itemId, r.itemId));
      }
    }
  }
  // A pair both engaged together and rejected together is ambiguous: it stays similar only.
  for (const key of similar) negative.delete(key);
  const items = new Set<string>();
  for (const key of [...similar, ...negative]) for (const id of splitKey(key)) items.add(id);
  return {
    similar: [...similar].sort().map(splitKey),
    negative: [...negative].sort().map(splitKey),
    events: events.length,
    users: byUser.size,
    items,
  };
}

/** Pairs of paired items that no user engaged with together, drawn with the seed. */
function sampleDissimilar(
  pairs: TrainingPairs,
  itemIds: readonly string[],
  count: number,
  seed: number,
): Array<[string, string]> {
  const taken = new Set(pairs.similar.map(([a, b]) => pairKey(a, b)));
  const random = seededUniform(seed);
  const result: Array<[string, string]> = [];
  const budget = count * 20;
  for (let attempt = 0; attempt < budget && result.length < count && itemIds.length > 1; attempt++) {
    const a = itemIds[Math.floor(random() * itemIds.length)] as string;
    const b = itemIds[Math.floor(random() * itemIds.length)] as string;
    if (a === b) continue;
    const key = pairKey(a, b);
    if (taken.has(key)) continue;
    taken.add(key);
    result.push(splitKey(key));
  }
  return result;
}

/** Mean outer product of pair differences, ridged toward its mean variance. */
function pairCovariance(
  pairs: ReadonlyArray<readonly [string, string]>,
  vectors: ReadonlyMap<string, ArrayLike<number>>,
  dim: number,
  ridge: number,
): Float64Array {
  const cov = new Float64Array(dim * dim);
  const diff = new Float64Array(dim);
  let n = 0;
  for (const [a, b] of pairs) {
    const va = vectors.get(a);
    const vb = vectors.get(b);
    if (!va || !vb) continue;
    for (let d = 0; d < dim; d++) diff[d] = (va[d] as number) - (vb[d] as number);
    for (let r = 0; r < dim; r++) {
      const x = diff[r] as number;
      if (x === 0) continue;
      const row = r * dim;
      for (let c = r; c < dim; c++) cov[row + c] = (cov[row + c] as number) + x * (diff[c] as number);
    }
    n++;
  }
  let trace = 0;
  for (let r = 0; r < dim; r++) {
    for (let c = r; c < dim; c++) {
      const value = (cov[r * dim + c] as number) / Math.max(n, 1);
      cov[r * dim + c] = value;
      cov[c * dim + r] = value;
    }
    trace += cov[r * dim + r] as number;
  }
  const meanVariance = trace / dim || 1;
  for (let i = 0; i < cov.length; i++) cov[i] = (1 - ridge) * (cov[i] as number);
  for (let d = 0; d < dim; d++) cov[d * dim + d] = (cov[d * dim + d] as number) + ridge * meanVariance;
  return cov;
}

/** V f(Λ) Vᵀ for a symmetric matrix with eigen-decomposition (values, rows of vectors). */
function spectralMap(
  eigen: { values: Float64Array; vectors: Float64Array },
  dim: number,
  f: (value: number) => number,
): Float64Array {
  const out = new Float64Array(dim * dim);
  for (let k = 0; k < dim; k++) {
    const scale = f(eigen.values[k] as number);
    if (scale === 0) continue;
    const v = k * dim;
    for (let r = 0; r < dim; r++) {
      const vr = (eigen.vectors[v + r] as number) * scale;
      if (vr === 0) continue;
      const row = r * dim;
      for (let c = 0; c < dim; c++)
        out[row + c] = (out[row + c] as number) + vr * (eigen.vectors[v + c] as number);
    }
  }
  return out;
}

export function identityProjection(dim: number): number[] {
  const matrix = new Array<number>(dim * dim).fill(0);
  for (let d = 0; d < dim; d++) matrix[d * dim + d] = 1;
  return matrix;
}

function checkKnobs(knobs: LearnedSimilarityKnobs): void {
  const bad = (name: string, why: string) => {
    throw new LearnedSimilarityError('invalid_knobs', `${name} ${why}`);
  };
  if (!(knobs.windowDays > 0)) bad('windowDays', 'must be > 0');
  if (!(knobs.shrinkage >= 0 && knobs.shrinkage <= 1)) bad('shrinkage', 'must be in [0, 1]');
  if (!(knobs.priorPairs >= 0)) bad('priorPairs', 'must be >= 0');
  if (!(knobs.covarianceRidge > 0 && knobs.covarianceRidge <= 1)) bad('covarianceRidge', 'must be in (0, 1]');
  if (!(knobs.dissimilarPerSimilar > 0)) bad('dissimilarPerSimilar', 'must be > 0');
  if (!(Number.isInteger(knobs.maxPairsPerUser) && knobs.maxPairsPerUser > 0))
    bad('maxPairsPerUser', 'must be a positive integer');
  if (!Number.isInteger(knobs.seed)) bad('seed', 'must be an integer');
}

export interface FitInput {
  baseModelId: string;
  version: string;
  dim: number;
  events: readonly EngagementEvent[];
  /** Base-space vectors of the items (those missing are left out of the pairs). */
  vectors: ReadonlyMap<string, ArrayLike<number>>;
  trainedAt: number;
  knobs?: LearnedSimilarityKnobs;
}

/**
 * KISSME: M = inv(Σ_similar) − inv(Σ_dissimilar), clipped to positive semi-definite and scaled to
 * mean eigenvalue 1, then M' = (1 − w) I + w M with w = (1 − shrinkage) · n / (n + priorPairs);
 * L = M'^½ (symmetric), so |Lx − Ly|² = (x − y)ᵀ M' (x − y). No pairs: L = I.
 */
export function fitProjection(input: FitInput): LearnedProjection {
  const knobs = input.knobs ?? DEFAULT_LEARNED_SIMILARITY_KNOBS;
  checkKnobs(knobs);
  const { dim } = input;
  for (const [itemId, vector] of input.vectors)
    if (vector.length !== dim)
      throw new LearnedSimilarityError(
        'dimension_mismatch',
        `${itemId} has ${vector.length} dimensions, not ${dim}`,
      );
  const pairs = trainingPairs(input.events, knobs);
  const usable = (pair: readonly [string, string]) =>
    input.vectors.has(pair[0]) && input.vectors.has(pair[1]);
  const similar = pairs.similar.filter(usable);
  const negative = pairs.negative.filter(usable);
  const pairedItems = [...pairs.items].filter((id) => input.vectors.has(id)).sort();
  const sampled = sampleDissimilar(
    { ...pairs, similar },
    pairedItems,
    Math.max(0, Math.round(similar.length * knobs.dissimilarPerSimilar) - negative.length),
    knobs.seed,
  );
  const dissimilar = [...negative, ...sampled];
  const weight =
    similar.length === 0 || dissimilar.length === 0
      ? 0
      : ((1 - knobs.shrinkage) * similar.length) / (similar.length + knobs.priorPairs);
  let matrix = identityProjection(dim);
  if (weight > 0) {
    const inverse = (cov: Float64Array) =>
      spectralMap(symmetricEigen(cov, dim), dim, (x) => 1 / Math.max(x, 1e-12));
    const precisionS = inverse(pairCovariance(similar, input.vectors, dim, knobs.covarianceRidge));
    const precisionD = inverse(pairCovariance(dissimilar, input.vectors, dim, knobs.covarianceRidge));
    const difference = precisionS.map((x, i) => x - (precisionD[i] as number));
    const eigen = symmetricEigen(difference, dim);
    let trace = 0;
    for (const value of eigen.values) trace += Math.max(value, 0);
    const mean = trace / dim;
    if (mean > 0) {
      matrix = Array.from(
        spectralMap(eigen, dim, (value) => Math.sqrt(1 - weight + (weight * Math.max(value, 0)) / mean)),
      );
    }
  }
  return {
    baseModelId: input.baseModelId,
    version: input.version,
    dim,
    matrix,
    trainedAt: new Date(input.trainedAt).toISOString(),
    data: {
      events: pairs.events,
      users: pairs.users,
      items: pairedItems.length,
      similarPairs: similar.length,
      negativePairs: negative.length,
      sampledDissimilarPairs: sampled.length,
      metricShare: weight,
    },
    knobs,
  };
}

/** A base-space vector in the projected space: L x, L2-normalised. */
export function projectVector(
  projection: Pick<LearnedProjection, 'dim' | 'matrix'>,
  vector: ArrayLike<number>,
): Float32Array {
  const { dim, matrix } = projection;
  if (vector.length !== dim)
    throw new LearnedSimilarityError(
      'dimension_mismatch',
      `a ${vector.length}-d vector for a ${dim}-d projection`,
    );
  if (matrix.length !== dim * dim)
    throw new LearnedSimilarityError(
      'invalid_projection',
      `matrix has ${matrix.length} entries, not ${dim * dim}`,
    );
  const out = new Float64Array(dim);
  let norm = 0;
  for (let r = 0; r < dim; r++) {
    let sum = 0;
    const row = r * dim;
    for (let c = 0; c < dim; c++) sum += (matrix[row + c] as number) * (vector[c] as number);
    out[r] = sum;
    norm += sum * sum;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  return Float32Array.from(out, (x) => x * scale);
}

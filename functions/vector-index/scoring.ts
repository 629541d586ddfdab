import { MAX_K, MAX_QUERIES, type ScoredItem, type SearchRequest } from './types';
import { VectorIndexError } from './vector-index-error';

/** A validated search with its defaults filled in. */
export interface ResolvedSearch {
  queries: readonly Float32Array[];
  weights: readonly number[];
  k: number;
  candidates: number;
}

export function resolveSearch(request: SearchRequest, dim: number): ResolvedSearch {
  const { queries, weights, k } = request;
  if (!Array.isArray(queries) || queries.length < 1 || queries.length > MAX_QUERIES) {
    throw new VectorIndexError('invalid_search', `queries: 1..${MAX_QUERIES} vectors expected`);
  }
  for (const query of queries) {
    if (!(query instanceof Float32Array) || query.length !== dim) {
      throw new VectorIndexError('dimension_mismatch', `every query must be a Float32Array of ${dim}`);
    }
    if (!isFiniteVector(query))
      throw new VectorIndexError('invalid_search', 'query has a non-finite component');
  }
  if (weights !== undefined && (weights.length !== queries.length || !weights.every(Number.isFinite))) {
    throw new VectorIndexError('invalid_search', 'weights: one finite number per query expected');
  }
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) {
    throw new VectorIndexError('invalid_search', `k: an integer in 1..${MAX_K} expected`);
  }
  const candidates = request.candidates ?? Math.max(10 * k, 200);
  if (!Number.isInteger(candidates) || candidates < 1) {
    throw new VectorIndexError('invalid_search', 'candidates: a positive integer expected');
  }
  return {
    queries,
    weights: weights ?? queries.map(() => 1 / queries.length),
    k,
    candidates: Math.max(candidates, k),
  };
}

/** True when no component is NaN or infinite (a NaN or infinity makes the sum non-finite). */
export function isFiniteVector(vector: Float32Array, offset = 0, length = vector.length): boolean {
  let sum = 0;
  for (let j = offset; j < offset + length; j++) sum += vector[j] as number;
  return Number.isFinite(sum);
}

/**
 * sum_k w_k * (q_k . item) for the item stored at rows[offset .. offset + dim), accumulated in double.
 * The index and the reference both score through this function, so their scores are bit-identical.
 */
export function blendedScore(
  rows: Float32Array,
  offset: number,
  queries: readonly Float32Array[],
  weights: readonly number[],
  dim: number,
): number {
  let blended = 0;
  for (let k = 0; k < queries.length; k++) {
    const query = queries[k] as Float32Array;
    let dot = 0;
    for (let j = 0; j < dim; j++) dot += (rows[offset + j] as number) * (query[j] as number);
    blended += (weights[k] as number) * dot;
  }
  return blended;
}

/** Best first; equal scores by item id, so results do not depend on row order. */
export function byScoreThenId(a: ScoredItem, b: ScoredItem): number {
  return b.score - a.score || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0);
}

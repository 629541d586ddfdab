import { blendedScore, byScoreThenId, resolveSearch } from './scoring';
import type { ScoredItem, SearchRequest, VectorIndex } from './types';

/**
 * Exact float32 full scan with the same validation, defaults, filter and tie order as the index: the
 * ground truth for recall and for checking the index's answers. O(size * dim) per query.
 */
export function exactSearchReference(index: VectorIndex, request: SearchRequest): ScoredItem[] {
  const { queries, weights, k } = resolveSearch(request, index.dim);
  const scored: ScoredItem[] = [];
  for (const itemId of index.ids()) {
    const attributes = index.attributes(itemId);
    const vector = index.vector(itemId);
    if (!attributes || !vector) continue;
    if (request.accept && !request.accept(itemId, attributes)) continue;
    scored.push({ itemId, score: blendedScore(vector, 0, queries, weights, index.dim) });
  }
  return scored.sort(byScoreThenId).slice(0, k);
}

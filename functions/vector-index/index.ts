export { ExactIndex } from './exact-index';
export { exactSearchReference } from './reference';
export type { ItemAttributes, ScoredItem, SearchRequest, VectorIndex } from './types';
export { MAX_K } from './types';
export { VECTOR_INDEX_ERROR_CODES, VectorIndexError, type VectorIndexErrorCode } from './vector-index-error';

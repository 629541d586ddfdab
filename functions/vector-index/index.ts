export { ExactIndex } from './exact-index';
export { exactSearchReference } from './reference';
export { SNAPSHOT_VERSION, type SnapshotLayout, snapshotLayout } from './snapshot';
export {
  type ItemAttributes,
  MAX_K,
  MAX_LABEL_LENGTH,
  MAX_TAGS,
  type MultiSearchRequest,
  type ScoredItem,
  type SearchRequest,
  type VectorIndex,
} from './types';
export { VECTOR_INDEX_ERROR_CODES, VectorIndexError, type VectorIndexErrorCode } from './vector-index-error';

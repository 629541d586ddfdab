import { DomainError } from '../domain/errors';

export const VECTOR_INDEX_ERROR_CODES = [
  'invalid_item',
  'dimension_mismatch',
  'invalid_search',
  'capacity_exceeded',
  'corrupt_snapshot',
  'unsupported_snapshot',
] as const;
export type VectorIndexErrorCode = (typeof VECTOR_INDEX_ERROR_CODES)[number];

/** A bad item or request, an index that cannot grow any more, or a snapshot that cannot be loaded. */
export class VectorIndexError extends DomainError {
  readonly code: VectorIndexErrorCode;

  constructor(code: VectorIndexErrorCode, message: string, details?: Record<string, unknown>) {
    super(message, details);
    this.code = code;
  }
}

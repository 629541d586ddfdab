/**
 * Errors are values with stable codes. Core code throws these; only the HTTP handler maps them to
 * status codes and only batch handlers decide between "reject and record" and "retry".
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  /** A permanent error will fail the same way on retry; a transient one may not. */
  readonly permanent: boolean = true;
  readonly details?: Record<string, unknown>;

  constructor(message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = new.target.name;
    this.details = details;
  }

  toJSON(): { code: string; message: string; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

export const INVALID_IMAGE_CODES = [
  'empty_file',
  'file_too_large',
  'not_an_image',
  'unsupported_format',
  'svg_not_supported',
  'truncated_image',
  'corrupt_image',
  'pixel_limit',
  'image_too_small',
  'extreme_aspect_ratio',
] as const;
export type InvalidImageCode = (typeof INVALID_IMAGE_CODES)[number];

/** The bytes are not an image we can embed; retrying will not help. */
export class InvalidImage extends DomainError {
  readonly code: InvalidImageCode;

  constructor(code: InvalidImageCode, message: string, details?: Record<string, unknown>) {
    super(message, details);
    this.code = code;
  }
}

/** The model produced something unusable (NaN, zero vector, wrong size): a bug or a bad model. */
export class EmbeddingFailed extends DomainError {
  readonly code = 'embedding_failed';
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}

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

/** What the embedder answers wherever an image is embedded: catalogue ingestion and image search. */
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

/**
 * What only catalogue ingestion answers: the stricter checks for files it stores and serves
 * (functions/domain/image-structure.ts), run before decoding. Image search never stores the upload,
 * so it does not run them and never answers these (its documented 422 codes are the list above).
 */
export const CATALOGUE_IMAGE_CODES = [
  /** The key's extension does not name the format the bytes are in (a JPEG named .webp). */
  'extension_mismatch',
  /** Bytes follow the image's end: a ZIP, an HTML page, a script... (up to 16 padding bytes are fine). */
  'polyglot_file',
  /** More than 1 MiB of text, EXIF, XMP, ICC, comments or application data, compressed text inflated. */
  'metadata_too_large',
  /** The EXIF block's TIFF header, IFD0 or a value IFD0 points to lies outside the block. */
  'corrupt_metadata',
] as const;

export type InvalidImageCode = (typeof INVALID_IMAGE_CODES)[number] | (typeof CATALOGUE_IMAGE_CODES)[number];

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

/** A request the domain refuses as malformed or meaningless (an invalid query, an unknown category). */
export class InvalidRequest extends DomainError {
  constructor(
    readonly code: string,
    message: string,
    details?: Record<string, unknown>,
  ) {
    super(message, details);
  }
}

/** An id that names nothing: an unknown (or deleted) item, an unknown user. */
export class NotFound extends DomainError {
  readonly code: string;
  constructor(what: 'item' | 'user' | 'rule' | 'interest', id: string) {
    super(`unknown ${what}: ${id}`, { [`${what}Id`]: id });
    this.code = `unknown_${what}`;
  }
}

/** The item exists but has no vector to compare with (rejected, or not embedded yet). */
export class ItemNotReady extends DomainError {
  readonly code = 'item_not_ready';
}

/**
 * The request contradicts what is stored: a write based on a stale version (`version_conflict`), or
 * one past a stored limit (`too_many_rules`). Read again, then retry.
 */
export class Conflict extends DomainError {
  constructor(
    readonly code: string,
    message: string,
    details?: Record<string, unknown>,
  ) {
    super(message, details);
  }
}

/** The caller may not act on this user's data, or not through this route. */
export class Forbidden extends DomainError {
  readonly code = 'forbidden';
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}

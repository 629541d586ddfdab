export type LocalStackErrorCode =
  | 'java_not_found'
  | 'dynamodb_local_download_failed'
  | 'dynamodb_local_start_failed'
  | 's3_local_start_failed'
  | 'dynamodb_proxy_start_failed'
  | 'queue_stopped'
  | 'queue_drain_timeout'
  | 'stream_read_failed'
  | 'stream_drain_timeout';

/** Failures of the local stand-ins; the code is stable so scripts and tests can branch on it. */
export class LocalStackError extends Error {
  readonly code: LocalStackErrorCode;

  constructor(code: LocalStackErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LocalStackError';
    this.code = code;
  }
}

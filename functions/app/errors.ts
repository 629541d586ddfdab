/** Errors the use cases and their ports throw; only the HTTP layer (functions/http/api.ts) maps them to status codes. */
import { DomainError } from '../domain/errors';

/**
 * A commit lost a race (a concurrent writer, an erasure, or an event stored meanwhile): the caller
 * re-reads and retries. It never leaves the use case, hence a plain Error.
 */
export class CommitConflict extends Error {
  readonly code = 'commit_conflict';
}

/** Too many concurrent writers on one profile; the client may retry (event ids make it safe). */
export class Contention extends DomainError {
  readonly code = 'contention';
  override readonly permanent = false;
}

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DEFAULT_PAGE_TOKEN_TTL_MINUTES } from '../contract/paging';
import { InvalidRequest } from './errors';
import { isUuidV7 } from './impressions';

/**
 * Paging without repeats (issue 19): a list's `nextToken` names the list it continues (its
 * recommendationId, whose impression row holds what was shown so far), a random nonce that row
 * keeps (so a token cannot be made up from a recommendationId alone), and a tag of the user it was
 * served to. The next page ranks again down to the items shown so far plus the page, and leaves
 * those out: with nothing changed in between it is exactly the continuation of the same ranking
 * (a list is the start of any longer one), and it never repeats an item, whatever changed. Tokens
 * expire (`PAGE_TOKEN_TTL_MS`) and die with the user's impressions (`DELETE /users/{userId}`).
 */

export { DEFAULT_PAGE_TOKEN_TTL_MINUTES };
/** No token past this many items in one chain of pages (the impression row holds them all). */
export const MAX_PAGED_ITEMS = 500;

const PREFIX = 'p1.';
const ID_BYTES = 16;
const NONCE_BYTES = 16;
const TAG_BYTES = 8;
const TOKEN_BYTES = ID_BYTES + NONCE_BYTES + TAG_BYTES;

export interface PageToken {
  recommendationId: string;
  /** Hex. */
  nonce: string;
  /** Hex: `viewerTag` of the user the list was served to. */
  viewer: string;
}

/** A tag of the user a list is served to (none: a service's list); not secret, it only names a foreign token. */
export function viewerTag(viewer: string | undefined): string {
  return createHash('sha256')
    .update(`lookalike-page-viewer\0${viewer ?? ''}`)
    .digest()
    .subarray(0, TAG_BYTES)
    .toString('hex');
}

/**
 * What a token is bound to: the route and its subject (the user, the item, the image) and every
 * parameter that changes which items qualify (filters, exclusions, strictness, placement), but not
 * `limit`, which may change from page to page.
 */
export function pagingKey(parts: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

export const newNonce = (): string => randomBytes(NONCE_BYTES).toString('hex');

export function encodePageToken(token: PageToken): string {
  const id = Buffer.from(token.recommendationId.replaceAll('-', ''), 'hex');
  return (
    PREFIX +
    Buffer.concat([id, Buffer.from(token.nonce, 'hex'), Buffer.from(token.viewer, 'hex')]).toString(
      'base64url',
    )
  );
}

const invalid = () =>
  new InvalidRequest('invalid_token', 'nextToken is not a token this API issued (or it was altered)');

export function decodePageToken(text: string): PageToken {
  if (!text.startsWith(PREFIX)) throw invalid();
  const body = text.slice(PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) throw invalid();
  const bytes = Buffer.from(body, 'base64url');
  // Canonical encoding only: a token with other padding bits is not one this API wrote.
  if (bytes.length !== TOKEN_BYTES || bytes.toString('base64url') !== body) throw invalid();
  const hex = bytes.subarray(0, ID_BYTES).toString('hex');
  const recommendationId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  if (!isUuidV7(recommendationId)) throw invalid();
  return {
    recommendationId,
    nonce: bytes.subarray(ID_BYTES, ID_BYTES + NONCE_BYTES).toString('hex'),
    viewer: bytes.subarray(ID_BYTES + NONCE_BYTES).toString('hex'),
  };
}

/** What the list a token continues recorded for paging (its impression row). */
export interface StoredPage {
  nonce: string;
  key: string;
  /** Every item shown on the chain's pages so far, this one's included, in the order shown. */
  shown: string[];
}

/**
 * The items shown before the page a token asks for, after checking the token: well-formed and
 * unaltered (400 `invalid_token`), the caller's (`foreign_token`), not expired (`expired_token`),
 * still stored (`token_not_found`: erased with the user, or past the impressions' TTL) and for the
 * same request (`token_mismatch`).
 */
export async function shownBefore(
  text: string,
  expected: { viewer: string | undefined; key: string; now: number; ttlMs: number },
  load: (token: PageToken) => Promise<StoredPage | undefined>,
): Promise<string[]> {
  const token = decodePageToken(text);
  if (token.viewer !== viewerTag(expected.viewer))
    throw new InvalidRequest('foreign_token', 'nextToken belongs to a list served to someone else');
  const servedAt = Number.parseInt(
    token.recommendationId.slice(0, 8) + token.recommendationId.slice(9, 13),
    16,
  );
  if (servedAt + expected.ttlMs < expected.now)
    throw new InvalidRequest('expired_token', 'nextToken has expired; request the first page again', {
      expiredAt: new Date(servedAt + expected.ttlMs).toISOString(),
    });
  const stored = await load(token);
  if (!stored)
    throw new InvalidRequest(
      'token_not_found',
      'the list nextToken continues is not stored (erased with the user, or never served)',
    );
  const nonce = Buffer.from(token.nonce, 'hex');
  const kept = Buffer.from(stored.nonce, 'hex');
  if (nonce.length !== kept.length || !timingSafeEqual(nonce, kept)) throw invalid();
  if (stored.key !== expected.key)
    throw new InvalidRequest(
      'token_mismatch',
      'nextToken continues a list of another route, item, filter, exclusion, strictness or placement',
    );
  return stored.shown;
}

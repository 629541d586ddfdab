/**
 * Paging: shared by the recommend function (PAGE_TOKEN_TTL_MINUTES) and the stack (its
 * `pageTokenTtlMinutes` prop, checked at synth against the impressions' TTL).
 */

/** How long a page token is good for unless configured. */
export const DEFAULT_PAGE_TOKEN_TTL_MINUTES = 60;

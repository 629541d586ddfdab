/**
 * JavaScript strings may hold lone surrogates (from a JSON escape such as "\ud800"); UTF-8 cannot encode
 * them, so DynamoDB and S3 would store U+FFFD instead, and `s\ud800` and `s\udc00` would become one id.
 * Every id and text that is stored must therefore be well-formed.
 */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** No lone surrogate (with the `u` flag, a surrogate pair is one code point and does not match). */
export function isWellFormedUnicode(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

/** The first `maxLength` UTF-16 units, one fewer where the cut would split a surrogate pair. */
export function truncateWellFormed(value: string, maxLength: number): string {
  if (value.length <= maxLength) return value;
  const last = value.charCodeAt(maxLength - 1);
  return value.slice(0, last >= 0xd800 && last <= 0xdbff ? maxLength - 1 : maxLength);
}

import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ListQuerySchema, parseQuery } from '../../functions/app/recommend';
import { classifyCatalogueKey } from '../../functions/domain/catalogue-key';
import { DomainError } from '../../functions/domain/errors';
import { eventRejectionCode, TrackedEventSchema } from '../../functions/domain/event-schema';
import { parseItemMetadata } from '../../functions/domain/item-metadata';
import { isWellFormedUnicode, truncateWellFormed } from '../../functions/domain/unicode';
import {
  errorResponse,
  isJsonContentType,
  parseJsonBody,
  pathItemId,
  pathUserId,
} from '../../functions/http/api';

/**
 * What a call threw, as the HTTP status the API answers it with and its `code` (or `no error`), so
 * that a table of cases reads as one assertion.
 */
function codeOf(call: () => unknown): string {
  try {
    call();
    return 'no error';
  } catch (error) {
    return error instanceof DomainError
      ? `${errorResponse(error, 'test').statusCode} ${error.code}`
      : String(error);
  }
}

const HIGH = 's\ud800';
const LOW = 's\udc00';

describe('well-formed Unicode', () => {
  it('tells lone surrogates from pairs', () => {
    expect([HIGH, LOW, '\udc00\ud800', 'a\ud83c'].map(isWellFormedUnicode)).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(['s', '🍓', 'ü', 's\uFFFD', ''].map(isWellFormedUnicode)).toEqual([true, true, true, true, true]);
  });

  it('never cuts a surrogate pair in half when truncating', () => {
    expect(truncateWellFormed(`${'a'.repeat(3)}🍓`, 4)).toBe('aaa');
    expect(truncateWellFormed(`${'a'.repeat(2)}🍓`, 4)).toBe('aa🍓');
    expect(truncateWellFormed('abc', 2)).toBe('ab');
  });
});

describe('event ids', () => {
  const event = { eventId: 'e', userId: 'u', itemId: 'i', type: 'like' };
  const codeFor = (overrides: Record<string, unknown>) => {
    const parsed = TrackedEventSchema.safeParse({ ...event, ...overrides });
    return parsed.success ? 'valid' : eventRejectionCode(parsed.error);
  };

  it.each([
    ['a userId with a lone high surrogate', 'userId', HIGH],
    ['a userId with a lone low surrogate', 'userId', LOW],
    ['an eventId with a lone surrogate', 'eventId', HIGH],
    ['an itemId with a lone surrogate', 'itemId', LOW],
    ['a userId with a C0 control character', 'userId', 'a\u0007b'],
    ['a userId with DEL', 'userId', 'a\u007fb'],
    ['an eventId of 257 characters', 'eventId', 'x'.repeat(257)],
    ['an empty itemId', 'itemId', ''],
  ])('rejects %s as invalid_id', (_name, field, value) => {
    expect(codeFor({ [field]: value })).toBe('invalid_id');
  });

  it('keeps invalid_event for what is not an id problem', () => {
    expect(codeFor({ userId: 42 })).toBe('invalid_event');
    expect(codeFor({ type: 'love' })).toBe('invalid_event');
    expect(codeFor({ context: { recommendationId: HIGH } })).toBe('invalid_event');
    expect(codeFor({ context: { surface: LOW } })).toBe('invalid_event');
    expect(codeFor({ userId: 'Zoë 🍓', itemId: 's\uFFFD' })).toBe('valid');
  });
});

describe('timestamps', () => {
  const at = (timestamp: unknown) =>
    TrackedEventSchema.safeParse({ eventId: 'e', userId: 'u', itemId: 'i', type: 'like', timestamp }).success;

  it('takes instants a Date can hold, and nothing else', () => {
    expect([0, 8.64e15, '9999-12-31T23:59:59Z', '2024-01-01T00:00:00.5+01:00'].map(at)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(
      [
        8.64e15 + 1,
        2 ** 53,
        1e308,
        -1,
        Number.NaN,
        '+275760-09-13T00:00:00Z',
        '2024-02-30T00:00:00Z',
        'NaN',
      ].map(at),
    ).toEqual([false, false, false, false, false, false, false, false]);
  });
});

const withPath = (pathParameters: Record<string, string>) =>
  ({ pathParameters, requestContext: {} }) as unknown as APIGatewayProxyEventV2;

describe('ids in paths and queries', () => {
  it('refuses a path user id or item id that is not well-formed', () => {
    expect(codeOf(() => pathUserId(withPath({ userId: HIGH })))).toBe('400 invalid_user_id');
    expect(codeOf(() => pathUserId(withPath({ userId: LOW })))).toBe('400 invalid_user_id');
    expect(codeOf(() => pathItemId(withPath({ itemId: HIGH })))).toBe('400 invalid_item_id');
    expect(codeOf(() => pathUserId(withPath({ userId: 'Zoë 🍓' })))).toBe('no error');
    expect(codeOf(() => pathItemId(withPath({ itemId: 's\uFFFD' })))).toBe('no error');
  });

  it('refuses a category, tag or excluded id filter that is not well-formed', () => {
    for (const name of ['category', 'tag', 'excludeIds']) {
      expect(codeOf(() => parseQuery(ListQuerySchema, { [name]: [HIGH] }))).toBe('400 invalid_query');
      expect(codeOf(() => parseQuery(ListQuerySchema, { [name]: ['shoes 👟', 'a,b'] }))).toBe('no error');
    }
    // A parameter that is not repeatable, given twice (the query reader hands it over as an array).
    expect(codeOf(() => parseQuery(ListQuerySchema, { limit: ['3', '4'] }))).toBe('400 invalid_query');
  });
});

describe('ids and texts from the catalogue bucket', () => {
  it('ignores a key that is not well-formed instead of storing U+FFFD for it', () => {
    for (const key of [`catalogue/${HIGH}.png`, `catalogue/${LOW}/x.png`]) {
      const classified = classifyCatalogueKey(key);
      expect('ignored' in classified && classified.ignored).toContain('not well-formed Unicode');
    }
    expect(classifyCatalogueKey('catalogue/🍓/s\uFFFD.png')).toMatchObject({ itemId: 's\uFFFD' });
  });

  it('truncates long titles and tags without leaving half a surrogate pair', () => {
    const { attributes } = parseItemMetadata({
      title: `${'t'.repeat(255)}🍓`,
      tags: `${'g'.repeat(63)}🍓,x`,
    });
    expect(attributes.title).toBe('t'.repeat(255));
    expect(attributes.tags).toEqual(['g'.repeat(63), 'x']);
  });
});

describe('JSON bodies', () => {
  const post = (body: Buffer, headers: Record<string, string>, isBase64Encoded = true) =>
    ({
      headers,
      body: isBase64Encoded ? body.toString('base64') : body.toString('utf8'),
      isBase64Encoded,
      requestContext: {},
    }) as unknown as APIGatewayProxyEventV2;

  it.each([
    ['application/json', true],
    ['application/json; charset=utf-8', true],
    ['Application/JSON;charset="UTF-8"', true],
    ['application/json; charset=iso-8859-1', false],
    ['application/jsonx', false],
    ['application/json-patch+json', false],
    ['application/vnd.api+json', false],
    ['text/json', false],
    ['x-application/json', false],
    ['application/x-json', false],
  ])('takes %s for JSON: %s', (contentType, json) => {
    expect(isJsonContentType(contentType)).toBe(json);
    const body = Buffer.from('{"events":[]}');
    expect(codeOf(() => parseJsonBody(post(body, { 'content-type': contentType }), 1000))).toBe(
      json ? 'no error' : '415 unsupported_media_type',
    );
  });

  it('refuses invalid UTF-8 with invalid_utf8 instead of reading U+FFFD', () => {
    const body = Buffer.concat([Buffer.from('{"id":"s'), Buffer.from([0xff]), Buffer.from('"}')]);
    expect(codeOf(() => parseJsonBody(post(body, {}), 1000))).toBe('400 invalid_utf8');
    expect(codeOf(() => parseJsonBody(post(body, { 'content-type': 'application/json' }), 1000))).toBe(
      '400 invalid_utf8',
    );
    const valid = Buffer.from('{"id":"s\uFFFD 🍓"}');
    expect(parseJsonBody(post(valid, {}), 1000)).toEqual({ id: 's\uFFFD 🍓' });
  });
});

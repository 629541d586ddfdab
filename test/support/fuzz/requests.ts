/**
 * fast-check arbitraries for requests to the HTTP API: each generated case says which route it aims
 * at, who sends it, and whether it is a well-formed request by an allowed caller (which must get a 2xx).
 * Everything else may be refused, but only with a 4xx that carries a `code`.
 */
import fc from 'fast-check';
import { DEFAULT_PLACEMENTS } from '../../../functions/contract/placements';
import { EVENT_TYPES } from '../../../functions/domain/interest-profile';
import type { Caller } from '../local-app';

export interface FuzzRequest {
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
}

export interface FuzzCase {
  /** The route key the request aims at, or a description for requests that match none. */
  readonly route: string;
  readonly request: FuzzRequest;
  readonly as: Caller;
  /** Well-formed, by an allowed caller: must get a 2xx. */
  readonly valid: boolean;
}

/** What the generators may rely on being in the catalogue. */
export interface FuzzCatalogue {
  /** Ready items, embedded from real images. */
  readonly readyItemIds: readonly string[];
  /** Items that exist with status `rejected`. */
  readonly rejectedItemIds: readonly string[];
  /** Categories of ready items. */
  readonly categories: readonly string[];
  /** Small real images POST /search must answer with 200. */
  readonly images: ReadonlyArray<{ bytes: Buffer; contentType: string }>;
}

const DAY = 86_400_000;

/** The twin decodes a path twice (see matchRoute): an id with `/`, `%` or `?` in it survives only this. */
export const encodePathParam = (id: string) => encodeURIComponent(encodeURIComponent(id));

/** Ids that a shop could use: printable, not too long. */
export const plausibleId = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 });

/**
 * Ids that break the id rules: lone surrogates (high, low, reversed, at either end), ids over 256
 * characters or 512 UTF-8 bytes, and ids with C0, DEL and C1 control characters.
 */
export const malformedId = fc.oneof(
  fc
    .tuple(
      fc.string({ unit: 'grapheme-ascii', maxLength: 8 }),
      fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff', '\udc00\ud800', '\ud83c'),
      fc.string({ unit: 'grapheme-ascii', maxLength: 8 }),
    )
    .map(([before, surrogate, after]) => `${before}${surrogate}${after}`),
  fc
    .tuple(fc.constantFrom(257, 513, 600, 5000), fc.constantFrom('x', 'é', '🍓'))
    .map(([n, c]) => c.repeat(n)),
  fc
    .tuple(
      fc.string({ unit: 'grapheme-ascii', maxLength: 8 }),
      fc.constantFrom('\u0000', '\u0007', '\n', '\u001f', '\u007f', '\u0085', '\u009f'),
    )
    .map(([text, control]) => `${text}${control}${text}`),
);

/**
 * `encodeURIComponent` that does not throw on a lone surrogate: it is written as the three bytes a
 * careless client would send (WTF-8, e.g. `%ED%A0%80`), which no UTF-8 decoder accepts.
 */
export function encodeLoosely(id: string): string {
  return [...id]
    .map((c) => {
      const unit = c.charCodeAt(0);
      if (c.length > 1 || unit < 0xd800 || unit > 0xdfff) return encodeURIComponent(c);
      return [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)]
        .map((byte) => `%${byte.toString(16).toUpperCase()}`)
        .join('');
    })
    .join('');
}

/** Anything a path segment could carry once decoded, including control characters and huge ids. */
const hostileId = fc.oneof(
  { weight: 2, arbitrary: malformedId },
  { weight: 4, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }) },
  { weight: 2, arbitrary: plausibleId },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 257, max: 4000 }), fc.constantFrom('x', 'é', '🍓', '%'))
      .map(([n, c]) => c.repeat(n)),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '.',
      '..',
      '%',
      '%2F',
      '%%',
      '?',
      '#',
      '&',
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      'hasOwnProperty',
      '\u0000',
      '\u202e',
      ' ',
      '+',
      '🍓',
      'a/b',
      '%00',
      '%E0%A4%A',
      '\\',
      '<script>alert(1)</script>',
      "' OR '1'='1",
      `\${jndi:ldap://127.0.0.1/x}`,
      'null',
      'undefined',
      '0',
      '-1',
      '1e309',
    ),
  },
);

/** How the id is put in the path: properly, once, raw, or with a broken escape. */
const encodedHostileId = fc
  .tuple(hostileId, fc.constantFrom('twice', 'once', 'raw', 'broken'))
  .map(([id, how]) => {
    if (how === 'twice') return encodeURIComponent(encodeLoosely(id));
    if (how === 'once') return encodeLoosely(id);
    if (how === 'raw') return id;
    return `${encodeLoosely(id)}%${id.length % 2 === 0 ? 'G' : ''}`;
  });

const queryScalar = fc.oneof(
  fc.integer().map(String),
  fc.integer({ min: -5, max: 150 }).map(String),
  fc.double().map(String),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.jsonValue({ maxDepth: 2 }).map((value) => JSON.stringify(value) ?? 'undefined'),
  fc.constantFrom(
    '',
    'seen',
    'SEEN',
    'true',
    'null',
    '[]',
    '{}',
    'NaN',
    'Infinity',
    '-0',
    '1e309',
    '0x10',
    ' 5',
    '5 ',
    '10.5',
    '101',
    '0',
    '1e2',
    '9007199254740993',
  ),
);
const queryKey = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'limit',
      'category',
      'exclude',
      'placement',
      'tag',
      'tagMatch',
      'minPrice',
      'maxPrice',
      'maxPriceRatio',
      'strict',
      'excludeIds',
      'nextToken',
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'limit[]', 'LIMIT', '', 'offset'),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 10 }) },
);

/** A query string of any keys and values, properly encoded or raw. */
const anyQuery = fc
  .tuple(fc.array(fc.tuple(queryKey, queryScalar), { maxLength: 4 }), fc.boolean())
  .map(([pairs, encoded]) => {
    if (pairs.length === 0) return '';
    const text = encoded
      ? new URLSearchParams(pairs).toString()
      : pairs.map(([key, value]) => `${key}=${value}`).join('&');
    return `?${text}`;
  });

/**
 * `?limit=&category=&exclude=&placement=` and the filters (categories and tags repeated, a price
 * range, strictness, excluded ids) as a client that read the docs would send them (the stack's
 * default placements).
 */
function validQuery(catalogue: FuzzCatalogue, options: { exclude: boolean }) {
  const price = fc.integer({ min: 0, max: 100_000 }).map((cents) => cents / 100);
  return fc
    .record(
      {
        limit: fc.integer({ min: 1, max: 100 }).map(String),
        category: fc.uniqueArray(fc.constantFrom(...catalogue.categories), { minLength: 1, maxLength: 3 }),
        exclude: fc.constant('seen'),
        placement: fc.constantFrom(...Object.keys(DEFAULT_PLACEMENTS)),
        tag: fc.array(fc.constantFrom('red', 'wool', 'sale', 'new, in'), { minLength: 1, maxLength: 3 }),
        tagMatch: fc.constantFrom('any', 'all'),
        prices: fc.tuple(fc.option(price, { nil: undefined }), fc.option(price, { nil: undefined })),
        strict: fc.constantFrom('true', 'false'),
        excludeIds: fc.uniqueArray(fc.constantFrom(...catalogue.readyItemIds, 'no such item', 'a,b'), {
          maxLength: 5,
        }),
      },
      { requiredKeys: [] },
    )
    .map((query) => {
      const { exclude, prices, ...rest } = query;
      const pairs: Array<[string, string]> = [];
      for (const [key, value] of Object.entries(rest)) {
        if (Array.isArray(value)) for (const one of value) pairs.push([key, one]);
        else if (value !== undefined) pairs.push([key, value]);
      }
      if (options.exclude && exclude !== undefined) pairs.push(['exclude', exclude]);
      const [low, high] = prices ?? [];
      const bounds = [low, high].filter((p): p is number => p !== undefined).sort((a, b) => a - b);
      if (bounds.length === 2) pairs.push(['minPrice', String(bounds[0])], ['maxPrice', String(bounds[1])]);
      else if (bounds.length === 1)
        pairs.push([low !== undefined ? 'minPrice' : 'maxPrice', String(bounds[0])]);
      return pairs.length === 0 ? '' : `?${new URLSearchParams(pairs).toString()}`;
    });
}

export const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/vnd.api+json',
  'application/jsonx',
  'application/json; charset=iso-8859-1',
  'application/json-patch+json',
  'text/json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'image/png',
  'application/octet-stream',
  ';;;',
  'json',
];

const anyContentType = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 30 }) },
);

/** Whoever might call: a token of some user, an admin, nobody, or a token that is not one. */
function anyCaller(users: fc.Arbitrary<string>): fc.Arbitrary<Caller> {
  return fc.oneof(
    { weight: 3, arbitrary: users.map((user): Caller => ({ user })) },
    { weight: 2, arbitrary: fc.constant<Caller>({ admin: true }) },
    { weight: 2, arbitrary: fc.constant<Caller>({ anonymous: true }) },
    {
      weight: 1,
      arbitrary: fc
        .oneof(fc.string({ unit: 'grapheme-ascii', maxLength: 60 }), fc.constant('a.b.c'))
        .map((token): Caller => ({ token })),
    },
  );
}

const timestamp = (now: number, maxAgeMs: number) =>
  fc.oneof(
    fc.integer({ min: now - maxAgeMs + 60_000, max: now }),
    fc.integer({ min: now - maxAgeMs + 60_000, max: now }).map((at) => new Date(at).toISOString()),
  );

/** A well-formed event of `userId` about a ready item, with any of the optional fields. */
export function validEvent(
  catalogue: FuzzCatalogue,
  userId: string,
  options: { now: number; maxAgeMs?: number },
) {
  return fc.record(
    {
      eventId: fc.oneof(fc.uuid(), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 })),
      userId: fc.constant(userId),
      itemId: fc.constantFrom(...catalogue.readyItemIds),
      type: fc.constantFrom(...EVENT_TYPES),
      timestamp: timestamp(options.now, options.maxAgeMs ?? 29 * DAY),
      context: fc.record(
        {
          recommendationId: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 128 }),
          position: fc.integer({ min: 0, max: 10_000 }),
          surface: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 64 }),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ['eventId', 'userId', 'itemId', 'type'] },
  );
}

/**
 * Times no Date can hold or no parser should take: just past the largest date (8.64e15 ms), huge and
 * negative numbers, NaN-like strings, years beyond four digits or before zero.
 */
const hostileTimestamp = fc.oneof(
  fc.constantFrom(
    8.64e15 + 1,
    8.64e15,
    -8.64e15,
    -1,
    Number.MIN_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER,
    'NaN',
    'Infinity',
    '-Infinity',
    '-0',
    '',
    '+275760-09-13T00:00:00.001Z',
    '+275760-09-13T00:00:00Z',
    '-271821-04-20T00:00:00Z',
    '+999999-12-31T23:59:59Z',
    '99999-01-01T00:00:00Z',
    '-000001-01-01T00:00:00Z',
    '0000-01-01T00:00:00Z',
    '9999-12-31T23:59:60Z',
  ),
  fc.integer({ min: 1, max: 1e9 }).map((n) => 8.64e15 + n),
  fc.integer({ min: 10_000, max: 9_999_999 }).map((year) => `${year}-01-01T00:00:00Z`),
);

/** Event-shaped objects whose fields have any type, plus the keys an attacker would try. */
function eventLike(catalogue: FuzzCatalogue, userId: string) {
  const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined));
  return fc
    .record(
      {
        eventId: fc.oneof(plausibleId, malformedId, anyValue),
        userId: fc.oneof(fc.constant(userId), malformedId, anyValue),
        itemId: fc.oneof(fc.constantFrom(...catalogue.readyItemIds, 'no-such-item'), malformedId, anyValue),
        type: fc.oneof(fc.constantFrom(...EVENT_TYPES, 'love', 'LIKE'), anyValue),
        timestamp: fc.oneof(
          fc.constantFrom(1e308, -1, 2 ** 53, 0, 'yesterday', '2024-13-45T99:00:00Z', Number.MAX_VALUE),
          hostileTimestamp,
          anyValue,
        ),
        context: anyValue,
        extra: anyValue,
      },
      { requiredKeys: [] },
    )
    .map((event) => JSON.parse(JSON.stringify(event)) as unknown);
}

const deepNesting = fc
  .tuple(fc.integer({ min: 50, max: 200_000 }), fc.constantFrom('array', 'object', 'in-event'))
  .map(([depth, shape]) => {
    if (shape === 'array') return `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const nested = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    return shape === 'object' ? nested : `{"events":[{"eventId":"deep","context":${nested}}]}`;
  });

/** Raw JSON texts that are valid but hostile: huge numbers, prototype keys, duplicated keys. */
function hostileJson(userId: string, itemId: string) {
  const event = (extra: string) =>
    `{"eventId":"h","userId":${JSON.stringify(userId)},"itemId":${JSON.stringify(itemId)},"type":"like"${extra}}`;
  return fc.constantFrom(
    `{"events":[${event(',"timestamp":1e400')}]}`,
    `{"events":[${event(',"timestamp":8640000000000001')},${event(',"eventId":"beside"')}]}`,
    `{"events":[{"eventId":"s\\ud800","userId":"s\\udc00","itemId":${JSON.stringify(itemId)},"type":"like"}]}`,
    `{"events":[{"eventId":"f9","userId":${JSON.stringify(userId)},"itemId":"no-such-item","type":"like"},${event(',"eventId":"f9"')}]}`,
    `{"events":[${event(',"timestamp":123456789012345678901234567890')}]}`,
    `{"events":[${event(',"timestamp":-1e-400')}]}`,
    `{"events":[${event(',"__proto__":{"userId":"someone-else","admin":true}')}]}`,
    `{"events":[${event(',"constructor":{"prototype":{"polluted":true}}')}]}`,
    `{"__proto__":{"events":[${event('')}]}}`,
    `{"events":[${event('')}],"__proto__":{"polluted":true}}`,
    `{"events":{"length":1,"0":${event('')}}}`,
    `{"events":[${event('')}],"events":[]}`,
    `{"events":[${event(',"userId":"someone-else"')}]}`,
    `{"events":[${event(',"context":{"position":1e400}')}]}`,
    '{"events":[null,true,1,"x",[],{}]}',
    '{"events":null}',
    '{"events":"[]"}',
    'null',
    '0',
    '"events"',
    '\uFEFF{"events":[]}',
    '{"events":[',
    '{"events":[]}}',
  );
}

/**
 * A well-formed batch with bytes no UTF-8 decoder accepts inside one of its strings: a stray
 * continuation or lead byte, an encoded surrogate (CESU-8), an overlong form, a cut-off sequence.
 */
function invalidUtf8Body(catalogue: FuzzCatalogue, userId: string) {
  return fc
    .tuple(
      fc.constantFrom(
        [0xff],
        [0x80],
        [0xc3],
        [0xed, 0xa0, 0x80],
        [0xed, 0xbf, 0xbf],
        [0xc0, 0x80],
        [0xf0, 0x9f, 0x8d],
        [0xf8, 0x88, 0x80, 0x80, 0x80],
      ),
      fc.constantFrom('eventId', 'userId', 'itemId'),
    )
    .map(([bytes, field]) => {
      const marker = 'INVALID-UTF8-HERE';
      const event: Record<string, string> = {
        eventId: 'bytes',
        userId,
        itemId: catalogue.readyItemIds[0] as string,
        type: 'like',
      };
      event[field] = `${event[field]}${marker}`;
      const [before = '', after = ''] = JSON.stringify({ events: [event] }).split(marker);
      return Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]);
    });
}

/** Bodies for the event routes: random JSON, event-shaped junk, hostile texts, or bytes. */
function anyEventsBody(catalogue: FuzzCatalogue, userId: string) {
  return fc.oneof(
    { weight: 3, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value) ?? '') },
    {
      weight: 4,
      arbitrary: fc
        .array(eventLike(catalogue, userId), { minLength: 0, maxLength: 8 })
        .map((events) => JSON.stringify({ events })),
    },
    { weight: 3, arbitrary: hostileJson(userId, catalogue.readyItemIds[0] as string) },
    { weight: 1, arbitrary: deepNesting },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)) },
    { weight: 2, arbitrary: invalidUtf8Body(catalogue, userId) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 101, max: 150 })
        .map((n) => JSON.stringify({ events: Array.from({ length: n }, (_, i) => ({ eventId: `${i}` })) })),
    },
  );
}

let uniqueEvent = 0;
/** Event ids unique across the run, so a valid batch is never a payload conflict of an earlier one. */
const unique = <T extends { eventId: string }>(event: T): T => {
  uniqueEvent += 1;
  return { ...event, eventId: `${event.eventId}~${uniqueEvent}` };
};

/**
 * One arbitrary per route of the API (plus requests that match no route), each mixing valid cases
 * with hostile ones; `valid` says which is which.
 */
export function routeArbitraries(catalogue: FuzzCatalogue, now = Date.now()) {
  const users = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('fuzz-a', 'fuzz b ü', 'fuzz/c?d%', 'fuzz-🍓') },
    { weight: 2, arbitrary: plausibleId },
  );
  const anyItemId = fc.oneof(
    fc.constantFrom(...catalogue.readyItemIds, ...catalogue.rejectedItemIds).map(encodePathParam),
    encodedHostileId,
  );
  const headers = (contentType?: string): Record<string, string> =>
    contentType === undefined ? {} : { 'content-type': contentType };

  const item: fc.Arbitrary<FuzzCase> = fc.oneof(
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...catalogue.readyItemIds, ...catalogue.rejectedItemIds), users)
        .map(([itemId, user]) => ({
          route: 'GET /items/{itemId}',
          request: { method: 'GET', path: `/items/${encodePathParam(itemId)}` },
          as: { user },
          valid: true,
        })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(anyItemId, anyQuery, anyCaller(users)).map(([itemId, query, as]) => ({
        route: 'GET /items/{itemId}',
        request: { method: 'GET', path: `/items/${itemId}${query}` },
        as,
        valid: false,
      })),
    },
  );

  const similar: fc.Arbitrary<FuzzCase> = fc.oneof(
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...catalogue.readyItemIds),
          validQuery(catalogue, { exclude: false }),
          fc.oneof(
            users.map((user): Caller => ({ user })),
            fc.constant<Caller>({ admin: true }),
          ),
        )
        .map(([itemId, query, as]) => ({
          route: 'GET /items/{itemId}/similar',
          request: { method: 'GET', path: `/items/${encodePathParam(itemId)}/similar${query}` },
          as,
          valid: true,
        })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(anyItemId, anyQuery, anyCaller(users)).map(([itemId, query, as]) => ({
        route: 'GET /items/{itemId}/similar',
        request: { method: 'GET', path: `/items/${itemId}/similar${query}` },
        as,
        valid: false,
      })),
    },
  );

  const recommendations: fc.Arbitrary<FuzzCase> = fc.oneof(
    {
      weight: 1,
      arbitrary: fc
        .tuple(users, validQuery(catalogue, { exclude: true }), fc.boolean())
        .map(([userId, query, admin]) => ({
          route: 'GET /users/{userId}/recommendations',
          request: { method: 'GET', path: `/users/${encodePathParam(userId)}/recommendations${query}` },
          as: admin ? { admin: true as const } : { user: userId },
          valid: true,
        })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.oneof(users.map(encodePathParam), encodedHostileId), anyQuery, anyCaller(users))
        .map(([userId, query, as]) => ({
          route: 'GET /users/{userId}/recommendations',
          request: { method: 'GET', path: `/users/${userId}/recommendations${query}` },
          as,
          valid: false,
        })),
    },
  );

  const eventsFor = (route: '/events' | '/events/import') => {
    const maxAgeMs = route === '/events' ? 29 * DAY : 89 * DAY;
    const validCase = users.chain((userId) =>
      fc
        .tuple(
          fc.array(validEvent(catalogue, userId, { now, maxAgeMs }), { minLength: 1, maxLength: 10 }),
          fc.constantFrom(
            'application/json',
            'application/json; charset=utf-8',
            'Application/JSON;charset=UTF-8',
          ),
        )
        .map(
          ([events, contentType]): FuzzCase => ({
            route: `POST ${route}`,
            request: {
              method: 'POST',
              path: route,
              headers: headers(contentType),
              body: JSON.stringify({ events: events.map(unique) }),
            },
            as: route === '/events' ? { user: userId } : { iam: true },
            valid: true,
          }),
        ),
    );
    const hostileCase = users.chain((userId) =>
      fc
        .tuple(
          anyEventsBody(catalogue, userId),
          fc.option(anyContentType, { nil: undefined }),
          route === '/events'
            ? anyCaller(fc.oneof(fc.constant(userId), users))
            : fc.oneof(fc.constant<Caller>({ iam: true }), anyCaller(users)),
        )
        .map(
          ([body, contentType, as]): FuzzCase => ({
            route: `POST ${route}`,
            request: { method: 'POST', path: route, headers: headers(contentType), body },
            as,
            valid: false,
          }),
        ),
    );
    /**
     * A well-formed batch by an allowed caller in which one event breaks a rule of its own (a time no
     * Date can hold, an id that is not well-formed, an eventId first sent with an unknown item): the
     * batch must still be a 2xx, that event rejected in the results and the others recorded.
     */
    const nearValidCase = users.chain((userId) =>
      fc
        .tuple(
          validEvent(catalogue, userId, { now, maxAgeMs }),
          fc.array(validEvent(catalogue, userId, { now, maxAgeMs }), { minLength: 1, maxLength: 4 }),
          fc.oneof(
            hostileTimestamp.map((timestamp) => ({ timestamp })),
            malformedId.map((eventId) => ({ eventId })),
            malformedId.map((itemId) => ({ itemId })),
            malformedId.map((recommendationId) => ({ context: { recommendationId } })),
            // The user is the caller's on /events (another one refuses the whole request with 403).
            ...(route === '/events/import' ? [malformedId.map((userId) => ({ userId }))] : []),
            fc.constant({ repeatAfterUnknownItem: true }),
          ),
          fc.nat(),
        )
        .map(([base, others, mutation, at]): FuzzCase => {
          const event = unique(base);
          const broken =
            'repeatAfterUnknownItem' in mutation
              ? [{ ...event, itemId: 'no-such-item' }, event]
              : [{ ...event, ...mutation }];
          const events = others.map(unique);
          events.splice(at % (events.length + 1), 0, ...broken);
          return {
            route: `POST ${route}`,
            request: {
              method: 'POST',
              path: route,
              headers: headers('application/json'),
              body: JSON.stringify({ events }),
            },
            as: route === '/events' ? { user: userId } : { iam: true },
            valid: true,
          };
        }),
    );
    return fc.oneof(
      { weight: 1, arbitrary: validCase },
      { weight: 1, arbitrary: hostileCase },
      { weight: 1, arbitrary: nearValidCase },
    );
  };

  const deleteUser: fc.Arbitrary<FuzzCase> = fc.oneof(
    {
      weight: 1,
      arbitrary: plausibleId.map((userId) => ({
        route: 'DELETE /users/{userId}',
        request: { method: 'DELETE', path: `/users/${encodePathParam(`gone ${userId}`)}` },
        as: { user: `gone ${userId}` },
        valid: true,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(encodedHostileId, anyCaller(users)).map(([userId, as]) => ({
        route: 'DELETE /users/{userId}',
        request: { method: 'DELETE', path: `/users/${userId}` },
        as,
        valid: false,
      })),
    },
  );

  const imageMagic = fc.constantFrom(
    [0xff, 0xd8, 0xff],
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    [...Buffer.from('GIF89a')],
    [...Buffer.from('RIFF\0\0\0\0WEBP')],
    [0x49, 0x49, 0x2a, 0x00],
    [0, 0, 0, 0x18, ...Buffer.from('ftypavif')],
    [...Buffer.from('<svg ')],
    [],
  );
  const search: fc.Arbitrary<FuzzCase> = fc.oneof(
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...catalogue.images), validQuery(catalogue, { exclude: false }))
        .map(([image, query]) => ({
          route: 'POST /search',
          request: {
            method: 'POST',
            path: `/search${query}`,
            headers: { 'content-type': image.contentType },
            body: image.bytes,
          },
          as: { user: 'searcher' },
          valid: true,
        })),
    },
    {
      weight: 30,
      arbitrary: fc
        .tuple(
          imageMagic,
          fc.uint8Array({ maxLength: 48 }),
          fc.oneof(
            fc.constantFrom('image/png', 'image/jpeg', 'image/*', 'IMAGE/GIF', 'image/svg+xml'),
            anyContentType,
          ),
          fc.oneof(fc.constant(''), anyQuery),
          anyCaller(users),
        )
        .map(([magic, bytes, contentType, query, as]) => ({
          route: 'POST /search',
          request: {
            method: 'POST',
            path: `/search${query}`,
            headers: { 'content-type': contentType },
            body: Buffer.concat([Buffer.from(magic), bytes]),
          },
          as,
          valid: false,
        })),
    },
  );

  const extraHeaders = fc.dictionary(
    fc.oneof(
      fc.constantFrom(
        'accept',
        'accept-encoding',
        'user-agent',
        'cookie',
        'x-forwarded-for',
        'x-amzn-trace-id',
        'host',
        'content-length',
        'transfer-encoding',
        'connection',
        'origin',
        'x-api-key',
      ),
      fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz-'), minLength: 1, maxLength: 12 }),
    ),
    fc.string({ unit: 'grapheme-ascii', maxLength: 60 }),
    { maxKeys: 5 },
  );

  /** Requests to paths and methods the API does not have. */
  const elsewhere = (headers: fc.Arbitrary<Record<string, string>>): fc.Arbitrary<FuzzCase> =>
    fc
      .tuple(
        fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'get'),
        fc.oneof(
          fc.constantFrom(
            '/',
            '/items',
            '/items/',
            '/users//recommendations',
            '/events/',
            '/search/x',
            '//items/x',
            '/items/x/similar/y',
            '/%',
            '/%2e%2e/%2e%2e/etc/passwd',
            '/local/token',
          ),
          fc.string({ unit: 'grapheme-ascii', maxLength: 30 }).map((path) => `/${path}`),
        ),
        headers,
        anyCaller(users),
      )
      .map(([method, path, headers, as]) => ({
        route: 'no such route',
        request: { method, path, headers },
        as,
        valid: false,
      }));

  /** Valid requests with headers nobody expects, and requests to paths and methods the API lacks. */
  const headersAndPaths: fc.Arbitrary<FuzzCase> = fc.oneof(
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...catalogue.readyItemIds), extraHeaders, users)
        .map(([itemId, headers, user]) => ({
          route: 'GET /items/{itemId} with odd headers',
          request: { method: 'GET', path: `/items/${encodePathParam(itemId)}`, headers },
          as: { user },
          valid: true,
        })),
    },
    { weight: 2, arbitrary: elsewhere(extraHeaders) },
  );

  return {
    'GET /items/{itemId}': item,
    'GET /items/{itemId}/similar': similar,
    'GET /users/{userId}/recommendations': recommendations,
    'POST /events': eventsFor('/events'),
    'POST /events/import': eventsFor('/events/import'),
    'DELETE /users/{userId}': deleteUser,
    'POST /search': search,
    'headers and unknown paths': headersAndPaths,
  };
}

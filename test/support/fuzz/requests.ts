/**
 * fast-check arbitraries for requests to the HTTP API: each generated case says which route it aims
 * at, who sends it, and whether it is a well-formed request by an allowed caller (which must get a 2xx).
 * Everything else may be refused, but only with a 4xx that carries a `code`.
 */
import fc from 'fast-check';
import { InterestPatchSchema } from '../../../functions/app/track-events';
import { DEFAULT_PLACEMENTS } from '../../../functions/contract/placements';
import { RULE_LISTS } from '../../../functions/contract/rules';
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
  /** A user's interest that PATCH may edit (issue 23; never forgotten by the generators). */
  readonly interest: { readonly userId: string; readonly interestId: string };
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

/** `?limit=&category=&placement=`, the parameters GET /trending takes, as a client would send them. */
function trendingQuery(catalogue: FuzzCatalogue) {
  return fc
    .record(
      {
        limit: fc.integer({ min: 1, max: 100 }).map(String),
        category: fc.uniqueArray(fc.constantFrom(...catalogue.categories), { minLength: 1, maxLength: 3 }),
        placement: fc.constantFrom(...Object.keys(DEFAULT_PLACEMENTS)),
      },
      { requiredKeys: [] },
    )
    .map((query) => {
      const pairs: Array<[string, string]> = [];
      for (const [key, value] of Object.entries(query)) {
        if (Array.isArray(value)) for (const one of value) pairs.push([key, one]);
        else if (value !== undefined) pairs.push([key, value]);
      }
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
 * Stands, in a request's path, for a rule created (at version 1) just before the request is sent: the
 * fuzz test substitutes a new rule's id, so a valid PUT or DELETE names a rule that exists.
 */
export const FRESH_RULE = '{fresh-rule}';

/** Labels (names, categories, tags) within `max` UTF-16 code units, the contract's unit. */
const label = (max: number) =>
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((text) => text.length <= max);

/** Times from two years ago to two years ahead, as `toISOString` writes them or with an offset. */
const ruleTime = (now: number) =>
  fc
    .tuple(fc.integer({ min: now - 730 * DAY, max: now + 730 * DAY }), fc.boolean())
    .map(([at, withOffset]) => {
      const iso = new Date(at).toISOString();
      if (!withOffset) return { at, text: iso };
      // The same instant written at +02:00.
      return { at, text: `${new Date(at + 2 * 3_600_000).toISOString().slice(0, -1)}+02:00` };
    });

/** Which items a boost, bury or promotion is about: at least one part, minPrice <= maxPrice. */
function validCondition(catalogue: FuzzCatalogue) {
  const price = fc.double({ min: 0, max: 1e12, noNaN: true, noDefaultInfinity: true });
  return fc
    .record(
      {
        itemIds: fc.uniqueArray(fc.oneof(fc.constantFrom(...catalogue.readyItemIds), plausibleId), {
          minLength: 1,
          maxLength: 5,
        }),
        categories: fc.uniqueArray(fc.oneof(fc.constantFrom(...catalogue.categories), label(128)), {
          minLength: 1,
          maxLength: 3,
        }),
        tags: fc.array(fc.oneof(fc.constantFrom('sale', 'new, in', 'red'), label(64)), {
          minLength: 1,
          maxLength: 3,
        }),
        prices: fc.tuple(fc.option(price, { nil: undefined }), fc.option(price, { nil: undefined })),
        newerThanDays: fc.double({ min: 0, max: 3650, minExcluded: true, noNaN: true }),
      },
      { requiredKeys: [] },
    )
    .map(({ prices, ...rest }) => {
      const [low, high] = [...(prices ?? [])]
        .filter((p): p is number => p !== undefined)
        .sort((a, b) => a - b);
      const bounds =
        low === undefined ? {} : high === undefined ? { minPrice: low } : { minPrice: low, maxPrice: high };
      return { ...rest, ...bounds };
    })
    .filter((condition) => Object.keys(condition).length > 0);
}

/** A rule as the docs describe it: any of the four kinds, with any of the optional fields. */
export function validRuleDefinition(catalogue: FuzzCatalogue, now: number) {
  const common = fc
    .record(
      {
        name: label(200),
        placements: fc.array(fc.constantFrom(...Object.keys(DEFAULT_PLACEMENTS), '*'), {
          minLength: 1,
          maxLength: 4,
        }),
        lists: fc.uniqueArray(fc.constantFrom(...RULE_LISTS), { minLength: 1, maxLength: 3 }),
        window: fc.tuple(
          fc.option(ruleTime(now), { nil: undefined }),
          fc.option(ruleTime(now), { nil: undefined }),
        ),
      },
      { requiredKeys: ['name', 'placements'] },
    )
    .map(({ window, ...rest }) => {
      const times = [window?.[0], window?.[1]].filter(
        (t): t is { at: number; text: string } => t !== undefined,
      );
      times.sort((a, b) => a.at - b.at);
      const [first, second] = times;
      if (!first) return rest;
      if (!second || second.at === first.at) return { ...rest, startsAt: first.text };
      return { ...rest, startsAt: first.text, endsAt: second.text };
    });
  const factor = fc.double({ min: 1, max: 10, minExcluded: true, noNaN: true });
  const kind = fc.oneof(
    fc
      .tuple(fc.constantFrom('boost', 'bury'), validCondition(catalogue), factor)
      .map(([k, condition, f]) => ({
        kind: k,
        condition,
        factor: f,
      })),
    fc
      .tuple(
        fc.oneof(fc.constantFrom(...catalogue.readyItemIds), plausibleId),
        fc.integer({ min: 1, max: 100 }),
      )
      .map(([itemId, position]) => ({ kind: 'pin', itemId, position })),
    fc
      .tuple(validCondition(catalogue), fc.double({ min: 0, max: 0.5, minExcluded: true, noNaN: true }))
      .map(([condition, share]) => ({ kind: 'promote', condition, share })),
  );
  return fc.tuple(common, kind).map(([c, k]) => ({ ...c, ...k }) as Record<string, unknown>);
}

/** What breaks a rule: one field of a valid rule replaced, or a field it must not have. */
function brokenRuleField() {
  const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined));
  return fc.oneof(
    fc.constantFrom<Record<string, unknown>>(
      { kind: 'shuffle' },
      { kind: 'BOOST' },
      { kind: undefined },
      { factor: 1 },
      { factor: 11 },
      { factor: 10.000001 },
      { factor: 0 },
      { factor: -2 },
      { share: 0 },
      { share: 0.6 },
      { position: 0 },
      { position: 101 },
      { position: 2.5 },
      { condition: {} },
      { condition: { colour: 'red' } },
      { condition: { minPrice: 5, maxPrice: 1 } },
      { condition: { tags: [] } },
      { condition: { itemIds: Array.from({ length: 101 }, (_, i) => `id-${i}`) } },
      { condition: null },
      { placements: [] },
      { placements: ['nowhere'] },
      { placements: ['Home Page'] },
      { placements: ['constructor'] },
      { placements: ['__proto__'] },
      { lists: [] },
      { lists: ['trending'] },
      { name: '' },
      { name: 'x'.repeat(201) },
      { startsAt: '2030-01-01T00:00:00Z', endsAt: '2029-01-01T00:00:00Z' },
      { startsAt: '2030-01-01T00:00:00Z', endsAt: '2030-01-01T00:00:00Z' },
      { startsAt: 'tomorrow' },
      { startsAt: '2030-01-01T00:00:00' },
      { endsAt: '2030-02-30T00:00:00Z' },
      { endsAt: 1893456000000 },
      { version: 1 },
      { ruleId: 'r-AAAAAAAAAAAAAAAAAAAAAA' },
      { priority: 1 },
      { status: 'active' },
      { createdAt: '2030-01-01T00:00:00Z' },
    ),
    fc
      .tuple(
        fc.constantFrom(
          'name',
          'kind',
          'placements',
          'lists',
          'condition',
          'factor',
          'share',
          'itemId',
          'position',
        ),
        anyValue,
      )
      .map(([field, value]) => ({ [field]: value })),
    malformedId.map((name) => ({ name })),
    malformedId.map((itemId) => ({ itemId, kind: 'pin', position: 1 })),
    hostileTimestamp.map((startsAt) => ({ startsAt })),
    hostileTimestamp.map((endsAt) => ({ endsAt })),
  );
}

/** Raw rule texts a parser should survive: huge numbers, prototype keys, duplicate keys, junk. */
const hostileRuleJson = fc.constantFrom(
  '{"name":"n","kind":"boost","placements":["*"],"condition":{"tags":["a"]},"factor":1e400}',
  '{"name":"n","kind":"boost","placements":["*"],"condition":{"minPrice":1e-400},"factor":2}',
  '{"name":"n","kind":"promote","placements":["*"],"condition":{"tags":["a"]},"share":5e-324}',
  '{"name":"n","kind":"pin","placements":["*"],"itemId":"a","position":1e2}',
  '{"name":"n","kind":"pin","placements":["*"],"itemId":"a","position":123456789012345678901234567890}',
  '{"name":"n","kind":"boost","placements":["*"],"condition":{"tags":["a"]},"factor":2,"__proto__":{"admin":true}}',
  '{"name":"n","kind":"boost","placements":["*"],"condition":{"tags":["a"],"__proto__":{"x":1}},"factor":2}',
  '{"name":"n","kind":"boost","placements":["*"],"condition":{"tags":["a"]},"factor":2,"constructor":{"prototype":{"polluted":true}}}',
  '{"__proto__":{"name":"n","kind":"boost","placements":["*"],"condition":{"tags":["a"]},"factor":2}}',
  '{"name":"n","kind":"boost","kind":"bury","placements":["*"],"condition":{"tags":["a"]},"factor":2}',
  '{"name":"s\\ud800","kind":"boost","placements":["*"],"condition":{"tags":["a"]},"factor":2}',
  '{"name":"n","kind":"boost","placements":"*","condition":{"tags":["a"]},"factor":2}',
  '{"name":"n","kind":"boost","placements":["*"],"condition":{"tags":"a"},"factor":"2"}',
  '{"name":"n","kind":"boost","placements":["*"],"condition":{"tags":["a"]},"factor":2,"version":9007199254740993}',
  '[{"name":"n","kind":"boost","placements":["*"],"condition":{"tags":["a"]},"factor":2}]',
  '\uFEFF{"name":"n","kind":"boost","placements":["*"],"condition":{"tags":["a"]},"factor":2}',
  '{"name":"n",',
  '{}',
  'null',
  '"rule"',
  '0',
);

/** A rule body, with versions a client should not send on PUT: junk, zero, huge, fractional. */
const hostileVersion = fc.oneof(
  fc.constantFrom(0, -1, 1.5, 2 ** 53, 2 ** 53 + 2, 1e300, Number.MAX_VALUE, '1', null, true, [1], { n: 1 }),
  fc.integer({ min: 1, max: 5 }),
  fc.constant(undefined),
);

/** A rule id in the path: a fresh rule's, a well-formed unknown one, or anything at all. */
const ruleIdInPath = fc.oneof(
  { weight: 2, arbitrary: fc.constant(FRESH_RULE) },
  {
    weight: 2,
    arbitrary: fc
      .string({
        unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-'),
        minLength: 22,
        maxLength: 22,
      })
      .map((id) => `r-${id}`),
  },
  { weight: 3, arbitrary: encodedHostileId },
);

/**
 * The merchandising rules' routes (admin only): valid calls by an admin (list, create, read, replace
 * at the version a fresh rule has, delete at or without it), and hostile ones: broken and raw bodies,
 * odd content types, bad versions and ids, and every kind of caller.
 */
function rulesArbitrary(catalogue: FuzzCatalogue, users: fc.Arbitrary<string>, now: number) {
  const definition = validRuleDefinition(catalogue, now);
  const jsonType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON');
  const json = (method: string, path: string, contentType: string, body: unknown): FuzzRequest => ({
    method,
    path,
    headers: { 'content-type': contentType },
    body: JSON.stringify(body),
  });
  const admin: Caller = { admin: true };

  const valid: fc.Arbitrary<FuzzCase> = fc.oneof(
    fc.constant<FuzzCase>({
      route: 'GET /rules',
      request: { method: 'GET', path: '/rules' },
      as: admin,
      valid: true,
    }),
    fc.tuple(definition, jsonType).map(([body, contentType]) => ({
      route: 'POST /rules',
      request: json('POST', '/rules', contentType, body),
      as: admin,
      valid: true,
    })),
    fc.constant<FuzzCase>({
      route: 'GET /rules/{ruleId}',
      request: { method: 'GET', path: `/rules/${FRESH_RULE}` },
      as: admin,
      valid: true,
    }),
    fc.tuple(definition, jsonType).map(([body, contentType]) => ({
      route: 'PUT /rules/{ruleId}',
      request: json('PUT', `/rules/${FRESH_RULE}`, contentType, { ...body, version: 1 }),
      as: admin,
      valid: true,
    })),
    fc.constantFrom('', '?version=1').map((query) => ({
      route: 'DELETE /rules/{ruleId}',
      request: { method: 'DELETE', path: `/rules/${FRESH_RULE}${query}` },
      as: admin,
      valid: true,
    })),
  );

  const hostileBody = fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .tuple(definition, fc.array(brokenRuleField(), { minLength: 1, maxLength: 2 }))
        .map(([body, changes]) => JSON.stringify(Object.assign({}, body, ...changes))),
    },
    { weight: 2, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value) ?? '') },
    { weight: 2, arbitrary: hostileRuleJson },
    { weight: 1, arbitrary: deepNesting },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom([0xff], [0xed, 0xa0, 0x80], [0xc0, 0x80])
        .map((bytes) =>
          Buffer.concat([Buffer.from('{"name":"'), Buffer.from(bytes), Buffer.from('","kind":"pin"}')]),
        ),
    },
    // Over the 256 KiB a rule body may have.
    {
      weight: 1,
      arbitrary: fc.constant(null).map(() =>
        JSON.stringify({
          name: 'n',
          kind: 'pin',
          placements: ['*'],
          itemId: 'x'.repeat(300_000),
          position: 1,
        }),
      ),
    },
  );
  const caller = fc.oneof(
    { weight: 2, arbitrary: fc.constant<Caller>(admin) },
    { weight: 2, arbitrary: anyCaller(users) },
  );
  const contentType = fc.option(fc.oneof(jsonType, anyContentType), { nil: undefined });
  const headers = (type: string | undefined): Record<string, string> =>
    type === undefined ? {} : { 'content-type': type };

  const hostile: fc.Arbitrary<FuzzCase> = fc.oneof(
    fc.tuple(anyQuery, caller).map(([query, as]) => ({
      route: 'GET /rules',
      request: { method: 'GET', path: `/rules${query}` },
      as,
      valid: false,
    })),
    fc.tuple(hostileBody, contentType, caller).map(([body, type, as]) => ({
      route: 'POST /rules',
      request: { method: 'POST', path: '/rules', headers: headers(type), body },
      as,
      valid: false,
    })),
    // A valid rule by a caller who may not manage rules.
    fc.tuple(definition, anyCaller(users)).map(([body, as]) => ({
      route: 'POST /rules',
      request: json('POST', '/rules', 'application/json', body),
      as,
      valid: false,
    })),
    fc.tuple(ruleIdInPath, anyQuery, caller).map(([ruleId, query, as]) => ({
      route: 'GET /rules/{ruleId}',
      request: { method: 'GET', path: `/rules/${ruleId}${query}` },
      as,
      valid: false,
    })),
    fc.tuple(ruleIdInPath, hostileBody, contentType, caller).map(([ruleId, body, type, as]) => ({
      route: 'PUT /rules/{ruleId}',
      request: { method: 'PUT', path: `/rules/${ruleId}`, headers: headers(type), body },
      as,
      valid: false,
    })),
    fc.tuple(ruleIdInPath, definition, hostileVersion, caller).map(([ruleId, body, version, as]) => ({
      route: 'PUT /rules/{ruleId}',
      request: json('PUT', `/rules/${ruleId}`, 'application/json', { ...body, version }),
      as,
      valid: false,
    })),
    fc
      .tuple(
        ruleIdInPath,
        fc.oneof(
          anyQuery,
          fc
            .oneof(queryScalar, fc.constantFrom('1', '2', '1.0', '01', '+1', '1e0'))
            .map((value) => `?${new URLSearchParams([['version', value]])}`),
        ),
        caller,
      )
      .map(([ruleId, query, as]) => ({
        route: 'DELETE /rules/{ruleId}',
        request: { method: 'DELETE', path: `/rules/${ruleId}${query}` },
        as,
        valid: false,
      })),
    // Methods the rules paths do not have.
    fc
      .tuple(
        fc.constantFrom('PATCH', 'PUT', 'DELETE', 'POST'),
        fc.constantFrom('/rules', `/rules/${FRESH_RULE}`),
        caller,
      )
      .filter(([method, path]) =>
        path === '/rules' ? method !== 'POST' : method === 'PATCH' || method === 'POST',
      )
      .map(([method, path, as]) => ({
        route: 'no such route',
        request: { method, path },
        as,
        valid: false,
      })),
  );

  return fc.oneof({ weight: 1, arbitrary: valid }, { weight: 1, arbitrary: hostile });
}

/**
 * GET /admin/metrics (admin only): a period, placement and source as an admin would ask, and hostile
 * queries (any keys and values, bad days, reversed or too long periods, unknown placements and
 * sources) from every kind of caller.
 */
function metricsArbitrary(users: fc.Arbitrary<string>, now: number) {
  const admin: Caller = { admin: true };
  const day = (offset: number) => new Date(now + offset * 86_400_000).toISOString().slice(0, 10);
  const valid: fc.Arbitrary<FuzzCase> = fc
    .record(
      {
        from: fc.integer({ min: -60, max: -30 }).map(day),
        to: fc.integer({ min: -29, max: 0 }).map(day),
        placement: fc.constantFrom('home', 'product', 'checkout', 'email', 'personal', 'similar_item'),
        source: fc.constantFrom('organic', 'exploration', 'pinned', 'promoted'),
      },
      { requiredKeys: [] },
    )
    .map((query) => ({
      route: 'GET /admin/metrics',
      request: { method: 'GET', path: `/admin/metrics?${new URLSearchParams(query)}` },
      as: admin,
      valid: true,
    }));
  const badQuery = fc.oneof(
    anyQuery,
    fc
      .tuple(
        fc.constantFrom('from', 'to', 'placement', 'source'),
        fc.oneof(
          queryScalar,
          fc.constantFrom('2026-02-30', '2026-13-01', '1999-1-1', '0000-00-00', 'nowhere', 'paid', ''),
        ),
      )
      .map(([key, value]) => `?${new URLSearchParams([[key, value]])}`),
    fc.constant(`?from=${day(0)}&to=${day(-1)}`),
    fc.constant(`?from=${day(-200)}&to=${day(0)}`),
  );
  const hostile: fc.Arbitrary<FuzzCase> = fc
    .tuple(badQuery, fc.oneof(fc.constant<Caller>(admin), anyCaller(users)))
    .map(([query, as]) => ({
      route: 'GET /admin/metrics',
      request: { method: 'GET', path: `/admin/metrics${query}` },
      as,
      valid: false,
    }));
  return fc.oneof({ weight: 1, arbitrary: valid }, { weight: 1, arbitrary: hostile });
}

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

  // Complements take limit and sameCategory only (no filters, no paging).
  const complementsQuery = fc
    .record({
      limit: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
      sameCategory: fc.option(fc.constantFrom('true', 'false'), { nil: undefined }),
    })
    .map((query) => {
      const parameters = new URLSearchParams();
      if (query.limit !== undefined) parameters.set('limit', String(query.limit));
      if (query.sameCategory !== undefined) parameters.set('sameCategory', query.sameCategory);
      const text = parameters.toString();
      return text ? `?${text}` : '';
    });
  const complements: fc.Arbitrary<FuzzCase> = fc.oneof(
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...catalogue.readyItemIds),
          complementsQuery,
          fc.oneof(
            users.map((user): Caller => ({ user })),
            fc.constant<Caller>({ admin: true }),
          ),
        )
        .map(([itemId, query, as]) => ({
          route: 'GET /items/{itemId}/complements',
          request: { method: 'GET', path: `/items/${encodePathParam(itemId)}/complements${query}` },
          as,
          valid: true,
        })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(anyItemId, anyQuery, anyCaller(users)).map(([itemId, query, as]) => ({
        route: 'GET /items/{itemId}/complements',
        request: { method: 'GET', path: `/items/${itemId}/complements${query}` },
        as,
        valid: false,
      })),
    },
  );

  const trending: fc.Arbitrary<FuzzCase> = fc.oneof(
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          trendingQuery(catalogue),
          fc.oneof(
            users.map((user): Caller => ({ user })),
            fc.constant<Caller>({ admin: true }),
          ),
        )
        .map(([query, as]) => ({
          route: 'GET /trending',
          request: { method: 'GET', path: `/trending${query}` },
          as,
          valid: true,
        })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(anyQuery, anyCaller(users)).map(([query, as]) => ({
        route: 'GET /trending',
        request: { method: 'GET', path: `/trending${query}` },
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

  /** `?kind=viewed|purchased&limit=` as the docs describe it, in either order. */
  const historyQuery = fc
    .tuple(
      fc.constantFrom('viewed', 'purchased'),
      fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
      fc.boolean(),
    )
    .map(([kind, limit, limitFirst]) => {
      const pairs: Array<[string, string]> = [['kind', kind]];
      if (limit !== undefined) pairs[limitFirst ? 'unshift' : 'push'](['limit', String(limit)]);
      return `?${new URLSearchParams(pairs).toString()}`;
    });
  const history: fc.Arbitrary<FuzzCase> = fc.oneof(
    {
      weight: 1,
      arbitrary: fc.tuple(users, historyQuery, fc.boolean()).map(([userId, query, admin]) => ({
        route: 'GET /users/{userId}/history',
        request: { method: 'GET', path: `/users/${encodePathParam(userId)}/history${query}` },
        as: admin ? { admin: true as const } : { user: userId },
        valid: true,
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.oneof(users.map(encodePathParam), encodedHostileId),
          fc.oneof(
            anyQuery,
            // Near misses: a kind of another case or list, a repeated kind, a limit out of range.
            fc.constantFrom(
              '',
              '?kind=Viewed',
              '?kind=seen',
              '?kind=viewed&kind=purchased',
              '?kind=viewed&limit=0',
              '?kind=purchased&limit=101',
              '?kind=viewed&limit=1.5',
              '?kind=viewed&placement=home',
            ),
          ),
          anyCaller(users),
        )
        .map(([userId, query, as]) => ({
          route: 'GET /users/{userId}/history',
          request: { method: 'GET', path: `/users/${userId}/history${query}` },
          as,
          valid: false,
        })),
    },
  );

  /**
   * The interests routes (issue 23): GET for anyone's own (empty or not), PATCH of the one planted
   * interest; hostile cases: unknown or malformed interest ids (404), bodies outside the schema
   * (400), other users (403), no token (401). DELETE only on ids that name nothing, so the planted
   * interest stays to be edited.
   */
  const { interest } = catalogue;
  const interestsPath = (userId: string) => `/users/${encodePathParam(userId)}/interests`;
  const validPatch = fc.oneof(
    fc.record({ action: fc.constant('mute'), hours: fc.integer({ min: 1, max: 8760 }) }),
    fc.record({ action: fc.constant('boost'), hours: fc.integer({ min: 1, max: 8760 }) }),
    fc.constant({ action: 'mute' }),
    fc.constant({ action: 'reset' }),
  );
  const hostilePatch = fc.oneof(
    fc.constantFrom(
      {},
      { action: 'forget' },
      { action: 'mute', hours: 0 },
      { action: 'mute', hours: 8761 },
      { action: 'boost', hours: 1.5 },
      { action: 'reset', hours: 1 },
      { action: 'MUTE' },
      { action: 'mute', until: '2030-01-01' },
      [],
      null,
    ),
    fc.jsonValue(),
  );
  const interestIdInPath = fc.oneof(
    fc.stringMatching(/^t[0-9a-f]{11}$/),
    encodedHostileId,
    fc.constantFrom('', 'T0123456789a', `${interest.interestId}x`),
  );
  const plantedPath = interestsPath(interest.userId);
  const interests: fc.Arbitrary<FuzzCase> = fc.oneof(
    {
      weight: 1,
      arbitrary: fc.tuple(users, fc.boolean()).map(([userId, admin]) => ({
        route: 'GET /users/{userId}/interests',
        request: { method: 'GET', path: interestsPath(userId) },
        as: admin ? { admin: true as const } : { user: userId },
        valid: true,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(validPatch, fc.boolean()).map(([body, admin]) => ({
        route: 'PATCH /users/{userId}/interests/{interestId}',
        request: {
          method: 'PATCH',
          path: `${plantedPath}/${interest.interestId}`,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        },
        as: admin ? { admin: true as const } : { user: interest.userId },
        valid: true,
      })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.oneof(
            fc.constant(plantedPath),
            users.map(interestsPath),
            encodedHostileId.map((id) => `/users/${id}/interests`),
          ),
          fc.oneof(fc.constant(interest.interestId), interestIdInPath),
          fc.constantFrom('GET', 'PATCH', 'DELETE'),
          fc.oneof(validPatch, hostilePatch),
          anyCaller(users),
        )
        .filter(
          ([path, interestId, method, body, as]) =>
            // Left out, as they would be valid: an edit of the planted interest by its user or an
            // admin; and a DELETE of it, which would forget it for the cases after.
            !(
              path === plantedPath &&
              interestId === interest.interestId &&
              (method === 'DELETE' ||
                (method === 'PATCH' &&
                  InterestPatchSchema.safeParse(body).success &&
                  ('admin' in as || ('user' in as && as.user === interest.userId))))
            ),
        )
        .map(([path, interestId, method, body, as]) => ({
          route: `${method} /users/{userId}/interests${method === 'GET' ? '' : '/{interestId}'}`,
          request:
            method === 'GET'
              ? // GET takes no query parameters.
                { method, path: `${path}?limit=1` }
              : {
                  method,
                  path: `${path}/${interestId}`,
                  headers: { 'content-type': 'application/json' },
                  body: JSON.stringify(body),
                },
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
            '/users//history',
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
    'GET /items/{itemId}/complements': complements,
    'GET /users/{userId}/recommendations': recommendations,
    'GET /users/{userId}/history': history,
    '/users/{userId}/interests': interests,
    'POST /events': eventsFor('/events'),
    'POST /events/import': eventsFor('/events/import'),
    'DELETE /users/{userId}': deleteUser,
    'POST /search': search,
    'GET /trending': trending,
    'headers and unknown paths': headersAndPaths,
    '/rules (admin routes)': rulesArbitrary(catalogue, users, now),
    'GET /admin/metrics': metricsArbitrary(users, now),
  };
}

/**
 * Property-based fuzzing of every route through the API Gateway twin with the deployed authorizers:
 * generated paths, query strings, JSON bodies, image bytes, headers and callers. Valid requests must
 * get a 2xx; everything else a 4xx with a `code`; nothing a 5xx, and no promise may reject unhandled.
 * A fault inside a handler, on the other hand, must stay a 500 with the request id.
 *
 * FUZZ_SEED=<n> replays a run (fast-check prints the seed and the shrunk case of a failure);
 * FUZZ_SCALE=0.2 runs a fifth of the requests.
 */
import { readFileSync } from 'node:fs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { interestId } from '../../functions/domain/interest-profile';
import {
  encodePathParam,
  FRESH_RULE,
  type FuzzCase,
  type FuzzCatalogue,
  routeArbitraries,
} from '../support/fuzz/requests';
import { watchUnhandledRejections } from '../support/fuzz/unhandled-rejections';
import { emojiImages } from '../support/images';
import { type Caller, postJson, useLocalApp } from '../support/local-app';

const local = useLocalApp();

/** Requests per route: embedding-free routes get most; POST /search mostly fails before decoding. */
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const BUDGET: Record<string, number> = {
  'GET /items/{itemId}': 2000,
  'GET /items/{itemId}/similar': 1500,
  'GET /items/{itemId}/complements': 800,
  'GET /users/{userId}/recommendations': 1800,
  'GET /users/{userId}/history': 600,
  '/users/{userId}/interests': 800,
  'POST /events': 2000,
  'POST /events/import': 800,
  'DELETE /users/{userId}': 500,
  'POST /search': 480,
  'GET /trending': 800,
  'headers and unknown paths': 1000,
  '/rules (admin routes)': 1200,
};
/** Cases sent at once per property run, as concurrent clients would. */
const BATCH = 8;
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

const images = emojiImages('google');
const seeded = [
  { key: 'catalogue/faces/fz-0.png', image: images[10] },
  { key: 'catalogue/faces/fz é+🍓.png', image: images[11] },
  { key: 'catalogue/food/fz%25 100.png', image: images[900] },
  { key: 'catalogue/food/fz?q#h.png', image: images[901] },
  { key: 'catalogue/fz-plain.png', image: images[1200] },
];
let catalogue: FuzzCatalogue;

beforeAll(async () => {
  await Promise.all(
    seeded.map(({ key, image }) => local.upload(key, readFileSync((image as (typeof images)[number]).file))),
  );
  await local.upload('catalogue/faces/fz-rejected.png', Buffer.from('not an image at all\n'.repeat(10)));
  await local.app.queue.drain({ timeoutMs: 110_000 });
  // A user with one interest the PATCH cases edit: its id is the hash of its opening event.
  const planted = {
    userId: 'fuzz tastes',
    itemId: 'fz-0',
    type: 'like' as const,
    at: Date.now() - 86_400_000,
  };
  const liked = await local.call(
    postJson('/events', {
      events: [
        {
          eventId: 'fz-taste',
          userId: planted.userId,
          itemId: planted.itemId,
          type: 'like',
          timestamp: planted.at,
        },
      ],
    }),
    { user: planted.userId },
  );
  expect(liked.json<{ accepted: number }>().accepted).toBe(1);
  catalogue = {
    interest: { userId: planted.userId, interestId: interestId(planted) },
    readyItemIds: ['fz-0', 'fz é+🍓', 'fz%25 100', 'fz?q#h', 'fz-plain'],
    rejectedItemIds: ['fz-rejected'],
    categories: ['faces', 'food'],
    images: [images[12], images[902]].map((image) => ({
      bytes: readFileSync((image as (typeof images)[number]).file),
      contentType: 'image/png',
    })),
  };
  // The seeded catalogue is what the generators rely on: fail here, not in a thousand cases.
  for (const itemId of [...catalogue.readyItemIds, ...catalogue.rejectedItemIds]) {
    const response = await local.call({ method: 'GET', path: `/items/${encodePathParam(itemId)}` });
    expect([itemId, response.status, response.json<{ status: string }>().status]).toEqual([
      itemId,
      200,
      catalogue.rejectedItemIds.includes(itemId) ? 'rejected' : 'ready',
    ]);
  }
}, 120_000);

const unhandled = watchUnhandledRejections();

/** Tokens are signed once per user: the run is about the API, not about ES256 signing. */
const tokens = new Map<string, Promise<string>>();
function cachedToken(userId: string): Promise<string> {
  const issuer = local.app.issuer;
  if (!issuer) throw new Error('the local app runs without auth');
  let token = tokens.get(userId);
  if (!token) {
    token = issuer.token(userId);
    tokens.set(userId, token);
  }
  return token;
}

interface Tally {
  total: number;
  valid: number;
  ok: number;
  byStatus: Record<string, number>;
  byCode: Record<string, number>;
}
const tallies = new Map<string, Tally>();
const tally = (route: string): Tally => {
  let found = tallies.get(route);
  if (!found) {
    found = { total: 0, valid: 0, ok: 0, byStatus: {}, byCode: {} };
    tallies.set(route, found);
  }
  return found;
};

const shorten = (text: string, max = 300) =>
  text.length > max ? `${text.slice(0, max)}... (${text.length} characters)` : text;

/** A case as it is reported: long paths and bodies cut, so a failure stays readable. */
function describeCase(fuzzCase: FuzzCase): string {
  const { method, path, headers, body } = fuzzCase.request;
  return JSON.stringify({
    route: fuzzCase.route,
    valid: fuzzCase.valid,
    as: fuzzCase.as,
    request: {
      method,
      path: shorten(path),
      headers,
      body: body === undefined ? undefined : shorten(body.toString()),
    },
  });
}

const reported = (fuzzCase: FuzzCase): FuzzCase =>
  Object.assign(fuzzCase, { [fc.toStringMethod]: () => describeCase(fuzzCase) });

/** A new merchandising rule (version 1), for a request that names one that exists. */
async function freshRule(): Promise<string> {
  const response = await local.call(
    postJson('/rules', { name: 'fuzz', kind: 'pin', placements: ['*'], itemId: 'fz-0', position: 1 }),
    { admin: true },
  );
  if (response.status !== 201) throw new Error(`creating a rule: ${response.status} ${response.body}`);
  return response.json<{ ruleId: string }>().ruleId;
}

/**
 * Deletes every rule, so that the rules created by a batch never reach the 100-rule limit (a valid
 * POST must get a 2xx, not 409 too_many_rules).
 */
async function deleteAllRules(): Promise<void> {
  const listed = await local.call({ method: 'GET', path: '/rules' }, { admin: true });
  const { rules } = listed.json<{ rules: Array<{ ruleId: string }> }>();
  for (const { ruleId } of rules) {
    const deleted = await local.call({ method: 'DELETE', path: `/rules/${ruleId}` }, { admin: true });
    if (deleted.status !== 200 && deleted.status !== 404)
      throw new Error(`deleting rule ${ruleId}: ${deleted.status} ${deleted.body}`);
  }
}

/** What runs after each batch of a route's cases. */
const AFTER_BATCH: Record<string, () => Promise<void>> = { '/rules (admin routes)': deleteAllRules };

async function send(fuzzCase: FuzzCase) {
  const caller: Caller = 'user' in fuzzCase.as ? { token: await cachedToken(fuzzCase.as.user) } : fuzzCase.as;
  const request = fuzzCase.request.path.includes(FRESH_RULE)
    ? { ...fuzzCase.request, path: fuzzCase.request.path.replace(FRESH_RULE, await freshRule()) }
    : fuzzCase.request;
  const response = await local.call(request, caller);
  let body: { code?: unknown; requestId?: unknown } | undefined;
  try {
    body = response.json();
  } catch {
    body = undefined;
  }
  return { status: response.status, body, raw: response.body.toString('utf8').slice(0, 500) };
}

/** The property every request must satisfy, whatever it carries. */
async function checkCase(group: string, fuzzCase: FuzzCase) {
  const { status, body, raw } = await send(fuzzCase);
  const counts = tally(group);
  counts.total += 1;
  counts.byStatus[status] = (counts.byStatus[status] ?? 0) + 1;
  if (fuzzCase.valid) counts.valid += 1;
  if (status >= 200 && status < 300) counts.ok += 1;
  if (status >= 400 && status < 500 && typeof body?.code === 'string')
    counts.byCode[`${status} ${body.code}`] = (counts.byCode[`${status} ${body.code}`] ?? 0) + 1;

  const ok = status >= 200 && status < 300;
  const refusedWithCode =
    status >= 400 && status < 500 && typeof body?.code === 'string' && body.code.length > 0;
  const verdict = fuzzCase.valid ? ok : ok || refusedWithCode;
  if (!verdict) {
    throw new Error(
      `${fuzzCase.valid ? 'valid' : 'generated'} request answered ${status} ${shorten(raw)}\n` +
        describeCase(fuzzCase),
    );
  }
}

describe.each(Object.entries(BUDGET))('%s', (route, requests) => {
  it(`answers ${Math.round(requests * SCALE)} generated requests with a 2xx when valid, a coded 4xx otherwise, never a 5xx`, async () => {
    const arbitrary = routeArbitraries(catalogue)[route as keyof ReturnType<typeof routeArbitraries>];
    await fc.assert(
      fc.asyncProperty(
        fc.array(arbitrary.map(reported), { minLength: BATCH, maxLength: BATCH }),
        async (cases) => {
          // Every case settles before the clean-up, which runs after a failing batch too (shrinking
          // replays cases, and must not start from a set of rules the failed batch left).
          const results = await Promise.allSettled(cases.map((fuzzCase) => checkCase(route, fuzzCase)));
          await AFTER_BATCH[route]?.();
          const failed = results.find((result) => result.status === 'rejected');
          if (failed) throw failed.reason;
        },
      ),
      {
        numRuns: Math.max(1, Math.round((requests * SCALE) / BATCH)),
        ...(seed !== undefined ? { seed } : {}),
      },
    );
    const counts = tally(route);
    expect(counts.valid).toBeGreaterThan(0);
    expect(counts.total - counts.valid).toBeGreaterThan(0);
  }, 180_000);
});

describe('a fault inside a handler', () => {
  const user: Caller = { user: 'fault-user' };
  const admin: Caller = { admin: true };
  const requests: Array<
    [string, () => { method: string; path: string; headers?: Record<string, string>; body?: string }, Caller]
  > = [
    ['GET /items/{itemId}', () => ({ method: 'GET', path: '/items/fz-0' }), user],
    [
      'GET /users/{userId}/recommendations',
      () => ({ method: 'GET', path: '/users/fault-user/recommendations' }),
      user,
    ],
    [
      'GET /users/{userId}/history',
      () => ({ method: 'GET', path: '/users/fault-user/history?kind=viewed' }),
      user,
    ],
    [
      'POST /events',
      () =>
        postJson('/events', {
          events: [{ eventId: 'fault-1', userId: 'fault-user', itemId: 'fz-0', type: 'like' }],
        }),
      user,
    ],
    ['DELETE /users/{userId}', () => ({ method: 'DELETE', path: '/users/fault-user' }), user],
    ['GET /rules', () => ({ method: 'GET', path: '/rules' }), admin],
    [
      'POST /rules',
      () =>
        postJson('/rules', { name: 'fault', kind: 'pin', placements: ['*'], itemId: 'fz-0', position: 1 }),
      admin,
    ],
  ];

  it.each(requests)(
    '%s: a failing DynamoDB call is a 500 with the request id, and the next call works',
    async (_route, request, as) => {
      // The first call of the request's own: the stream consumers running in this process beside it
      // (impression counts, co-engagement) write only the Stats table, and must not take the fault.
      const stats = local.app.stack.tables.Stats as string;
      const original = DynamoDBDocumentClient.prototype.send;
      let injected = false;
      const send = jest.spyOn(DynamoDBDocumentClient.prototype, 'send').mockImplementation(function (
        this: DynamoDBDocumentClient,
        command: { input?: unknown },
        ...rest: unknown[]
      ) {
        if (!injected && !JSON.stringify(command.input ?? {}).includes(stats)) {
          injected = true;
          return Promise.reject(
            Object.assign(new Error('injected: socket hang up'), { name: 'TimeoutError' }),
          );
        }
        return (original as (...args: unknown[]) => unknown).call(this, command, ...rest);
      } as never);
      try {
        const failed = await local.call(request(), as);
        expect(send).toHaveBeenCalled();
        expect(injected).toBe(true);
        const body = failed.json<{ code: string; requestId: string }>();
        expect({ status: failed.status, body }).toEqual({
          status: 500,
          body: { code: 'internal_error', message: 'Internal Server Error', requestId: expect.any(String) },
        });
        expect(failed.headers['apigw-requestid']).toBe(body.requestId);
      } finally {
        send.mockRestore();
      }
      const retried = await local.call(request(), as);
      expect(retried.status).toBeLessThan(300);
    },
  );
});

describe('the whole run', () => {
  it('left no unhandled promise rejection', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled.reasons).toEqual([]);
  });

  it(`sent at least ${Math.round(10_000 * SCALE)} requests, a stated share of them valid`, () => {
    const all = [...tallies.values()];
    const total = all.reduce((sum, t) => sum + t.total, 0);
    const valid = all.reduce((sum, t) => sum + t.valid, 0);
    const byCode: Record<string, number> = {};
    for (const t of all)
      for (const [code, n] of Object.entries(t.byCode)) byCode[code] = (byCode[code] ?? 0) + n;
    const summary = {
      total,
      valid,
      validShare: Math.round((valid / total) * 1000) / 1000,
      ok2xx: all.reduce((sum, t) => sum + t.ok, 0),
      refused4xx: Object.values(byCode).reduce((sum, n) => sum + n, 0),
      byCode: Object.fromEntries(Object.entries(byCode).sort((a, b) => b[1] - a[1])),
      byRoute: Object.fromEntries(
        [...tallies].map(([route, t]) => [
          route,
          { total: t.total, valid: t.valid, ok: t.ok, byStatus: t.byStatus },
        ]),
      ),
    };
    process.stdout.write(`fuzz summary ${JSON.stringify(summary, null, 2)}\n`);
    expect(total).toBeGreaterThanOrEqual(Math.round(10_000 * SCALE));
    // Valid and hostile cases are weighted 1:1 on most routes, 2:1 on the event routes (valid batches
    // with one bad event must be 2xx too), 1:2 for headers, 1:30 for images: about half.
    expect(summary.validShare).toBeGreaterThan(0.35);
    expect(summary.validShare).toBeLessThan(0.6);
  });
});

/**
 * The deployed authorizers, run locally: every route of the table through the API Gateway twin with
 * the local JWT issuer (user, catalogue and admin routes) and SigV4 (the import route), plus the two
 * ways a developer gets a token (`GET /local/token` of `npm start` and `npm run token`).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROUTES, type Route, routeKey } from '../../functions/contract/routes';
import { createLocalIssuer, type LocalIssuer, signForLocalIam } from '../../infra/local/auth';
import { emojiImages } from '../support/images';
import { type Caller, postJson, useLocalApp } from '../support/local-app';

const REPO = join(__dirname, '..', '..');
const TSX = require.resolve('tsx/cli');
// `npm run token` reads the issuer key from the data folder the app keeps it in.
const dataDir = mkdtempSync(join(tmpdir(), 'lookalike-auth-'));
const local = useLocalApp({ dataDir, apiPort: 0 });
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const catalogue = emojiImages('google').slice(40, 43);
const itemIds = catalogue.map((_, i) => `auth-sku-${i}`);
const owner = 'owner ü+1';
const stranger = 'stranger';
let eventCounter = 0;

beforeAll(async () => {
  await Promise.all(
    catalogue.map((image, i) => local.upload(`catalogue/auth/${itemIds[i]}.png`, readFileSync(image.file))),
  );
  await local.app.queue.drain({ timeoutMs: 110_000 });
}, 120_000);

const userRoutes = ROUTES.filter((route) => route.auth === 'user');
const catalogueRoutes = ROUTES.filter((route) => route.auth === 'catalogue');
const adminRoutes = ROUTES.filter((route) => route.auth === 'admin');
const importRoute = ROUTES.find((route) => route.path === '/events/import') as Route;

const ruleDefinition = {
  name: 'auth boost',
  kind: 'boost',
  placements: ['*'],
  condition: { tags: ['sale'] },
  factor: 2,
};
/** A new merchandising rule, created by an admin. */
async function newRule(): Promise<{ ruleId: string; version: number }> {
  const response = await local.call(postJson('/rules', ruleDefinition), { admin: true });
  if (response.status !== 201) throw new Error(`creating a rule: ${response.status} ${response.body}`);
  return response.json();
}
/** The rule GET and PUT requests name (a DELETE deletes a rule of its own). */
let sharedRule: Promise<{ ruleId: string; version: number }> | undefined;
async function sharedRuleNow() {
  sharedRule ??= newRule();
  const { ruleId } = await sharedRule;
  const response = await local.call({ method: 'GET', path: `/rules/${ruleId}` }, { admin: true });
  return response.json<{ ruleId: string; version: number }>();
}

const rulesNow = async () =>
  (await local.call({ method: 'GET', path: '/rules' }, { admin: true })).json<{
    version: number;
    rules: Array<{ ruleId: string; version: number }>;
  }>();

/**
 * One of the user's interests (issue 23), made by an admin when the user has none: likes of the
 * catalogue's items, and when every one is forgotten already, after an erasure.
 */
async function interestOf(userId: string): Promise<string> {
  const path = `/users/${encodeURIComponent(userId)}/interests`;
  for (let attempt = 0; attempt < 3; attempt++) {
    const { interests } = (await local.call({ method: 'GET', path }, { admin: true })).json<{
      interests: Array<{ interestId: string }>;
    }>();
    if (interests[0]) return interests[0].interestId;
    if (attempt === 1) await local.call({ method: 'DELETE', path: `/users/${encodeURIComponent(userId)}` });
    const events = itemIds.map((itemId) => {
      eventCounter += 1;
      return { eventId: `auth-${eventCounter}`, userId, itemId, type: 'like' };
    });
    await local.call(postJson('/events', { events }), { admin: true });
  }
  throw new Error(`no interest for ${userId}`);
}

/**
 * A well-formed request for `route` that acts for `userId` (path user, or the user of the event);
 * on the rules routes, one that names an existing rule at its current version.
 */
async function requestFor(route: Route, userId: string) {
  const encoded = encodeURIComponent(userId);
  switch (routeKey(route)) {
    case 'POST /events':
    case 'POST /events/import':
      eventCounter += 1;
      return postJson(route.path, {
        events: [{ eventId: `auth-${eventCounter}`, userId, itemId: itemIds[0], type: 'like' }],
      });
    case 'DELETE /users/{userId}':
      return { method: 'DELETE', path: `/users/${encoded}` };
    case 'GET /users/{userId}/recommendations':
      return { method: 'GET', path: `/users/${encoded}/recommendations?limit=5` };
    case 'GET /users/{userId}/history':
      return { method: 'GET', path: `/users/${encoded}/history?kind=viewed&limit=5` };
    case 'GET /users/{userId}/interests':
      return { method: 'GET', path: `/users/${encoded}/interests` };
    case 'PATCH /users/{userId}/interests/{interestId}': {
      const path = `/users/${encoded}/interests/${await interestOf(userId)}`;
      return { ...postJson(path, { action: 'mute', hours: 1 }), method: 'PATCH' };
    }
    case 'DELETE /users/{userId}/interests/{interestId}':
      return { method: 'DELETE', path: `/users/${encoded}/interests/${await interestOf(userId)}` };
    case 'GET /items/{itemId}':
      return { method: 'GET', path: `/items/${itemIds[1]}` };
    case 'GET /items/{itemId}/similar':
      return { method: 'GET', path: `/items/${itemIds[1]}/similar?limit=2` };
    case 'GET /items/{itemId}/complements':
      return { method: 'GET', path: `/items/${itemIds[1]}/complements?limit=2` };
    case 'POST /search':
      return {
        method: 'POST',
        path: '/search?limit=2',
        headers: { 'content-type': 'image/png' },
        body: readFileSync((catalogue[2] as (typeof catalogue)[number]).file),
      };
    case 'GET /trending':
      return { method: 'GET', path: '/trending?limit=5' };
    case 'GET /rules':
      return { method: 'GET', path: '/rules' };
    case 'POST /rules':
      return postJson('/rules', ruleDefinition);
    case 'GET /rules/{ruleId}':
      return { method: 'GET', path: `/rules/${(await sharedRuleNow()).ruleId}` };
    case 'PUT /rules/{ruleId}': {
      const { ruleId, version } = await sharedRuleNow();
      return { ...postJson(`/rules/${ruleId}`, { ...ruleDefinition, version }), method: 'PUT' };
    }
    case 'DELETE /rules/{ruleId}':
      return { method: 'DELETE', path: `/rules/${(await newRule()).ruleId}` };
    case 'GET /admin/metrics':
      return { method: 'GET', path: '/admin/metrics?placement=home' };
    default:
      throw new Error(`no request for ${routeKey(route)}: add one when adding the route`);
  }
}

/** Flips one character in the middle of the signature: still base64url, no longer valid. */
function tamper(token: string): string {
  const [header, payload, signature = ''] = token.split('.');
  const at = Math.floor(signature.length / 2);
  const flipped = signature[at] === 'A' ? 'B' : 'A';
  return `${header}.${payload}.${signature.slice(0, at)}${flipped}${signature.slice(at + 1)}`;
}

/** Tokens the authorizer must refuse, for `userId`. */
async function refusedTokens(issuer: LocalIssuer, userId: string): Promise<Array<[string, string]>> {
  const foreignIssuer = await createLocalIssuer();
  return [
    ['an expired token', await issuer.token(userId, { expiresInSeconds: -60 })],
    ['a tampered token', tamper(await issuer.token(userId))],
    ['a token of another issuer', await issuer.token(userId, { issuer: 'https://evil.example/issuer' })],
    ['a token for another audience', await issuer.token(userId, { audience: 'some-other-api' })],
    ['a token signed by another key', await foreignIssuer.token(userId)],
    ['an unsigned token', unsigned(await issuer.token(userId))],
  ];
}

/** The same claims with `alg: none` and no signature. */
function unsigned(token: string): string {
  const [, payload] = token.split('.');
  const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
  return `${header}.${payload}.`;
}

const issuer = () => {
  const { issuer: found } = local.app;
  if (!found) throw new Error('the local app runs without auth');
  return found;
};

type Outcome = { route: string; status: number | '2xx'; code?: string };

/** What the caller got, with 2xx folded into one value so that a mismatch shows the whole answer. */
async function outcome(route: Route, userId: string, as: Caller, headers: Record<string, string> = {}) {
  const request = await requestFor(route, userId);
  const response = await local.call({ ...request, headers: { ...request.headers, ...headers } }, as);
  const body = response.json<{ code?: string }>();
  const result: Outcome =
    response.status >= 200 && response.status < 300
      ? { route: routeKey(route), status: '2xx' }
      : { route: routeKey(route), status: response.status, code: body.code };
  return { result, body };
}

async function expectOutcome(
  route: Route,
  userId: string,
  as: Caller,
  status: number | '2xx',
  code?: string,
) {
  const { result, body } = await outcome(route, userId, as);
  expect(result).toEqual({ route: routeKey(route), status, ...(code ? { code } : {}) });
  return body;
}

it('covers every route of the table', () => {
  expect([...userRoutes, ...catalogueRoutes, ...adminRoutes, importRoute].map(routeKey).sort()).toEqual(
    ROUTES.map(routeKey).sort(),
  );
  expect(userRoutes.length).toBeGreaterThan(0);
  expect(catalogueRoutes.length).toBeGreaterThan(0);
  expect(adminRoutes.map(routeKey).sort()).toEqual([
    'DELETE /rules/{ruleId}',
    'GET /admin/metrics',
    'GET /rules',
    'GET /rules/{ruleId}',
    'POST /rules',
    'PUT /rules/{ruleId}',
  ]);
});

describe.each(userRoutes.map((route) => [routeKey(route), route] as const))(
  'user route %s',
  (_key, route) => {
    it('answers 401 without a token, or with a malformed authorization header', async () => {
      await expectOutcome(route, owner, { anonymous: true }, 401, 'unauthorized');
      for (const authorization of [
        'Bearer',
        'Bearer ',
        'Basic b3duZXI6cGFzcw==',
        'Bearer a.b.c',
        'token x',
      ]) {
        const { result } = await outcome(route, owner, { anonymous: true }, { authorization });
        expect([authorization, result]).toEqual([
          authorization,
          { route: routeKey(route), status: 401, code: 'unauthorized' },
        ]);
      }
    });

    it('answers 401 to expired, tampered, foreign-issuer, foreign-audience, foreign-key and unsigned tokens', async () => {
      for (const [name, token] of await refusedTokens(issuer(), owner)) {
        const response = await local.call(await requestFor(route, owner), { token });
        expect([name, response.status, response.json<{ code: string }>().code]).toEqual([
          name,
          401,
          'unauthorized',
        ]);
      }
    });

    it("answers 403 when a user acts for another user, and 2xx for the user's own id", async () => {
      const forbidden = await expectOutcome(route, stranger, { user: owner }, 403, 'forbidden');
      expect(forbidden).toMatchObject({ requestId: expect.any(String) });
      await expectOutcome(route, owner, { user: owner }, '2xx');
    });

    it('lets an admin act for any user', async () => {
      await expectOutcome(route, stranger, { admin: true }, '2xx');
      await expectOutcome(route, owner, { admin: true }, '2xx');
    });
  },
);

describe('POST /events with a mixed batch', () => {
  it("refuses the whole batch when one event is another user's, and stores none of it", async () => {
    const events = [
      { eventId: 'mixed-1', userId: owner, itemId: itemIds[0], type: 'like' },
      { eventId: 'mixed-2', userId: stranger, itemId: itemIds[1], type: 'like' },
    ];
    const refused = await local.call(postJson('/events', { events }), { user: owner });
    expect(refused.status).toBe(403);
    const retried = await local.call(postJson('/events', { events: events.slice(0, 1) }), { user: owner });
    expect(retried.json()).toMatchObject({ accepted: 1, duplicate: 0 });
  });

  it('reads the user from the configured claim only: a "userId" claim does not make a token speak for someone', async () => {
    const token = await issuer().token(owner, { claims: { userId: stranger, username: stranger } });
    const response = await local.call(await requestFor(userRoutes[0] as Route, stranger), { token });
    expect(response.status).toBe(403);
  });

  it('does not take an admin claim that is not the admin scope', async () => {
    const token = await issuer().token(owner, { claims: { admin: true, scope: 'lookalike/read admin' } });
    const response = await local.call(await requestFor(userRoutes[0] as Route, stranger), { token });
    expect(response.status).toBe(403);
  });
});

describe('admin rights from cognito:groups, flattened to "[a b]" as API Gateway passes array claims', () => {
  const recommendations = userRoutes.find((route) => route.path.endsWith('/recommendations')) as Route;
  const asMemberOf = async (groups: string[], extra: Record<string, unknown> = {}) => {
    const token = await issuer().token(owner, { claims: { 'cognito:groups': groups, ...extra } });
    return (await outcome(recommendations, stranger, { token })).result.status;
  };

  it('lets a member of exactly the admin group act for another user', async () => {
    expect(await asMemberOf(['admin'])).toBe('2xx');
  });

  it.each([
    ['x,admin', ['x,admin']],
    ['not admin', ['not admin']],
    ['"admin"', ['"admin"']],
    ['[admin]', ['[admin]']],
    ['admin x', ['admin x']],
  ])('answers 403 to a member of the group %s', async (_name, groups) => {
    expect(await asMemberOf(groups)).toBe(403);
  });

  it('answers 403 to a list that flattens ambiguously, and to a scope with a comma in it', async () => {
    // "[editors admin]" may be one group named "editors admin": it proves nothing.
    expect(await asMemberOf(['editors', 'admin'])).toBe(403);
    expect(await asMemberOf([], { scope: 'x,lookalike/admin' })).toBe(403);
  });
});

describe.each(catalogueRoutes.map((route) => [routeKey(route), route] as const))(
  'catalogue route %s',
  (_key, route) => {
    it('answers 401 without a token and to refused tokens', async () => {
      await expectOutcome(route, owner, { anonymous: true }, 401, 'unauthorized');
      for (const [name, token] of await refusedTokens(issuer(), owner)) {
        const response = await local.call(await requestFor(route, owner), { token });
        expect([name, response.status]).toEqual([name, 401]);
      }
    });

    it('answers 2xx to any valid user token, and to an admin', async () => {
      await expectOutcome(route, stranger, { user: stranger }, '2xx');
      await expectOutcome(route, owner, { user: `another user ${Date.now()}` }, '2xx');
      await expectOutcome(route, owner, { admin: true }, '2xx');
    });
  },
);

describe.each(adminRoutes.map((route) => [routeKey(route), route] as const))(
  'admin route %s (merchandising rules)',
  (_key, route) => {
    it('answers 401 without a token, with a malformed authorization header, to refused tokens and to SigV4', async () => {
      await expectOutcome(route, owner, { anonymous: true }, 401, 'unauthorized');
      for (const authorization of ['Bearer', 'Basic b3duZXI6cGFzcw==', 'Bearer a.b.c']) {
        const { result } = await outcome(route, owner, { anonymous: true }, { authorization });
        expect([authorization, result]).toEqual([
          authorization,
          { route: routeKey(route), status: 401, code: 'unauthorized' },
        ]);
      }
      for (const [name, token] of await refusedTokens(issuer(), 'ops')) {
        const { result } = await outcome(route, owner, { token });
        expect([name, result]).toEqual([name, { route: routeKey(route), status: 401, code: 'unauthorized' }]);
      }
      // The route's authorizer is JWT: a trusted back end's signature is no token.
      await expectOutcome(route, owner, { iam: true }, 401, 'unauthorized');
    });

    it('answers 403 forbidden to user tokens, and changes nothing', async () => {
      const before = await rulesNow();
      const forbidden = await expectOutcome(route, owner, { user: owner }, 403, 'forbidden');
      expect(forbidden).toMatchObject({ requestId: expect.any(String) });
      await expectOutcome(route, stranger, { user: 'ops' }, 403, 'forbidden');
      // Claims that look like rights but are not the admin scope or group.
      for (const claims of [
        { admin: true, scope: 'lookalike/read admin' },
        { scope: 'x,lookalike/admin' },
        { 'cognito:groups': ['editors', 'admin'] },
        { 'cognito:groups': ['x,admin'] },
      ]) {
        const token = await issuer().token('ops', { claims });
        const { result } = await outcome(route, owner, { token });
        expect([claims, result]).toEqual([
          claims,
          { route: routeKey(route), status: 403, code: 'forbidden' },
        ]);
      }
      // Every rule is still there at its version; on DELETE the set also holds the rules the refused
      // requests were made for (each DELETE gets a rule of its own).
      const after = await rulesNow();
      expect(after.rules).toEqual(expect.arrayContaining(before.rules));
      if (routeKey(route) !== 'DELETE /rules/{ruleId}') expect(after).toEqual(before);
    });

    it('answers 2xx to an admin token (the admin scope), and to a member of exactly the admin group', async () => {
      await expectOutcome(route, owner, { admin: true }, '2xx');
      const member = await issuer().token('ops', { claims: { 'cognito:groups': ['admin'] } });
      await expectOutcome(route, owner, { token: member }, '2xx');
    });
  },
);

describe(`bulk import ${routeKey(importRoute)}`, () => {
  it('refuses user and admin tokens and unsigned requests with 403', async () => {
    await expectOutcome(importRoute, owner, { user: owner }, 403, 'forbidden');
    await expectOutcome(importRoute, owner, { admin: true }, 403, 'forbidden');
    await expectOutcome(importRoute, owner, { anonymous: true }, 403, 'forbidden');
  });

  it('accepts a SigV4-signed request for any user', async () => {
    const body = await expectOutcome(importRoute, stranger, { iam: true }, '2xx');
    expect(body).toMatchObject({ accepted: 1 });
  });

  it('refuses a signed request whose body was changed after signing', async () => {
    const request = (await requestFor(importRoute, owner)) as ReturnType<typeof postJson>;
    const headers = await signForLocalIam({
      method: 'POST',
      url: 'http://127.0.0.1/events/import',
      headers: { 'content-type': 'application/json' },
      body: request.body,
    });
    // What a proxy tampering with the payload would send: the signature of the original body.
    const tampered = { ...request, headers, body: request.body.replace(owner, stranger) };
    expect((await local.call(tampered, { anonymous: true })).status).toBe(403);
    expect((await local.call({ ...request, headers }, { anonymous: true })).status).toBe(202);
  });
});

describe('tokens for local development', () => {
  const api = (path: string, init: RequestInit = {}) => fetch(`${local.app.url}${path}`, init);

  it('GET /local/token gives a token the API accepts for that user only', async () => {
    const response = await api(`/local/token?userId=${encodeURIComponent(owner)}`);
    expect(response.status).toBe(200);
    const { token, userId, admin } = (await response.json()) as {
      token: string;
      userId: string;
      admin: boolean;
    };
    expect({ userId, admin }).toEqual({ userId: owner, admin: false });
    const headers = { authorization: `Bearer ${token}` };
    const own = await api(`/users/${encodeURIComponent(owner)}/recommendations`, { headers });
    expect(own.status).toBe(200);
    const other = await api(`/users/${stranger}/recommendations`, { headers });
    expect(other.status).toBe(403);
    expect((await api(`/users/${stranger}/recommendations`)).status).toBe(401);
  });

  it('GET /local/token?admin=true gives an admin token; a bad userId is a 400', async () => {
    const { token } = (await (await api('/local/token?userId=ops&admin=true')).json()) as { token: string };
    const response = await api(`/users/${stranger}/recommendations`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(200);
    for (const query of ['', '?userId=', `?userId=${'x'.repeat(257)}`, '?userId=a%0Ab', '?userId=a%7Fb']) {
      const refused = await api(`/local/token${query}`);
      expect([query, refused.status, ((await refused.json()) as { code: string }).code]).toEqual([
        query,
        400,
        'invalid_user',
      ]);
    }
  });

  const token = (...args: string[]) =>
    promisify(execFile)(process.execPath, [TSX, 'infra/cli/token.ts', ...args], {
      cwd: REPO,
      env: { ...process.env, FORCE_COLOR: '0' },
      timeout: 60_000,
    });

  it('`npm run token -- <user> --data-dir` prints a token the running app accepts', async () => {
    expect(readFileSync(join(dataDir, 'issuer-key.json'), 'utf8')).toContain('privateJwk');
    const { stdout } = await token(owner, '--data-dir', dataDir);
    const printed = stdout.trim();
    expect(printed).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const headers = { authorization: `Bearer ${printed}` };
    expect((await api(`/users/${encodeURIComponent(owner)}/recommendations`, { headers })).status).toBe(200);
    expect((await api(`/users/${stranger}/recommendations`, { headers })).status).toBe(403);

    const { stdout: adminToken } = await token('ops', '--admin', '--data-dir', dataDir);
    const asAdmin = await api(`/users/${stranger}/recommendations`, {
      headers: { authorization: `Bearer ${adminToken.trim()}` },
    });
    expect(asAdmin.status).toBe(200);

    const { stdout: expired } = await token(owner, '--expires-in=-10', '--data-dir', dataDir);
    const late = await api(`/users/${encodeURIComponent(owner)}/recommendations`, {
      headers: { authorization: `Bearer ${expired.trim()}` },
    });
    expect(late.status).toBe(401);
  }, 120_000);

  it('`npm run token` refuses to mint a token without the app key (exit 2)', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'lookalike-auth-empty-'));
    try {
      await expect(token(owner, '--data-dir', empty)).rejects.toMatchObject({
        code: 2,
        stderr: expect.stringContaining('no local issuer key'),
      });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  }, 60_000);
});

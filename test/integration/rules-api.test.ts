/**
 * The merchandising rules' API (/rules) through the API Gateway twin with the deployed authorizers,
 * on the track function and DynamoDB Local: create, list, read, replace and delete with optimistic
 * versions (409 version_conflict), every way a body is refused, the 100-rule limit, statuses from
 * startsAt and endsAt, and concurrent replacements of one version (exactly one wins).
 */
import { MAX_RULES } from '../../functions/contract/rules';
import { type Caller, useLocalApp } from '../support/local-app';

const local = useLocalApp();

type RuleView = {
  ruleId: string;
  version: number;
  status: 'active' | 'scheduled' | 'ended';
  name: string;
  kind: string;
  placements: string[];
  createdAt: string;
  updatedAt: string;
};
type Refusal = { code: string; message: string; details?: Record<string, unknown>; requestId: string };

const admin: Caller = { admin: true };
const HOUR = 3_600_000;
const iso = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();

/** A valid boost of the sale tag on the home placement; `overrides` replace or add fields. */
const boost = (overrides: Record<string, unknown> = {}) => ({
  name: 'Sale boost',
  kind: 'boost',
  placements: ['home'],
  condition: { tags: ['sale'] },
  factor: 2,
  ...overrides,
});

async function send(method: string, path: string, body?: unknown, as: Caller = admin) {
  const request =
    body === undefined
      ? { method, path }
      : {
          method,
          path,
          headers: { 'content-type': 'application/json' },
          body: typeof body === 'string' ? body : JSON.stringify(body),
        };
  return local.call(request, as);
}

async function create(definition: Record<string, unknown> = boost()): Promise<RuleView> {
  const response = await send('POST', '/rules', definition);
  expect({ status: response.status, body: response.json() }).toMatchObject({ status: 201 });
  return response.json<RuleView>();
}

async function list(): Promise<{ version: number; rules: RuleView[] }> {
  const response = await send('GET', '/rules');
  expect(response.status).toBe(200);
  return response.json();
}

/** The status and code a refused request got, with its message for a readable mismatch. */
async function refusal(method: string, path: string, body?: unknown) {
  const response = await send(method, path, body);
  const { code, details } = response.json<Refusal>();
  return { status: response.status, code, details };
}

describe('creating, reading, replacing and deleting a rule', () => {
  it('creates a rule at version 1 (201), active, with its id, times and defaults as sent', async () => {
    const before = Date.now();
    const response = await send('POST', '/rules', boost({ placements: ['home', '*', 'home'] }));
    expect(response.status).toBe(201);
    const created = response.json<RuleView>();
    expect(created).toEqual({
      ...boost(),
      // Placements named twice are kept once.
      placements: ['home', '*'],
      ruleId: expect.stringMatching(/^r-[A-Za-z0-9_-]{22}$/),
      version: 1,
      status: 'active',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(Date.parse(created.createdAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(created.updatedAt).toBe(created.createdAt);

    const read = await send('GET', `/rules/${created.ruleId}`);
    expect(read.status).toBe(200);
    expect(read.json()).toEqual(created);
  });

  it('lists every rule oldest first, and the set version moves by one per change', async () => {
    const start = await list();
    const first = await create(boost({ name: 'first' }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await create({
      name: 'second',
      kind: 'pin',
      placements: ['product'],
      itemId: 'sku-1',
      position: 3,
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const third = await create({
      name: 'third',
      kind: 'promote',
      placements: ['*'],
      lists: ['similar'],
      condition: { categories: ['shoes'], maxPrice: 50 },
      share: 0.25,
    });
    const after = await list();
    expect(after.version).toBe(start.version + 3);
    expect(after.rules.map((rule) => rule.ruleId)).toEqual([
      ...start.rules.map((rule) => rule.ruleId),
      first.ruleId,
      second.ruleId,
      third.ruleId,
    ]);
    expect(after.rules.at(-1)).toEqual(third);

    const replaced = await send('PUT', `/rules/${second.ruleId}`, {
      name: 'second',
      kind: 'pin',
      placements: ['product'],
      itemId: 'sku-2',
      position: 1,
      version: 1,
    });
    expect(replaced.status).toBe(200);
    expect((await list()).version).toBe(start.version + 4);
    expect((await send('DELETE', `/rules/${first.ruleId}`)).status).toBe(200);
    const last = await list();
    expect(last.version).toBe(start.version + 5);
    // A replacement keeps the rule's place: the list is by creation, not by change.
    expect(last.rules.map((rule) => rule.ruleId)).toEqual([
      ...start.rules.map((rule) => rule.ruleId),
      second.ruleId,
      third.ruleId,
    ]);
    expect(last.rules.find((rule) => rule.ruleId === second.ruleId)).toMatchObject({
      itemId: 'sku-2',
      position: 1,
      version: 2,
    });
  });

  it('replaces a rule at the version read (version 2), and refuses a stale version with 409 and the stored version', async () => {
    const created = await create();
    const replaced = await send('PUT', `/rules/${created.ruleId}`, {
      ...boost({ factor: 3, kind: 'bury', name: 'Sale bury' }),
      version: 1,
    });
    expect(replaced.status).toBe(200);
    const updated = replaced.json<RuleView & { factor: number }>();
    expect(updated).toMatchObject({
      ruleId: created.ruleId,
      version: 2,
      kind: 'bury',
      factor: 3,
      name: 'Sale bury',
      createdAt: created.createdAt,
    });
    expect(Date.parse(updated.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.updatedAt));
    expect((await send('GET', `/rules/${created.ruleId}`)).json()).toEqual(updated);

    const stale = await send('PUT', `/rules/${created.ruleId}`, { ...boost({ factor: 9 }), version: 1 });
    expect(stale.status).toBe(409);
    expect(stale.json<Refusal>()).toMatchObject({
      code: 'version_conflict',
      details: { ruleId: created.ruleId, version: 2, expected: 1 },
      requestId: expect.any(String),
    });
    // Nothing changed.
    expect((await send('GET', `/rules/${created.ruleId}`)).json()).toEqual(updated);
  });

  it('a PUT without its version is a 400 that says to send the version read', async () => {
    const created = await create();
    const response = await send('PUT', `/rules/${created.ruleId}`, boost());
    expect(response.status).toBe(400);
    expect(response.json<Refusal>()).toMatchObject({
      code: 'invalid_rule',
      message: expect.stringContaining('send the version you read'),
    });
  });

  it('deletes only at the version given (409 on a stale one), then answers 404 unknown_rule', async () => {
    const created = await create();
    await send('PUT', `/rules/${created.ruleId}`, { ...boost({ factor: 4 }), version: 1 });
    const version = (await list()).version;

    expect(await refusal('DELETE', `/rules/${created.ruleId}?version=1`)).toEqual({
      status: 409,
      code: 'version_conflict',
      details: { ruleId: created.ruleId, version: 2, expected: 1 },
    });
    expect((await list()).version).toBe(version);

    const deleted = await send('DELETE', `/rules/${created.ruleId}?version=2`);
    expect(deleted.status).toBe(200);
    expect(deleted.json()).toEqual({ ruleId: created.ruleId, deleted: true });
    expect((await list()).version).toBe(version + 1);

    expect(await refusal('GET', `/rules/${created.ruleId}`)).toEqual({
      status: 404,
      code: 'unknown_rule',
      details: { ruleId: created.ruleId },
    });
    expect(await refusal('DELETE', `/rules/${created.ruleId}`)).toMatchObject({
      status: 404,
      code: 'unknown_rule',
    });
    expect(await refusal('PUT', `/rules/${created.ruleId}`, { ...boost(), version: 2 })).toMatchObject({
      status: 404,
      code: 'unknown_rule',
    });
    // Refused changes do not move the set's version.
    expect((await list()).version).toBe(version + 1);
  });

  it('answers 404 unknown_rule to ids the API could not have handed out', async () => {
    const ids = [
      'r-AAAAAAAAAAAAAAAAAAAAAA',
      'nope',
      'r-short',
      `r-${'A'.repeat(23)}`,
      '%2e%2e',
      encodeURIComponent('r-AAAAAAAAAAAAAAAAAAAA🍓'),
    ];
    for (const id of ids) {
      for (const [method, body] of [
        ['GET', undefined],
        ['PUT', { ...boost(), version: 1 }],
        ['DELETE', undefined],
      ] as const) {
        const { status, code } = await refusal(method, `/rules/${id}`, body);
        expect({ id, method, status, code }).toEqual({ id, method, status: 404, code: 'unknown_rule' });
      }
    }
  });

  it('answers 400 invalid_query to a DELETE version that is not a positive whole number', async () => {
    const created = await create();
    for (const query of [
      'version=0',
      'version=-1',
      'version=1.5',
      'version=x',
      'version=1&version=2',
      'v=1',
    ]) {
      const { status, code } = await refusal('DELETE', `/rules/${created.ruleId}?${query}`);
      expect({ query, status, code }).toEqual({ query, status: 400, code: 'invalid_query' });
    }
    expect((await send('GET', `/rules/${created.ruleId}`)).status).toBe(200);
  });
});

describe('bodies the API refuses', () => {
  it.each<[string, unknown]>([
    ['an unknown kind', boost({ kind: 'shuffle' })],
    ['no kind', { name: 'x', placements: ['home'], condition: { tags: ['sale'] }, factor: 2 }],
    ['a factor of 11', boost({ factor: 11 })],
    ['a factor of 1 (no change)', boost({ factor: 1 })],
    ['a bury factor of 0.5', boost({ kind: 'bury', factor: 0.5 })],
    ['a share of 0.6', { ...boost(), factor: undefined, kind: 'promote', share: 0.6 }],
    ['a share of 0', { ...boost(), factor: undefined, kind: 'promote', share: 0 }],
    ['a pin at position 0', { name: 'p', kind: 'pin', placements: ['home'], itemId: 'a', position: 0 }],
    ['a pin at position 101', { name: 'p', kind: 'pin', placements: ['home'], itemId: 'a', position: 101 }],
    ['a pin at position 1.5', { name: 'p', kind: 'pin', placements: ['home'], itemId: 'a', position: 1.5 }],
    ['a pin without an item', { name: 'p', kind: 'pin', placements: ['home'], position: 1 }],
    ['endsAt before startsAt', boost({ startsAt: iso(HOUR), endsAt: iso(-HOUR) })],
    ['endsAt equal to startsAt', boost({ startsAt: iso(HOUR), endsAt: iso(HOUR) })],
    ['a time that is not ISO 8601', boost({ startsAt: 'tomorrow' })],
    ['a time without an offset', boost({ startsAt: '2030-01-01T00:00:00' })],
    ['an empty condition', boost({ condition: {} })],
    ['a condition with an unknown field', boost({ condition: { colour: 'red' } })],
    ['minPrice above maxPrice', boost({ condition: { minPrice: 10, maxPrice: 5 } })],
    ['an empty tag list', boost({ condition: { tags: [] } })],
    ['a field the rule does not have', boost({ priority: 1 })],
    ['a share on a boost', boost({ share: 0.1 })],
    ['a version on POST', boost({ version: 1 })],
    ['a ruleId on POST', boost({ ruleId: 'r-AAAAAAAAAAAAAAAAAAAAAA' })],
    ['no name', boost({ name: undefined })],
    ['an empty name', boost({ name: '' })],
    ['a name of 201 characters', boost({ name: 'x'.repeat(201) })],
    ['no placements', boost({ placements: [] })],
    ['a placement that is not a name', boost({ placements: ['Home Page'] })],
    ['an unknown list', boost({ lists: ['trending'] })],
    ['a lone surrogate in a name', boost({ name: 'sale \ud800' })],
    ['an array', [boost()]],
    ['null', null],
    ['a string', '"boost"'],
  ])('refuses %s with 400 invalid_rule', async (_name, body) => {
    const { version } = await list();
    const response = await send('POST', '/rules', body);
    expect({ status: response.status, code: response.json<Refusal>().code }).toEqual({
      status: 400,
      code: 'invalid_rule',
    });
    expect((await list()).version).toBe(version);
  });

  it('refuses the same bodies on PUT, with the version', async () => {
    const created = await create();
    for (const body of [
      { ...boost({ factor: 11 }), version: 1 },
      { ...boost({ kind: 'shuffle' }), version: 1 },
      { ...boost({ extra: true }), version: 1 },
      { ...boost(), version: 0 },
      { ...boost(), version: '1' },
      { ...boost(), ruleId: created.ruleId, version: 1 },
    ]) {
      const { status, code } = await refusal('PUT', `/rules/${created.ruleId}`, body);
      expect({ body, status, code }).toEqual({ body, status: 400, code: 'invalid_rule' });
    }
    expect((await send('GET', `/rules/${created.ruleId}`)).json()).toEqual(created);
  });

  it('refuses a placement the stack does not accept with 400 unknown_placement, naming the accepted ones', async () => {
    const response = await send('POST', '/rules', boost({ placements: ['home', 'nowhere'] }));
    expect(response.status).toBe(400);
    expect(response.json<Refusal>()).toMatchObject({
      code: 'unknown_placement',
      details: { placement: 'nowhere', placements: expect.arrayContaining(['home', 'product']) },
    });
    const created = await create();
    expect(
      await refusal('PUT', `/rules/${created.ruleId}`, { ...boost({ placements: ['nowhere'] }), version: 1 }),
    ).toMatchObject({ status: 400, code: 'unknown_placement' });
  });

  it('refuses a body over 32 KiB with 413, another content type with 415, and bad JSON with 400', async () => {
    const huge = boost({ name: 'huge', condition: { itemIds: ['x'.repeat(40 * 1024)] } });
    expect(await refusal('POST', '/rules', huge)).toMatchObject({ status: 413, code: 'payload_too_large' });
    const plain = await local.call({
      method: 'POST',
      path: '/rules',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify(boost()),
    });
    expect([plain.status, plain.json<Refusal>().code]).toEqual([415, 'unsupported_media_type']);
    expect(await refusal('POST', '/rules', '{"name":')).toMatchObject({ status: 400, code: 'invalid_json' });
    const empty = await local.call({
      method: 'POST',
      path: '/rules',
      headers: { 'content-type': 'application/json' },
      body: '',
    });
    expect([empty.status, empty.json<Refusal>().code]).toEqual([400, 'empty_body']);
  });

  it.each<[string, Record<string, unknown>]>([
    ['a share of 1e-200', { ...boost(), factor: undefined, kind: 'promote', share: 1e-200 }],
    ['a minPrice of 1e-200', boost({ condition: { minPrice: 1e-200 } })],
    ['newerThanDays of 5e-324', boost({ condition: { newerThanDays: 5e-324 } })],
    ['a factor of 1 + 2^-52', boost({ factor: 1 + 2 ** -52 })],
  ])('stores %s as sent (a double DynamoDB numbers cannot hold)', async (_name, body) => {
    const created = await create(body);
    const read = (await send('GET', `/rules/${created.ruleId}`)).json();
    expect(read).toEqual(created);
    expect(read).toMatchObject(JSON.parse(JSON.stringify(body)));
    const replaced = await send('PUT', `/rules/${created.ruleId}`, { ...body, version: 1 });
    expect(replaced.status).toBe(200);
  });

  it('takes the largest rule the limits allow: 50 item ids of 512 bytes', async () => {
    const itemIds = Array.from({ length: 50 }, (_, i) => `${i}`.padStart(512, 'x'));
    const created = await create(boost({ condition: { itemIds } }));
    const read = await send('GET', `/rules/${created.ruleId}`);
    expect(read.json<{ condition: { itemIds: string[] } }>().condition.itemIds).toEqual(itemIds);
  });
});

describe('statuses', () => {
  it('is scheduled before startsAt, active between, ended from endsAt', async () => {
    const scheduled = await create(boost({ startsAt: iso(HOUR), endsAt: iso(2 * HOUR) }));
    const active = await create(boost({ startsAt: iso(-HOUR), endsAt: iso(HOUR) }));
    const ended = await create(boost({ startsAt: iso(-2 * HOUR), endsAt: iso(-HOUR) }));
    const endedOnly = await create(boost({ endsAt: iso(-1000) }));
    const open = await create(boost({ startsAt: iso(-1000) }));
    expect([scheduled, active, ended, endedOnly, open].map((rule) => rule.status)).toEqual([
      'scheduled',
      'active',
      'ended',
      'ended',
      'active',
    ]);
    const { rules } = await list();
    const statusOf = (ruleId: string) => rules.find((rule) => rule.ruleId === ruleId)?.status;
    expect([scheduled, active, ended].map((rule) => statusOf(rule.ruleId))).toEqual([
      'scheduled',
      'active',
      'ended',
    ]);
  });

  it('moves from scheduled to active to ended as time passes', async () => {
    const rule = await create(boost({ startsAt: iso(1500), endsAt: iso(3000) }));
    expect(rule.status).toBe('scheduled');
    const statusIn = async (ms: number) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return (await send('GET', `/rules/${rule.ruleId}`)).json<RuleView>().status;
    };
    expect(await statusIn(1600)).toBe('active');
    expect(await statusIn(1600)).toBe('ended');
  });
});

describe('concurrent changes', () => {
  it('of one version: exactly one PUT wins, the others get 409 version_conflict', async () => {
    const created = await create();
    const { version } = await list();
    const responses = await Promise.all(
      [2, 3, 4, 5, 6, 7].map((factor) =>
        send('PUT', `/rules/${created.ruleId}`, { ...boost({ factor }), version: 1 }),
      ),
    );
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([200, 409, 409, 409, 409, 409]);
    for (const response of responses.filter((r) => r.status === 409))
      expect(response.json<Refusal>()).toMatchObject({ code: 'version_conflict', details: { version: 2 } });
    const winner = responses.find((response) => response.status === 200)?.json<{ factor: number }>();
    const stored = (await send('GET', `/rules/${created.ruleId}`)).json<{
      factor: number;
      version: number;
    }>();
    expect(stored).toMatchObject({ version: 2, factor: winner?.factor });
    expect((await list()).version).toBe(version + 1);
  });

  it('creates concurrently without losing a rule or a version', async () => {
    const { version, rules } = await list();
    const created = await Promise.all(Array.from({ length: 8 }, (_, i) => create(boost({ name: `c${i}` }))));
    const after = await list();
    expect(after.version).toBe(version + 8);
    expect(after.rules).toHaveLength(rules.length + 8);
    expect(after.rules.map((rule) => rule.ruleId)).toEqual(
      expect.arrayContaining(created.map((r) => r.ruleId)),
    );
  });
});

describe(`the limit of ${MAX_RULES} rules`, () => {
  it('refuses the rule past the limit with 409 too_many_rules; a delete makes room', async () => {
    // Start from an empty set, so the count is exact.
    for (const rule of (await list()).rules)
      expect((await send('DELETE', `/rules/${rule.ruleId}`)).status).toBe(200);
    expect((await list()).rules).toEqual([]);

    const ids: string[] = [];
    for (let batch = 0; batch < MAX_RULES / 5; batch++) {
      const created = await Promise.all(
        Array.from({ length: 5 }, (_, i) => create(boost({ name: `rule ${batch * 5 + i}` }))),
      );
      ids.push(...created.map((rule) => rule.ruleId));
    }
    const full = await list();
    expect(full.rules).toHaveLength(MAX_RULES);

    const refused = await send('POST', '/rules', boost({ name: 'one too many' }));
    expect(refused.status).toBe(409);
    expect(refused.json<Refusal>()).toMatchObject({
      code: 'too_many_rules',
      details: { maxRules: MAX_RULES },
    });
    expect(await list()).toEqual(full);
    // Replacing a rule of a full set is not creating one.
    expect(
      (await send('PUT', `/rules/${ids[0]}`, { ...boost({ name: 'replaced' }), version: 1 })).status,
    ).toBe(200);

    expect((await send('DELETE', `/rules/${ids[1]}`)).status).toBe(200);
    await create(boost({ name: 'room again' }));
    expect((await list()).rules).toHaveLength(MAX_RULES);
    expect((await send('POST', '/rules', boost())).status).toBe(409);
  }, 240_000);
});

/**
 * Managing merchandising rules (functions/app/rules.ts) over the in-memory repository, which passes
 * the same RuleRepository contract as RuleStore: what a body must be, which placements a rule may
 * name, the checks made before the repository is asked, and the status a rule shows at a given time.
 */
import {
  createRule,
  DeleteRuleQuerySchema,
  deleteRule,
  getRule,
  listRules,
  type RulesDeps,
  updateRule,
} from '../../functions/app/rules';
import { RuleDefinitionSchema, ruleStatus } from '../../functions/contract/rules';
import { InvalidRequest, NotFound } from '../../functions/domain/errors';
import { ruleRepositoryContract } from '../support/contracts/rule-repository';
import { InMemoryRuleRepository } from '../support/fakes/rule-repository';

ruleRepositoryContract('InMemoryRuleRepository', () => new InMemoryRuleRepository());

const NOW = Date.UTC(2026, 11, 1, 12);
const HOUR = 3_600_000;
const iso = (at: number) => new Date(at).toISOString();
const boost = (overrides: Record<string, unknown> = {}) => ({
  name: 'Sale boost',
  kind: 'boost',
  placements: ['home'],
  condition: { tags: ['sale'] },
  factor: 2,
  ...overrides,
});

function depsWith(overrides: Partial<RulesDeps> = {}) {
  let now = NOW;
  const repository = new InMemoryRuleRepository();
  const deps: RulesDeps = { repository, now: () => now, ...overrides };
  return {
    deps,
    repository,
    at: (time: number) => {
      now = time;
    },
  };
}

/** What a use case threw: its class and code, for one readable comparison. */
async function refusal(work: Promise<unknown>) {
  const error = await work.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof InvalidRequest || error instanceof NotFound))
    throw error ?? new Error('not refused');
  return { type: error.constructor.name, code: error.code, message: error.message, details: error.details };
}

describe('creating a rule', () => {
  it('stores the definition and answers it at version 1, with its status and ISO times', async () => {
    const { deps, repository } = depsWith();
    const created = await createRule(deps, boost({ placements: ['home', '*', 'home'] }));
    expect(created).toEqual({
      ...boost(),
      placements: ['home', '*'],
      ruleId: expect.stringMatching(/^r-/),
      version: 1,
      status: 'active',
      createdAt: iso(NOW),
      updatedAt: iso(NOW),
    });
    expect(await repository.version()).toBe(1);
  });

  it('refuses a body that names its own ruleId or version: the API gives them', async () => {
    const { deps, repository } = depsWith();
    for (const extra of [{ version: 1 }, { ruleId: 'r-AAAAAAAAAAAAAAAAAAAAAA' }]) {
      expect(await refusal(createRule(deps, boost(extra)))).toMatchObject({
        type: 'InvalidRequest',
        code: 'invalid_rule',
        message: expect.stringContaining('no ruleId or version'),
      });
    }
    expect(await repository.version()).toBe(0);
  });

  it('says which field is wrong', async () => {
    const { deps } = depsWith();
    expect(await refusal(createRule(deps, boost({ factor: 11 })))).toMatchObject({
      code: 'invalid_rule',
      message: expect.stringContaining('factor'),
    });
    expect(
      await refusal(createRule(deps, boost({ startsAt: iso(NOW + HOUR), endsAt: iso(NOW) }))),
    ).toMatchObject({
      code: 'invalid_rule',
      message: expect.stringContaining('endsAt must be after startsAt'),
    });
    expect(await refusal(createRule(deps, boost({ condition: {} })))).toMatchObject({
      code: 'invalid_rule',
      message: expect.stringContaining('name at least one of'),
    });
  });

  it("takes only the stack's placements (and *), naming the first unknown one and the accepted ones", async () => {
    const { deps } = depsWith({ placements: { product: {}, home: {} } });
    expect(await refusal(createRule(deps, boost({ placements: ['home', 'pdp', 'plp'] })))).toEqual({
      type: 'InvalidRequest',
      code: 'unknown_placement',
      message: expect.stringContaining('pdp, plp'),
      details: { placement: 'pdp', placements: ['home', 'product'] },
    });
    // A name that is a property of every object is no placement.
    for (const name of ['constructor', 'hasownproperty', 'valueof'])
      expect(await refusal(createRule(deps, boost({ placements: [name] })))).toMatchObject({
        code: 'unknown_placement',
      });
    expect((await createRule(deps, boost({ placements: ['*', 'product'] }))).placements).toEqual([
      '*',
      'product',
    ]);
  });

  it('takes any well-formed placement name when the stack names none', async () => {
    const { deps } = depsWith();
    expect((await createRule(deps, boost({ placements: ['pdp', 'some-new_page9'] }))).placements).toEqual([
      'pdp',
      'some-new_page9',
    ]);
  });
});

describe('replacing and deleting a rule', () => {
  it('replaces at the version read, and asks for the version when a body has none', async () => {
    const { deps, at } = depsWith();
    const created = await createRule(deps, boost());
    at(NOW + 1000);
    const updated = await updateRule(deps, created.ruleId, { ...boost({ factor: 4 }), version: 1 });
    expect(updated).toMatchObject({ version: 2, factor: 4, createdAt: iso(NOW), updatedAt: iso(NOW + 1000) });
    expect(await refusal(updateRule(deps, created.ruleId, boost()))).toMatchObject({
      code: 'invalid_rule',
      message: expect.stringContaining('send the version you read'),
    });
    for (const version of ['2', 0, 1.5, null])
      expect(await refusal(updateRule(deps, created.ruleId, { ...boost(), version }))).toMatchObject({
        code: 'invalid_rule',
      });
  });

  it('checks placements on replacement too', async () => {
    const { deps } = depsWith({ placements: { home: {} } });
    const created = await createRule(deps, boost());
    expect(
      await refusal(updateRule(deps, created.ruleId, { ...boost({ placements: ['cart'] }), version: 1 })),
    ).toMatchObject({ code: 'unknown_placement' });
  });

  it('answers unknown_rule to an id the API could not have handed out, before reading the body or the store', async () => {
    const { deps, repository } = depsWith();
    await createRule(deps, boost());
    for (const ruleId of [
      '',
      'r-short',
      'x-AAAAAAAAAAAAAAAAAAAAAA',
      'r-AAAAAAAAAAAAAAAAAAAAA/',
      'r-AAAAAAAAAAAAAAAAAAAAAAA',
    ]) {
      for (const work of [
        getRule(deps, ruleId),
        updateRule(deps, ruleId, { not: 'a rule' }),
        deleteRule(deps, ruleId, undefined),
      ])
        expect(await refusal(work)).toMatchObject({ type: 'NotFound', code: 'unknown_rule' });
    }
    expect(await repository.version()).toBe(1);
  });

  it('deletes, and then the rule is unknown', async () => {
    const { deps } = depsWith();
    const created = await createRule(deps, boost());
    expect(await deleteRule(deps, created.ruleId, 1)).toEqual({ ruleId: created.ruleId, deleted: true });
    expect(await refusal(getRule(deps, created.ruleId))).toMatchObject({
      code: 'unknown_rule',
      details: { ruleId: created.ruleId },
    });
  });

  it('reads ?version= as a positive whole number, and nothing else', () => {
    expect(DeleteRuleQuerySchema.parse({})).toEqual({});
    expect(DeleteRuleQuerySchema.parse({ version: '3' })).toEqual({ version: 3 });
    for (const query of [
      { version: '0' },
      { version: '1.5' },
      { version: 'x' },
      { version: '' },
      { version: ['1', '2'] },
      { v: '1' },
    ])
      expect([query, DeleteRuleQuerySchema.safeParse(query).success]).toEqual([query, false]);
  });
});

describe('statuses', () => {
  it('is scheduled until startsAt, active from it, ended from endsAt (exclusive), whatever the offset', async () => {
    const { deps, at } = depsWith();
    const start = NOW + HOUR;
    const end = NOW + 2 * HOUR;
    // The same instants written at +02:00.
    const created = await createRule(
      deps,
      boost({ startsAt: '2026-12-01T15:00:00+02:00', endsAt: '2026-12-01T16:00:00+02:00' }),
    );
    const statusAt = async (time: number) => {
      at(time);
      return [(await getRule(deps, created.ruleId)).status, (await listRules(deps)).rules[0]?.status];
    };
    expect(await statusAt(start - 1)).toEqual(['scheduled', 'scheduled']);
    expect(await statusAt(start)).toEqual(['active', 'active']);
    expect(await statusAt(end - 1)).toEqual(['active', 'active']);
    expect(await statusAt(end)).toEqual(['ended', 'ended']);
  });

  it('refuses an end at the same instant as the start written at another offset', () => {
    const parsed = RuleDefinitionSchema.safeParse(
      boost({ startsAt: '2026-12-01T12:00:00Z', endsAt: '2026-12-01T14:00:00+02:00' }),
    );
    expect(parsed.success).toBe(false);
  });

  it('is active with no window, and ended from endsAt with no start', () => {
    expect(ruleStatus({}, NOW)).toBe('active');
    expect(ruleStatus({ endsAt: iso(NOW) }, NOW)).toBe('ended');
    expect(ruleStatus({ startsAt: iso(NOW + 1) }, NOW)).toBe('scheduled');
  });
});

describe('the schema at its limits', () => {
  const limits: Array<[string, Record<string, unknown>, boolean]> = [
    ['a factor of 10', boost({ factor: 10 }), true],
    ['a factor just above 10', boost({ factor: 10.000000000000002 }), false],
    [
      'a share of 0.5',
      { name: 'p', kind: 'promote', placements: ['*'], condition: { tags: ['sale'] }, share: 0.5 },
      true,
    ],
    ['a pin at 100', { name: 'p', kind: 'pin', placements: ['*'], itemId: 'a', position: 100 }, true],
    ['50 item ids', boost({ condition: { itemIds: Array.from({ length: 50 }, (_, i) => `${i}`) } }), true],
    ['51 item ids', boost({ condition: { itemIds: Array.from({ length: 51 }, (_, i) => `${i}`) } }), false],
    ['an item id of 512 bytes', boost({ condition: { itemIds: ['x'.repeat(512)] } }), true],
    ['an item id of 513 bytes', boost({ condition: { itemIds: ['x'.repeat(512) + 'ü'] } }), false],
    ['an item id of 256 two-byte characters', boost({ condition: { itemIds: ['ü'.repeat(256)] } }), true],
    ['an item id of 257 two-byte characters', boost({ condition: { itemIds: ['ü'.repeat(257)] } }), false],
    ['a name of 200 characters', boost({ name: 'x'.repeat(200) }), true],
    ['20 tags', boost({ condition: { tags: Array.from({ length: 20 }, (_, i) => `t${i}`) } }), true],
    ['21 tags', boost({ condition: { tags: Array.from({ length: 21 }, (_, i) => `t${i}`) } }), false],
    ['a tag of 65 characters', boost({ condition: { tags: ['x'.repeat(65)] } }), false],
    ['minPrice equal to maxPrice', boost({ condition: { minPrice: 5, maxPrice: 5 } }), true],
    ['a negative minPrice', boost({ condition: { minPrice: -1 } }), false],
    ['newerThanDays of 0', boost({ condition: { newerThanDays: 0 } }), false],
    ['three lists', boost({ lists: ['personal', 'popular', 'similar'] }), true],
    ['100 placements', boost({ placements: Array.from({ length: 100 }, (_, i) => `p${i}`) }), true],
    ['101 placements', boost({ placements: Array.from({ length: 101 }, (_, i) => `p${i}`) }), false],
    ['a placement of 65 characters', boost({ placements: ['p'.repeat(65)] }), false],
    ['a lone surrogate in a tag', boost({ condition: { tags: ['\udc00'] } }), false],
  ];

  it.each(
    limits.map(([name, body, valid]) => [`${name}: ${valid ? 'valid' : 'refused'}`, body, valid] as const),
  )('%s', (_name, body, valid) => {
    expect(RuleDefinitionSchema.safeParse(body).success).toBe(valid);
  });
});

/**
 * The contract of the RuleRepository port (functions/app/ports.ts): rules come back exactly as they
 * were stored, oldest first; every change moves the set's version by one and a refused one moves
 * nothing; a write at a stale version is a 409 version_conflict naming the stored version; a rule
 * that is gone is a 404; the set holds at most MAX_RULES. Run against the in-memory fake (test/unit/)
 * and RuleStore on DynamoDB Local (test/integration/).
 */
import type { RuleRepository } from '../../../functions/app/ports';
import {
  MAX_RULES,
  RULE_ID,
  type RuleDefinition,
  RuleDefinitionSchema,
} from '../../../functions/contract/rules';
import { Conflict, NotFound } from '../../../functions/domain/errors';

const T0 = Date.UTC(2026, 11, 1);

/** A definition as the API hands it to the repository: parsed by the contract's schema. */
export const ruleDefinition = (input: Record<string, unknown>): RuleDefinition =>
  RuleDefinitionSchema.parse(input);

const boost = ruleDefinition({
  name: 'Sale boost',
  kind: 'boost',
  placements: ['home'],
  condition: { tags: ['sale'] },
  factor: 2,
}) as Extract<RuleDefinition, { kind: 'boost' }>;

/** Definitions of every kind and optional field, with values a naive store would not keep exactly. */
export const ROUND_TRIPS: Array<[string, RuleDefinition]> = [
  [
    'a boost with every condition',
    ruleDefinition({
      name: 'Every condition',
      kind: 'boost',
      placements: ['home', '*'],
      lists: ['personal', 'popular', 'similar'],
      startsAt: '2026-12-24T00:00:00+01:00',
      endsAt: '2027-01-02T00:00:00.000Z',
      condition: {
        itemIds: ['sku-1', 'sku é+🍓', 'a,b'],
        categories: ['shoes'],
        tags: ['sale', 'new, in'],
        minPrice: 0,
        maxPrice: 1e12,
        newerThanDays: 0.5,
      },
      factor: 10,
    }),
  ],
  [
    'a bury by a factor just above 1',
    ruleDefinition({
      name: 'Bury',
      kind: 'bury',
      placements: ['*'],
      condition: { categories: ['clearance'] },
      factor: 1.0000000000000002,
    }),
  ],
  [
    'a pin at the last position',
    ruleDefinition({
      name: 'Pin \u0000 with a NUL and 🍓',
      kind: 'pin',
      placements: ['product'],
      itemId: 'x'.repeat(512),
      position: 100,
    }),
  ],
  [
    'a promotion of the smallest share a double holds',
    ruleDefinition({
      name: 'Tiny',
      kind: 'promote',
      placements: ['email'],
      condition: { minPrice: 1e-200, newerThanDays: 5e-324 },
      share: 5e-324,
    }),
  ],
  [
    'a promotion of 0.1 + 0.2',
    ruleDefinition({
      name: 'Binary fractions',
      kind: 'promote',
      placements: ['cart'],
      condition: { maxPrice: 0.1 + 0.2 },
      share: 0.5,
    }),
  ],
];

const expectCode = (code: string, details?: Record<string, unknown>) =>
  expect.objectContaining({ code, ...(details ? { details } : {}) });

export function ruleRepositoryContract(
  name: string,
  setUp: () => RuleRepository | Promise<RuleRepository>,
): void {
  describe(`${name}: RuleRepository contract`, () => {
    let repository: RuleRepository;

    beforeEach(async () => {
      repository = await setUp();
    });

    it('starts empty, at version 0', async () => {
      expect(await repository.version()).toBe(0);
      expect(await repository.read()).toEqual({ version: 0, rules: [] });
    });

    it.each(ROUND_TRIPS)('gives back %s exactly as stored, by get and by read', async (_name, definition) => {
      const created = await repository.create(definition, T0);
      const expected = { ...definition, ruleId: created.ruleId, version: 1, createdAt: T0, updatedAt: T0 };
      expect(created).toEqual(expected);
      expect(created.ruleId).toMatch(RULE_ID);
      expect(await repository.get(created.ruleId)).toEqual(expected);
      expect((await repository.read()).rules).toEqual([expected]);
      const updated = await repository.update(created.ruleId, definition, 1, T0 + 1);
      expect(updated).toEqual({ ...expected, version: 2, updatedAt: T0 + 1 });
    });

    it('moves the set version by one per change, and lists the rules oldest first', async () => {
      const first = await repository.create(boost, T0 + 20);
      const second = await repository.create({ ...boost, name: 'second' }, T0 + 10);
      const third = await repository.create({ ...boost, name: 'third' }, T0 + 30);
      expect(await repository.version()).toBe(3);
      expect((await repository.read()).rules.map((rule) => rule.ruleId)).toEqual([
        second.ruleId,
        first.ruleId,
        third.ruleId,
      ]);
      await repository.update(first.ruleId, { ...boost, factor: 3 }, 1, T0 + 40);
      expect(await repository.version()).toBe(4);
      await repository.delete(second.ruleId, undefined, T0 + 50);
      await repository.delete(third.ruleId, 1, T0 + 60);
      const { version, rules } = await repository.read();
      expect(version).toBe(6);
      expect(rules.map((rule) => rule.ruleId)).toEqual([first.ruleId]);
    });

    it('orders rules created in the same millisecond by id', async () => {
      const created = await Promise.all([0, 1, 2, 3].map(() => repository.create(boost, T0)));
      const ids = created.map((rule) => rule.ruleId).sort();
      expect((await repository.read()).rules.map((rule) => rule.ruleId)).toEqual(ids);
    });

    it('replaces the whole definition at the version read, keeping the id and creation time', async () => {
      const created = await repository.create(boost, T0);
      const pin = ruleDefinition({
        name: 'Now a pin',
        kind: 'pin',
        placements: ['cart'],
        itemId: 'sku-9',
        position: 2,
      });
      const updated = await repository.update(created.ruleId, pin, 1, T0 + 5);
      const expected = { ...pin, ruleId: created.ruleId, version: 2, createdAt: T0, updatedAt: T0 + 5 };
      expect(updated).toEqual(expected);
      // Nothing of the boost is left (its condition, its factor).
      expect(await repository.get(created.ruleId)).toEqual(expected);
    });

    it('refuses a write at a stale version with version_conflict naming the stored version, and changes nothing', async () => {
      const created = await repository.create(boost, T0);
      const updated = await repository.update(created.ruleId, { ...boost, factor: 3 }, 1, T0 + 1);
      const before = await repository.read();

      const staleUpdate = repository.update(created.ruleId, { ...boost, factor: 9 }, 1, T0 + 2);
      await expect(staleUpdate).rejects.toBeInstanceOf(Conflict);
      await expect(staleUpdate).rejects.toEqual(
        expectCode('version_conflict', { ruleId: created.ruleId, version: 2, expected: 1 }),
      );
      await expect(repository.update(created.ruleId, boost, 3, T0 + 2)).rejects.toEqual(
        expectCode('version_conflict', { ruleId: created.ruleId, version: 2, expected: 3 }),
      );
      await expect(repository.delete(created.ruleId, 1, T0 + 2)).rejects.toEqual(
        expectCode('version_conflict', { ruleId: created.ruleId, version: 2, expected: 1 }),
      );
      expect(await repository.read()).toEqual(before);
      expect(await repository.get(created.ruleId)).toEqual(updated);
    });

    it('answers unknown_rule for a rule that never was or is gone, and changes nothing', async () => {
      const created = await repository.create(boost, T0);
      await repository.delete(created.ruleId, 1, T0 + 1);
      const before = await repository.read();
      expect(await repository.get(created.ruleId)).toBeUndefined();
      for (const ruleId of [created.ruleId, 'r-AAAAAAAAAAAAAAAAAAAAAA']) {
        const refusals = [
          repository.update(ruleId, boost, 1, T0 + 2),
          repository.delete(ruleId, undefined, T0 + 2),
          repository.delete(ruleId, 1, T0 + 2),
        ];
        for (const refusal of refusals) {
          await expect(refusal).rejects.toBeInstanceOf(NotFound);
          await expect(refusal).rejects.toEqual(expectCode('unknown_rule', { ruleId }));
        }
      }
      expect(await repository.read()).toEqual(before);
    });

    it(`holds at most ${MAX_RULES} rules (too_many_rules); a delete makes room`, async () => {
      const created = [];
      for (let i = 0; i < MAX_RULES; i++)
        created.push(await repository.create({ ...boost, name: `r${i}` }, T0 + i));
      const full = await repository.read();
      expect(full).toMatchObject({ version: MAX_RULES, rules: expect.any(Array) });
      expect(full.rules).toHaveLength(MAX_RULES);
      await expect(repository.create(boost, T0 + 500)).rejects.toEqual(
        expectCode('too_many_rules', { maxRules: MAX_RULES }),
      );
      expect(await repository.read()).toEqual(full);
      // Replacing a rule of a full set is no new rule.
      await repository.update(created[0]?.ruleId as string, { ...boost, factor: 4 }, 1, T0 + 501);
      await repository.delete(created[1]?.ruleId as string, undefined, T0 + 502);
      await repository.create(boost, T0 + 503);
      expect((await repository.read()).rules).toHaveLength(MAX_RULES);
      await expect(repository.create(boost, T0 + 504)).rejects.toEqual(expectCode('too_many_rules'));
    });

    it('keeps every rule and version of concurrent creates', async () => {
      const created = await Promise.all(
        Array.from({ length: 10 }, (_, i) => repository.create({ ...boost, name: `c${i}` }, T0 + i)),
      );
      const { version, rules } = await repository.read();
      expect(version).toBe(10);
      expect(rules.map((rule) => rule.name)).toEqual(created.map((rule) => rule.name));
    });
  });
}

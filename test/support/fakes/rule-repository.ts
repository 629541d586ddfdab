/**
 * The RuleRepository port in memory, as the Rules table holds it: the rules, and the set's version
 * that every change moves by one. Passes the same contract as RuleStore (test/support/contracts).
 */
import { randomBytes } from 'node:crypto';
import type { RuleRepository, RuleSet } from '../../../functions/app/ports';
import { MAX_RULES, type Rule, type RuleDefinition } from '../../../functions/contract/rules';
import { Conflict, NotFound } from '../../../functions/domain/errors';

export class InMemoryRuleRepository implements RuleRepository {
  private readonly rules = new Map<string, Rule>();
  private setVersion = 0;

  async version(): Promise<number> {
    return this.setVersion;
  }

  async read(): Promise<RuleSet> {
    const rules = [...this.rules.values()]
      .map((rule) => structuredClone(rule))
      .sort((a, b) => a.createdAt - b.createdAt || (a.ruleId < b.ruleId ? -1 : 1));
    return { version: this.setVersion, rules };
  }

  async get(ruleId: string): Promise<Rule | undefined> {
    const rule = this.rules.get(ruleId);
    return rule && structuredClone(rule);
  }

  async create(definition: RuleDefinition, now: number): Promise<Rule> {
    if (this.rules.size >= MAX_RULES)
      throw new Conflict('too_many_rules', `a stack keeps at most ${MAX_RULES} rules`, {
        maxRules: MAX_RULES,
      });
    const rule: Rule = {
      ...structuredClone(definition),
      ruleId: `r-${randomBytes(16).toString('base64url')}`,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    this.rules.set(rule.ruleId, rule);
    this.setVersion += 1;
    return structuredClone(rule);
  }

  async update(ruleId: string, definition: RuleDefinition, expected: number, now: number): Promise<Rule> {
    const stored = this.stored(ruleId, expected);
    const rule: Rule = {
      ...structuredClone(definition),
      ruleId,
      version: stored.version + 1,
      createdAt: stored.createdAt,
      updatedAt: now,
    };
    this.rules.set(ruleId, rule);
    this.setVersion += 1;
    return structuredClone(rule);
  }

  async delete(ruleId: string, expected: number | undefined, _now: number): Promise<void> {
    this.stored(ruleId, expected);
    this.rules.delete(ruleId);
    this.setVersion += 1;
  }

  /** The rule, if it exists at `expected` (any version when undefined). */
  private stored(ruleId: string, expected: number | undefined): Rule {
    const stored = this.rules.get(ruleId);
    if (!stored) throw new NotFound('rule', ruleId);
    if (expected !== undefined && stored.version !== expected)
      throw new Conflict('version_conflict', `rule ${ruleId} is at version ${stored.version}`, {
        ruleId,
        version: stored.version,
        expected,
      });
    return stored;
  }
}

/**
 * Managing the merchandising rules (issue 20): admins create, replace and delete them through
 * `/rules`; the recommender reads them (functions/domain/merchandising.ts applies them).
 */
import * as z from 'zod';
import type { PlacementsConfig } from '../contract/placements';
import {
  RULE_ID,
  type Rule,
  type RuleDefinition,
  RuleDefinitionSchema,
  RuleUpdateSchema,
  ruleStatus,
} from '../contract/rules';
import { InvalidRequest, NotFound } from '../domain/errors';
import { describeIssues } from '../domain/event-schema';
import type { RuleRepository } from './ports';

export interface RulesDeps {
  repository: RuleRepository;
  /** The placements a rule may name (besides `*`); absent: any valid name. */
  placements?: PlacementsConfig;
  now?: () => number;
}

/** A rule as the API answers it: its definition, id, version, status now, and ISO times. */
export function ruleView(rule: Rule, now: number) {
  const { createdAt, updatedAt, ...rest } = rule;
  return {
    ...rest,
    status: ruleStatus(rule, now),
    createdAt: new Date(createdAt).toISOString(),
    updatedAt: new Date(updatedAt).toISOString(),
  };
}

/** A path's rule id: one the API could not have handed out names no rule. */
export function checkedRuleId(ruleId: string | undefined): string {
  if (!ruleId || !RULE_ID.test(ruleId)) throw new NotFound('rule', ruleId ?? '');
  return ruleId;
}

function definitionOf(deps: RulesDeps, body: unknown): RuleDefinition {
  const parsed = RuleDefinitionSchema.safeParse(body);
  if (!parsed.success) throw new InvalidRequest('invalid_rule', describeIssues(parsed.error));
  return checkPlacements(deps, parsed.data);
}

function checkPlacements(deps: RulesDeps, definition: RuleDefinition): RuleDefinition {
  const known = deps.placements;
  const unknown = known ? definition.placements.filter((p) => p !== '*' && !Object.hasOwn(known, p)) : [];
  if (unknown.length > 0 && known) {
    const names = Object.keys(known).sort();
    throw new InvalidRequest(
      'unknown_placement',
      `placement ${unknown.join(', ')} is not one of this stack's placements (${names.join(', ')}, or *)`,
      { placement: unknown[0], placements: names },
    );
  }
  return { ...definition, placements: [...new Set(definition.placements)] };
}

const now = (deps: RulesDeps) => (deps.now ?? Date.now)();

export async function listRules(deps: RulesDeps) {
  const { version, rules } = await deps.repository.read();
  const at = now(deps);
  return { version, rules: rules.map((rule) => ruleView(rule, at)) };
}

export async function getRule(deps: RulesDeps, ruleId: string) {
  const rule = await deps.repository.get(checkedRuleId(ruleId));
  if (!rule) throw new NotFound('rule', ruleId);
  return ruleView(rule, now(deps));
}

export async function createRule(deps: RulesDeps, body: unknown) {
  if (body !== null && typeof body === 'object' && ('version' in body || 'ruleId' in body))
    throw new InvalidRequest('invalid_rule', 'a new rule has no ruleId or version: the API gives them');
  const at = now(deps);
  return ruleView(await deps.repository.create(definitionOf(deps, body), at), at);
}

export async function updateRule(deps: RulesDeps, ruleId: string, body: unknown) {
  checkedRuleId(ruleId);
  const parsed = RuleUpdateSchema.safeParse(body);
  if (!parsed.success) {
    const missingVersion =
      body !== null && typeof body === 'object' && !('version' in body)
        ? ' (send the version you read: it guards against overwriting a change you have not seen)'
        : '';
    throw new InvalidRequest('invalid_rule', describeIssues(parsed.error) + missingVersion);
  }
  const { version, ...definition } = parsed.data;
  const at = now(deps);
  const updated = await deps.repository.update(
    ruleId,
    checkPlacements(deps, definition as RuleDefinition),
    version,
    at,
  );
  return ruleView(updated, at);
}

/** `?version=` on DELETE: deletes only that version (409 on another). */
export const DeleteRuleQuerySchema = z.strictObject({
  version: z.coerce.number().int().min(1).optional(),
});

export async function deleteRule(deps: RulesDeps, ruleId: string, expectedVersion: number | undefined) {
  checkedRuleId(ruleId);
  await deps.repository.delete(ruleId, expectedVersion, now(deps));
  return { ruleId, deleted: true };
}

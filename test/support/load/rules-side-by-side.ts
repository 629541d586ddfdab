/**
 * The merchandising part of the load bench (issue 20): the seeded users' personal lists on placement
 * `home` with 20 active rules (8 boosts, 6 buries, 3 pins, 3 promotions: the mix a shop runs) and with
 * none, over HTTP at the same open-loop rate, in alternating rounds (the rules are created before a
 * `rules` turn and deleted after it, then the turn waits out the rules cache's TTL so every request
 * of a turn sees its arm's rules); p50/p99 per arm pooled over the rounds, and `rules_over_none_p99`.
 */
import type { LocalApp } from '../../../infra/local/app';
import { openLoop, percentile } from './open-loop';
import { itemIdOf, userIdOf, withoutRequestLog } from './scenario';

export interface RulesOptions {
  users: number;
  categories: number;
  /** Requests per second. */
  rate: number;
  /** Seconds per arm, split into `rounds` turns. */
  seconds: number;
  rounds: number;
  warmupSeconds: number;
  /** The recommend function's RULES_CACHE_MS: each turn waits this long after changing the rules. */
  rulesCacheMs: number;
  log: (line: string) => void;
}

interface Arm {
  latencies: number[];
  errors: number;
  sent: number;
  statuses: Record<string, number>;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

/** Twenty rules, all in effect on `home`: what each list of the `rules` arm is ranked under. */
export function twentyRules(categories: number): Array<Record<string, unknown>> {
  const category = (k: number) => `style-${k % categories}`;
  const rules: Array<Record<string, unknown>> = [];
  for (let k = 0; k < 8; k++)
    rules.push({
      name: `boost ${k}`,
      kind: 'boost',
      factor: 1.5 + k / 4,
      condition:
        k % 3 === 0
          ? { categories: [category(k), category(k + 9)] }
          : k % 3 === 1
            ? { tags: ['rare'], maxPrice: 100 + k * 10 }
            : { newerThanDays: 30 + k, categories: [category(k + 3)] },
      placements: ['home'],
    });
  for (let k = 0; k < 6; k++)
    rules.push({
      name: `bury ${k}`,
      kind: 'bury',
      factor: 2 + k / 2,
      condition: k % 2 === 0 ? { categories: [category(k + 20)] } : { minPrice: 150 + k },
      placements: ['*'],
    });
  for (let k = 0; k < 3; k++)
    rules.push({
      name: `pin ${k}`,
      kind: 'pin',
      itemId: itemIdOf(101 + k * 37),
      position: 2 + k * 3,
      placements: ['home'],
    });
  for (let k = 0; k < 3; k++)
    rules.push({
      name: `promote ${k}`,
      kind: 'promote',
      share: 0.1,
      condition: { categories: [category(k + 30)] },
      placements: ['home'],
    });
  return rules;
}

export async function runRulesSideBySide(app: LocalApp, options: RulesOptions) {
  const issuer = app.issuer;
  if (!issuer) throw new Error('the load run needs auth');
  const admin = `Bearer ${await issuer.token('load-merchandiser', { admin: true, expiresInSeconds: 7200 })}`;
  const tokens = await Promise.all(
    Array.from({ length: options.users }, (_, u) => issuer.token(userIdOf(u), { expiresInSeconds: 7200 })),
  );
  const requests = tokens.map((token, u) => ({
    method: 'GET' as const,
    path: `/users/${userIdOf(u)}/recommendations?limit=10&placement=home`,
    headers: { authorization: `Bearer ${token}` },
  }));
  const adminCall = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${app.url}${path}`, {
      method,
      headers: { authorization: admin, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as { ruleId?: string };
  };
  const settle = () => new Promise((resolve) => setTimeout(resolve, options.rulesCacheMs + 500));
  let created: string[] = [];
  const setRules = async (on: boolean) => {
    if (on) {
      for (const rule of twentyRules(options.categories))
        created.push((await adminCall('POST', '/rules', rule)).ruleId as string);
    } else {
      for (const ruleId of created) await adminCall('DELETE', `/rules/${ruleId}`);
      created = [];
    }
    await settle();
  };
  // The rules take effect: a list with them holds their reasons (checked once, not timed).
  await setRules(true);
  const check = await fetch(`${app.url}${requests[0]?.path}`, { headers: requests[0]?.headers });
  const body = (await check.json()) as { items?: Array<{ reason: { kind: string; rules?: string[] } }> };
  const ruled =
    body.items?.filter(
      (item) => item.reason.kind === 'pinned' || item.reason.kind === 'promoted' || item.reason.rules,
    ) ?? [];
  if (check.status !== 200 || ruled.length === 0)
    throw new Error(
      `the rules do not show in the list: ${check.status} ${JSON.stringify(body).slice(0, 300)}`,
    );
  options.log(`with 20 rules: ${ruled.length} of ${body.items?.length} items placed or scaled by a rule`);
  const arms: Record<'rules' | 'none', Arm> = {
    rules: { latencies: [], errors: 0, sent: 0, statuses: {} },
    none: { latencies: [], errors: 0, sent: 0, statuses: {} },
  };
  return withoutRequestLog(async () => {
    await openLoop({
      origin: app.url as string,
      requests,
      rate: options.rate,
      seconds: options.warmupSeconds,
    });
    let on = true;
    const names = ['rules', 'none'] as const;
    for (let r = 0; r < options.rounds; r++) {
      for (const name of r % 2 === 0 ? names : [...names].reverse()) {
        if ((name === 'rules') !== on) {
          on = name === 'rules';
          await setRules(on);
        }
        const arm = arms[name];
        const result = await openLoop({
          origin: app.url as string,
          requests,
          rate: options.rate,
          seconds: options.seconds / options.rounds,
        });
        arm.latencies.push(...result.latencies);
        arm.errors += result.errors;
        arm.sent += result.sent;
        for (const [status, count] of Object.entries(result.statuses))
          arm.statuses[status] = (arm.statuses[status] ?? 0) + count;
        options.log(`${name} round ${r + 1}: p50 ${round1(result.p50Ms)} ms, p99 ${round1(result.p99Ms)} ms`);
      }
    }
    if (on) await setRules(false);
    const figures = (arm: Arm) => {
      const sorted = Float64Array.from(arm.latencies).sort();
      return {
        requests: arm.sent,
        errors: arm.errors,
        statuses: arm.statuses,
        p50_ms: round1(percentile(sorted, 0.5)),
        p99_ms: round1(percentile(sorted, 0.99)),
      };
    };
    const rules = figures(arms.rules);
    const none = figures(arms.none);
    return {
      rate: options.rate,
      rules: 20,
      with_rules: rules,
      without_rules: none,
      rules_over_none_p99: Math.round((rules.p99_ms / Math.max(none.p99_ms, 1e-9)) * 100) / 100,
      rules_over_none_p50: Math.round((rules.p50_ms / Math.max(none.p50_ms, 1e-9)) * 100) / 100,
    };
  });
}

/**
 * The filtered part of the load bench (issue 19): the personal list of the seeded users unfiltered
 * (`?limit=10`) and with a narrow filter (`?limit=10&tag=rare&maxPrice=150`: 0.75% of the
 * catalogue eligible), over HTTP at the same open-loop rate, in alternating rounds (the order flips
 * each round) so both see the same machine; p50/p99 per arm pooled over the rounds, and
 * `filtered_over_unfiltered_p99`.
 */
import type { LocalApp } from '../../../infra/local/app';
import { openLoop, percentile } from './open-loop';
import { userIdOf, withoutRequestLog } from './scenario';

export interface FilteredOptions {
  users: number;
  /** Requests per second of each arm. */
  rate: number;
  /** Seconds per arm, split into `rounds` turns. */
  seconds: number;
  rounds: number;
  warmupSeconds: number;
  log: (line: string) => void;
}

export const FILTER_QUERY = 'tag=rare&maxPrice=150';

interface Arm {
  latencies: number[];
  errors: number;
  sent: number;
  statuses: Record<string, number>;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

export async function runFilteredSideBySide(app: LocalApp, options: FilteredOptions) {
  const issuer = app.issuer;
  if (!issuer) throw new Error('the load run needs auth');
  const tokens = await Promise.all(
    Array.from({ length: options.users }, (_, u) => issuer.token(userIdOf(u), { expiresInSeconds: 7200 })),
  );
  const requests = (query: string) =>
    tokens.map((token, u) => ({
      method: 'GET' as const,
      path: `/users/${userIdOf(u)}/recommendations?limit=10${query}`,
      headers: { authorization: `Bearer ${token}` },
    }));
  const arms = {
    unfiltered: { requests: requests(''), latencies: [], errors: 0, sent: 0, statuses: {} } as Arm & {
      requests: ReturnType<typeof requests>;
    },
    filtered: {
      requests: requests(`&${FILTER_QUERY}`),
      latencies: [],
      errors: 0,
      sent: 0,
      statuses: {},
    } as Arm & {
      requests: ReturnType<typeof requests>;
    },
  };
  // Every answer of the filtered arm must hold only eligible items: checked once, not timed.
  const check = await fetch(`${app.url}${arms.filtered.requests[0]?.path}`, {
    headers: arms.filtered.requests[0]?.headers,
  });
  const body = (await check.json()) as { items?: Array<{ tags?: string[]; price?: number }> };
  if (
    check.status !== 200 ||
    !body.items?.every((item) => item.tags?.includes('rare') && (item.price ?? 1e9) <= 150)
  )
    throw new Error(
      `the filtered list is not filtered: ${check.status} ${JSON.stringify(body).slice(0, 300)}`,
    );
  options.log(`filtered list: ${body.items.length} items, all rare and at most 150`);
  return withoutRequestLog(async () => {
    for (const arm of Object.values(arms))
      await openLoop({
        origin: app.url as string,
        requests: arm.requests,
        rate: options.rate,
        seconds: options.warmupSeconds / 2,
      });
    const names = ['unfiltered', 'filtered'] as const;
    for (let r = 0; r < options.rounds; r++) {
      for (const name of r % 2 === 0 ? names : [...names].reverse()) {
        const arm = arms[name];
        const result = await openLoop({
          origin: app.url as string,
          requests: arm.requests,
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
    const unfiltered = figures(arms.unfiltered);
    const filtered = figures(arms.filtered);
    return {
      rate: options.rate,
      filter: FILTER_QUERY,
      unfiltered,
      filtered,
      filtered_over_unfiltered_p99:
        Math.round((filtered.p99_ms / Math.max(unfiltered.p99_ms, 1e-9)) * 100) / 100,
    };
  });
}

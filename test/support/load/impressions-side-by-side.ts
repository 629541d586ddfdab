/**
 * The cost of impressions and exploration on the personal list, measured side by side in one run: the
 * recommend use case wired twice over the same local stack (the same tables, index and data), once
 * as configured (the Impressions table written, exploration on) and once with neither, called in turn (ABBA) at a constant open-loop rate,
 * each call's latency from its due time. In process and as the recommend function (its role, its SDK
 * clients): HTTP and the authorizers cost both arms the same and are left out. Users with profiles
 * must be seeded (see `seedProfiles`).
 */
import { recommendForUser } from '../../../functions/app/recommend';
import { functionConfig } from '../../../functions/wiring/environment';
import { createRecommendDeps } from '../../../functions/wiring/recommend';
import { runAsFunction } from '../../../infra/local/iam/function-identity';
import { percentile } from './open-loop';
import { userIdOf } from './scenario';

export interface SideBySideOptions {
  readonly users: number;
  /** Calls per second, both arms together. */
  readonly rate: number;
  readonly seconds: number;
  /** A discarded run first (JIT, connection pools, the two indexes). @default 5 */
  readonly warmupSeconds?: number;
  readonly log?: (line: string) => void;
}

export interface Arm {
  calls: number;
  errors: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

export interface SideBySideReport {
  rate: number;
  seconds: number;
  /** Impressions recorded and exploration on (the function's configuration). */
  on: Arm;
  /** Neither. */
  off: Arm;
  /** p99 on over p99 off: the budget is 1.15. */
  on_off_p99_ratio: number;
  on_off_p50_ratio: number;
  /** The exploration settings of the "on" arm. */
  exploration: unknown;
  /** Rows in the Impressions table written by the run's "on" arm (one per list). */
  impressions_written: number;
}

const round = (value: number) => Math.round(value * 100) / 100;

function armOf(latencies: number[], errors: number): Arm {
  const sorted = Float64Array.from(latencies).sort();
  return {
    calls: latencies.length + errors,
    errors,
    p50_ms: round(percentile(sorted, 0.5)),
    p99_ms: round(percentile(sorted, 0.99)),
    max_ms: round(sorted[sorted.length - 1] ?? 0),
  };
}

/** Run in the process that hosts the local app's functions (`startLocalApp` without artefacts). */
export async function runImpressionsSideBySide(options: SideBySideOptions): Promise<SideBySideReport> {
  const log = options.log ?? (() => {});
  // The twin put the functions' environment in this process: the recommend function's configuration.
  const config = functionConfig('recommend');
  const { impressions: _, ...withoutImpressions } = config.tables;
  // LOAD_SIDE_BY_SIDE=impressions or =exploration: the "on" arm has only that one (to split the cost).
  const only = process.env.LOAD_SIDE_BY_SIDE;
  const arms = {
    on: createRecommendDeps({
      ...config,
      ...(only === 'exploration' ? { tables: withoutImpressions } : {}),
      ...(only === 'impressions' ? { exploration: undefined } : {}),
    }),
    off: createRecommendDeps({ ...config, tables: withoutImpressions, exploration: undefined }),
  };
  if (arms.off.impressions || arms.off.exploration) throw new Error('the "off" arm has neither');
  let written = 0;
  const recorder = arms.on.impressions;
  if (recorder)
    arms.on = {
      ...arms.on,
      impressions: {
        record: async (impression) => {
          await recorder.record(impression);
          written += 1;
        },
        page: (viewer, recommendationId) => recorder.page(viewer, recommendationId),
      },
    };
  const call = (arm: 'on' | 'off', user: number) =>
    runAsFunction('recommend', () =>
      recommendForUser(arms[arm], userIdOf(user % options.users), { limit: 10 }),
    );
  // The first call of each arm loads its index.
  for (const arm of ['on', 'off'] as const) {
    const list = await call(arm, 0);
    if (list.strategy !== 'personal' || list.items.length !== 10)
      throw new Error(`${arm}: the first list is ${list.strategy} with ${list.items.length} items`);
  }

  const run = async (seconds: number) => {
    const latencies = { on: [] as number[], off: [] as number[] };
    const errors = { on: 0, off: 0 };
    const total = Math.round(options.rate * seconds);
    const interval = 1000 / options.rate;
    const started = performance.now();
    const inFlight: Promise<void>[] = [];
    for (let k = 0; k < total; k++) {
      const due = started + k * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      // ABBA: each arm is first after a gap as often as it is second.
      const arm = k % 4 === 0 || k % 4 === 3 ? 'on' : 'off';
      inFlight.push(
        call(arm, k >> 1).then(
          () => {
            latencies[arm].push(performance.now() - due);
          },
          () => {
            errors[arm] += 1;
          },
        ),
      );
    }
    await Promise.all(inFlight);
    return { latencies, errors };
  };

  if (options.warmupSeconds ?? 5) {
    await run(options.warmupSeconds ?? 5);
    log('impressions side by side: warm-up done');
  }
  written = 0;
  const { latencies, errors } = await run(options.seconds);
  const on = armOf(latencies.on, errors.on);
  const off = armOf(latencies.off, errors.off);
  return {
    rate: options.rate,
    seconds: options.seconds,
    on,
    off,
    on_off_p99_ratio: round(on.p99_ms / off.p99_ms),
    on_off_p50_ratio: round(on.p50_ms / off.p50_ms),
    exploration: config.exploration,
    impressions_written: written,
  };
}

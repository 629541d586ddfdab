/**
 * Load on the whole local system over HTTP, 127.0.0.1 only: recommendations for 50 users with
 * profiles over a 10k-item synthetic catalogue, after a 10 s warm-up, stepped 50, 100, 150, 200, 250, 300
 * and 400 requests/s until a step misses p99 < 200 ms, then 100/s for 30 s; then 1000 requests of
 * one hot user's events (5 each, 15% repeats) from 50 connections (autocannon); then 20-event
 * `POST /events` requests of 50 users at 50 requests/s, open loop, beside the same workload on a
 * baseline revision's code when one is given (test/support/load/event-writes.ts); and the personal
 * list with impressions recorded and exploration on, and with neither, side by side in the same run, interleaved
 * (test/support/load/impressions-side-by-side.ts), for `on_off_p99_ratio` (impressions and exploration
 * on against both off).
 *
 *   npm run bench:load
 *   LOAD_ITEMS=20000 LOAD_RATES=100,200 LOAD_STEP_SECONDS=20 npm run bench:load
 *   npm run bench:load -- --baseline HEAD~1            # the events part beside the parent commit
 *   LOAD_EVENTS_ONLY=1 LOAD_EVENT_SECONDS=8 npm run bench:load -- --baseline main   # events part only
 *   LOAD_IMPRESSIONS_ONLY=1 npm run bench:load         # the impressions side-by-side part only
 *   LOAD_FILTERED_ONLY=1 npm run bench:load            # the filtered-list side-by-side part only
 *   LOAD_RULES_ONLY=1 npm run bench:load               # personal lists with 20 merchandising rules and none
 *   LOAD_SIDE_BY_SIDE=exploration LOAD_IMPRESSIONS_ONLY=1 npm run bench:load   # "on" = exploration only
 *   (or =impressions: "on" = impressions only), to split the cost
 *
 * Filtered part (test/support/load/filtered-side-by-side.ts): the personal list unfiltered and with a
 * narrow filter (1% of the catalogue tagged `rare`, at most 150), LOAD_FILTERED_RATE (20 a second
 * per arm, below where the one local server process saturates), LOAD_FILTERED_SECONDS (40 per arm, in LOAD_FILTERED_ROUNDS = 4 alternating turns), for
 * `filtered_over_unfiltered_p99`.
 *
 * Impressions part: LOAD_IMPRESSION_RATE (calls/s, both arms together: 60), LOAD_IMPRESSION_SECONDS (60),
 * run as deployed and again with the local impression counts consumer stopped (`request_path_only`).
 *
 * Events part: LOAD_EVENT_RATE (50), LOAD_EVENT_SECONDS per app (20, in LOAD_EVENT_ROUNDS = 4
 * alternating turns, after LOAD_EVENT_WARMUP_SECONDS = 10 discarded per app), LOAD_EVENT_USERS (50), LOAD_EVENTS_PER_REQUEST (20), LOAD_EVENT_ALONE (20
 * requests one at a time, for the time spent inside DynamoDB), LOAD_BASELINE_REV or `--baseline`.
 *
 * Recommendation requests arrive open-loop and evenly spaced from a worker thread, and latency runs
 * from each request's due time (test/support/load/open-loop.ts). autocannon is not used for them: its
 * rate limit sends each connection's quota for the second back to back and then idles (bursts, not
 * a rate), and its coordinated-omission correction takes the expected interval as ceil(1 / rate) ms,
 * 1 ms at any rate, which back-fills phantom samples for every answer slower than that.
 *
 * Starts its own DynamoDB Local (Java) and s3rver; the server (every handler) runs on this process's
 * one event loop, the client in another thread, DynamoDB Local in a JVM: all on this machine's cores.
 * Progress goes to stderr; the last stdout line is one JSON object. Never asserted on.
 */

import { DEFAULT_RULES_CACHE_MS } from '../../functions/contract/rules';
import { type LocalApp, startLocalApp } from '../../infra/local/app';
import { runEventWrites } from '../support/load/event-writes';
import { runFilteredSideBySide } from '../support/load/filtered-side-by-side';
import { runImpressionsSideBySide } from '../support/load/impressions-side-by-side';
import { runRulesSideBySide } from '../support/load/rules-side-by-side';
import { runLoad, seedCatalogue, seedProfiles, userIdOf } from '../support/load/scenario';

const numberFrom = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};

function baselineRev(): string | undefined {
  const flag = process.argv.indexOf('--baseline');
  const rev = flag >= 0 ? process.argv[flag + 1] : process.env.LOAD_BASELINE_REV;
  return rev || undefined;
}

async function main(): Promise<void> {
  const log = (line: string) => process.stderr.write(`[load] ${line}\n`);
  let report: Record<string, unknown> = {};
  const impressions = {
    rate: numberFrom('LOAD_IMPRESSION_RATE', 60),
    seconds: numberFrom('LOAD_IMPRESSION_SECONDS', 60),
    warmupSeconds: numberFrom('LOAD_WARMUP_SECONDS', 10),
    log,
  };
  /**
   * Side by side as deployed (the impression counts consumer writing to DynamoDB Local meanwhile),
   * then with the local consumer stopped: on this machine DynamoDB Local shares the cores, so the
   * second run is the request path's own cost (in AWS the consumer's writes do not slow the reads).
   */
  const impressionsPart = async (app: LocalApp, users: number) => {
    const asDeployed = await runImpressionsSideBySide({ users, ...impressions });
    log(`impressions side by side: ${JSON.stringify(asDeployed)}`);
    await app.impressionsStream.stop();
    const requestPath = await runImpressionsSideBySide({ users, ...impressions, warmupSeconds: 0 });
    log(`impressions side by side, consumer stopped: ${JSON.stringify(requestPath)}`);
    return { ...asDeployed, request_path_only: requestPath };
  };
  /** The personal list unfiltered and with a narrow filter (1% of the catalogue), side by side. */
  const filteredPart = (app: LocalApp, users: number) =>
    runFilteredSideBySide(app, {
      users,
      rate: numberFrom('LOAD_FILTERED_RATE', 20),
      seconds: numberFrom('LOAD_FILTERED_SECONDS', 40),
      rounds: numberFrom('LOAD_FILTERED_ROUNDS', 4),
      warmupSeconds: numberFrom('LOAD_WARMUP_SECONDS', 10),
      log,
    });
  /** The personal list with 20 active merchandising rules and with none, side by side (issue 20). */
  const rulesPart = (app: LocalApp, users: number, categories: number) =>
    runRulesSideBySide(app, {
      users,
      categories,
      rate: numberFrom('LOAD_RULES_RATE', 20),
      seconds: numberFrom('LOAD_RULES_SECONDS', 40),
      rounds: numberFrom('LOAD_RULES_ROUNDS', 4),
      warmupSeconds: numberFrom('LOAD_WARMUP_SECONDS', 10),
      rulesCacheMs: DEFAULT_RULES_CACHE_MS,
      log,
    });
  if (process.env.LOAD_IMPRESSIONS_ONLY || process.env.LOAD_FILTERED_ONLY || process.env.LOAD_RULES_ONLY) {
    const app = await startLocalApp({ apiPort: 0, tablePrefix: `bench-${Date.now()}-` });
    try {
      const options = {
        catalogueItems: numberFrom('LOAD_ITEMS', 10_000),
        categories: 40,
        users: numberFrom('LOAD_USERS', 50),
      };
      const issuer = app.issuer;
      if (!issuer) throw new Error('the load run needs auth');
      const tokens = await Promise.all(
        Array.from({ length: options.users }, (_, u) =>
          issuer.token(userIdOf(u), { expiresInSeconds: 7200 }),
        ),
      );
      await seedCatalogue(app, options);
      await seedProfiles(app, options, tokens);
      const part = process.env.LOAD_RULES_ONLY
        ? { rules: await rulesPart(app, options.users, options.categories) }
        : process.env.LOAD_FILTERED_ONLY
          ? { filtered: await filteredPart(app, options.users) }
          : { impressions: await impressionsPart(app, options.users) };
      process.stdout.write(`${JSON.stringify(part)}\n`);
    } finally {
      await app.stop();
    }
    return;
  }
  if (!process.env.LOAD_EVENTS_ONLY) {
    const started = performance.now();
    const app = await startLocalApp({ apiPort: 0, tablePrefix: `bench-${Date.now()}-` });
    log(`local app on ${app.url} in ${Math.round(performance.now() - started)} ms`);
    try {
      const load = await runLoad(app, {
        catalogueItems: numberFrom('LOAD_ITEMS', 10_000),
        categories: 40,
        users: numberFrom('LOAD_USERS', 50),
        warmupSeconds: numberFrom('LOAD_WARMUP_SECONDS', 10),
        rates: (process.env.LOAD_RATES ?? '50,100,150,200,250,300,400').split(',').map(Number),
        stepSeconds: numberFrom('LOAD_STEP_SECONDS', 15),
        sustainRate: 100,
        sustainSeconds: numberFrom('LOAD_SUSTAIN_SECONDS', 30),
        connections: 50,
        eventConnections: 50,
        eventRequests: numberFrom('LOAD_EVENT_REQUESTS', 1000),
        eventsPerRequest: 5,
        repeatShare: 0.15,
        log,
      });
      const lost =
        load.events_counted !== load.events_accepted || load.events_stored !== load.events_accepted;
      log(lost ? 'EVENTS LOST OR DOUBLE-COUNTED' : 'every accepted event counted exactly once');
      const filtered = await filteredPart(app, load.users);
      log(`filtered side by side: ${JSON.stringify(filtered)}`);
      const rules = await rulesPart(app, load.users, 40);
      log(`rules side by side: ${JSON.stringify(rules)}`);
      report = {
        ...load,
        events_consistent: !lost,
        filtered,
        rules,
        impressions: await impressionsPart(app, load.users),
      };
    } finally {
      await app.stop();
    }
  }
  const writes = await runEventWrites({
    rate: numberFrom('LOAD_EVENT_RATE', 50),
    seconds: numberFrom('LOAD_EVENT_SECONDS', 20),
    rounds: numberFrom('LOAD_EVENT_ROUNDS', 4),
    warmupSeconds: numberFrom('LOAD_EVENT_WARMUP_SECONDS', 10),
    users: numberFrom('LOAD_EVENT_USERS', 50),
    eventsPerRequest: numberFrom('LOAD_EVENTS_PER_REQUEST', 20),
    sequentialRequests: numberFrom('LOAD_EVENT_ALONE', 20),
    baselineRev: baselineRev(),
    log,
  });
  process.stdout.write(`${JSON.stringify({ ...report, event_writes: writes })}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

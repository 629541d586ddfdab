/**
 * Load on the whole local system over HTTP, 127.0.0.1 only: recommendations for 50 users with
 * profiles over a 10k-item synthetic catalogue, after a 10 s warm-up, stepped 50, 100, 150, 200, 250, 300
 * and 400 requests/s until a step misses p99 < 200 ms, then 100/s for 30 s; then 1000 requests of
 * one hot user's events (5 each, 15% repeats) from 50 connections (autocannon).
 *
 *   npm run bench:load
 *   LOAD_ITEMS=20000 LOAD_RATES=100,200 LOAD_STEP_SECONDS=20 npm run bench:load
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
import { startLocalApp } from '../../infra/local/app';
import { runLoad } from '../support/load/scenario';

const numberFrom = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};

async function main(): Promise<void> {
  const log = (line: string) => process.stderr.write(`[load] ${line}\n`);
  const started = performance.now();
  const app = await startLocalApp({ apiPort: 0, tablePrefix: `bench-${Date.now()}-` });
  log(`local app on ${app.url} in ${Math.round(performance.now() - started)} ms`);
  try {
    const report = await runLoad(app, {
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
      report.events_counted !== report.events_accepted || report.events_stored !== report.events_accepted;
    log(lost ? 'EVENTS LOST OR DOUBLE-COUNTED' : 'every accepted event counted exactly once');
    process.stdout.write(`${JSON.stringify({ ...report, events_consistent: !lost })}\n`);
  } finally {
    await app.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

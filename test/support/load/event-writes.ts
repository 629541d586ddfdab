/**
 * The events part of the load bench: 20-event `POST /events` requests (one user each, users in turn,
 * every event new) at a steady open-loop rate, on this commit's local app and, when a baseline git
 * revision is given, on that revision's local app measured in the same run. Each app runs in its own
 * process (test/bench/support/event-app.ts; for the baseline, copied into a temporary
 * `git worktree add --detach` under .cache/ that is removed afterwards), and the two take turns in
 * short rounds, so both see the same machine conditions. Then, one request at a time, the share of
 * each request spent inside DynamoDB calls (DynamoDB Local's own cost) and the sequential round trips.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { openLoop, percentile } from './open-loop';

export interface EventWriteOptions {
  /** Requests per second for each app. */
  readonly rate: number;
  /** Measured seconds per app, split into `rounds` turns. */
  readonly seconds: number;
  readonly rounds: number;
  /** Discarded seconds per app before the first round (JIT, DynamoDB Local's JVM, first profiles). */
  readonly warmupSeconds: number;
  readonly users: number;
  readonly eventsPerRequest: number;
  /** Requests sent one at a time for the DynamoDB share. */
  readonly sequentialRequests: number;
  /** A git revision to measure beside this commit (e.g. the parent commit); none: this commit only. */
  readonly baselineRev?: string;
  readonly log: (line: string) => void;
}

export interface EventWriteFigures {
  requests: number;
  errors: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  /** One request at a time: median latency, time inside DynamoDB calls, and sequential round trips. */
  alone_p50_ms: number;
  alone_dynamodb_p50_ms: number;
  alone_dynamodb_share: number;
  alone_round_trips_p50: number;
}

export interface EventWriteReport {
  events_per_request: number;
  rate: number;
  users: number;
  current: EventWriteFigures;
  baseline?: EventWriteFigures & { rev: string };
}

const REPO_ROOT = path.resolve(__dirname, '../../..');
const RUNNER = 'test/bench/support/event-app.ts';
/**
 * The files copied into the baseline's worktree: the runner, and this commit's DynamoDB Local launcher,
 * so both apps store on the same twin (a scratch database with DynamoDB Local's stream records
 * indexed). An older launcher ran the jar in memory, where every write to a streamed table scans all
 * stream records so far, and the baseline would slow down under the run's own writes, not its code.
 */
const RUNNER_FILES = [RUNNER, 'test/support/dynamo-calls.ts', 'infra/local/dynamodb-local.ts'];

interface RunningApp {
  child: ChildProcess;
  url: string;
  tokens: string[];
  itemIds: string[];
  sent: number;
}

async function startApp(root: string, options: EventWriteOptions, name: string): Promise<RunningApp> {
  const child = spawn(path.join(REPO_ROOT, 'node_modules/.bin/tsx'), [RUNNER], {
    cwd: root,
    env: {
      ...process.env,
      LOAD_EVENT_USERS: String(options.users),
      LOOKALIKE_CACHE_DIR: path.join(REPO_ROOT, '.cache'),
    },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  // The app's own log, without its line per request.
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    if (!/^(GET|POST|DELETE) \//.test(line)) process.stderr.write(`[${name}] ${line}\n`);
  });
  const ready = await new Promise<{ url: string; tokens: string[]; itemIds: string[] }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the ${name} app exited (${code}) before it was ready`)));
    child.on('message', (message: { type: string; url: string; tokens: string[]; itemIds: string[] }) => {
      if (message.type === 'ready') resolve(message);
    });
  });
  options.log(`${name} app on ${ready.url}`);
  return { child, ...ready, sent: 0 };
}

function callsSince(app: RunningApp): Promise<{ calls: number; phases: number; dynamoMs: number }> {
  return new Promise((resolve) => {
    const onMessage = (message: { type: string; calls: number; phases: number; dynamoMs: number }) => {
      if (message.type !== 'calls') return;
      app.child.off('message', onMessage);
      resolve(message);
    };
    app.child.on('message', onMessage);
    app.child.send({ type: 'calls' });
  });
}

/** `count` requests of fresh events, users in turn, each a batch of one user's events. */
function requestsFor(app: RunningApp, options: EventWriteOptions, count: number, tag: string) {
  const types = ['view', 'click', 'like', 'add_to_cart'];
  const now = Date.now();
  return Array.from({ length: count }, (_, r) => {
    const n = app.sent++;
    const user = n % options.users;
    const events = Array.from({ length: options.eventsPerRequest }, (__, e) => ({
      eventId: `${tag}-${n}-${e}`,
      userId: `bench-user-${user}`,
      itemId: app.itemIds[(n * options.eventsPerRequest + e * 7 + r) % app.itemIds.length],
      type: types[e % types.length],
      timestamp: now - 60_000 + e,
    }));
    return {
      method: 'POST' as const,
      path: '/events',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${app.tokens[user]}` },
      body: JSON.stringify({ events }),
    };
  });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};
const round = (value: number) => Math.round(value * 10) / 10;

/** Checks `rev` out into a detached worktree under .cache/ with this checkout's dependencies linked in. */
function baselineWorktree(rev: string): string {
  const dir = path.join(REPO_ROOT, '.cache', `baseline-${rev.replace(/[^\w.-]/g, '_')}-${process.pid}`);
  execFileSync('git', ['worktree', 'add', '--detach', dir, rev], { cwd: REPO_ROOT, stdio: 'ignore' });
  for (const linked of ['node_modules', 'layers/model/dist', 'layers/runtime/nodejs']) {
    const target = path.join(dir, linked);
    if (existsSync(target)) rmSync(target, { recursive: true, force: true });
    mkdirSync(path.dirname(target), { recursive: true });
    symlinkSync(path.join(REPO_ROOT, linked), target);
  }
  for (const file of RUNNER_FILES) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    copyFileSync(path.join(REPO_ROOT, file), path.join(dir, file));
  }
  return dir;
}

export async function runEventWrites(options: EventWriteOptions): Promise<EventWriteReport> {
  const apps: Array<{ name: string; app: RunningApp; latencies: number[]; errors: number; sent: number }> =
    [];
  let worktree: string | undefined;
  try {
    apps.push({
      name: 'current',
      app: await startApp(REPO_ROOT, options, 'current'),
      latencies: [],
      errors: 0,
      sent: 0,
    });
    if (options.baselineRev) {
      worktree = baselineWorktree(options.baselineRev);
      options.log(`baseline ${options.baselineRev} checked out in ${worktree}`);
      apps.push({
        name: 'baseline',
        app: await startApp(worktree, options, 'baseline'),
        latencies: [],
        errors: 0,
        sent: 0,
      });
    }
    // A discarded warm-up round each (JIT, connections, first profiles). 2 s was too short: the first
    // measured round of either app ran at 4-5x the later rounds' latency (DynamoDB Local's JVM still
    // compiling), and being 1 of 4 rounds it set both apps' p99.
    for (const entry of apps)
      await openLoop({
        origin: entry.app.url,
        rate: options.rate,
        seconds: options.warmupSeconds,
        requests: requestsFor(
          entry.app,
          options,
          Math.ceil(options.rate * options.warmupSeconds) + 1,
          'warm',
        ),
      });
    const perRound = options.seconds / options.rounds;
    for (let round = 0; round < options.rounds; round++) {
      // Alternate which app goes first, so neither always follows the other.
      const order = round % 2 === 0 ? apps : [...apps].reverse();
      for (const entry of order) {
        const result = await openLoop({
          origin: entry.app.url,
          rate: options.rate,
          seconds: perRound,
          timeoutMs: 30_000,
          requests: requestsFor(entry.app, options, Math.ceil(options.rate * perRound) + 1, `r${round}`),
        });
        entry.latencies.push(...result.latencies);
        entry.errors += result.errors;
        entry.sent += result.sent;
        options.log(
          `${entry.name} round ${round + 1}: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, errors ${result.errors}`,
        );
      }
    }
    // One request at a time, the apps in turn: how much of a request is DynamoDB Local's own time.
    const alone = new Map(
      apps.map((entry) => [entry.name, [] as Array<{ ms: number; dynamoMs: number; phases: number }>]),
    );
    const queued = new Map(
      apps.map((entry) => [entry.name, requestsFor(entry.app, options, options.sequentialRequests, 'alone')]),
    );
    for (const entry of apps) await callsSince(entry.app);
    for (let i = 0; i < options.sequentialRequests; i++)
      for (const entry of apps) {
        const request = queued.get(entry.name)?.[i];
        if (!request) continue;
        const started = performance.now();
        const response = await fetch(`${entry.app.url}${request.path}`, {
          method: 'POST',
          headers: request.headers,
          body: request.body,
        });
        await response.arrayBuffer();
        const ms = performance.now() - started;
        const calls = await callsSince(entry.app);
        alone.get(entry.name)?.push({ ms, dynamoMs: calls.dynamoMs, phases: calls.phases });
      }
    const figures = new Map<string, EventWriteFigures>();
    for (const entry of apps) {
      const runs = alone.get(entry.name) ?? [];
      const sorted = Float64Array.from(entry.latencies).sort();
      figures.set(entry.name, {
        requests: entry.sent,
        errors: entry.errors,
        p50_ms: round(percentile(sorted, 0.5)),
        p99_ms: round(percentile(sorted, 0.99)),
        max_ms: round(sorted[sorted.length - 1] ?? 0),
        alone_p50_ms: round(median(runs.map((a) => a.ms))),
        alone_dynamodb_p50_ms: round(median(runs.map((a) => a.dynamoMs))),
        alone_dynamodb_share:
          Math.round(
            (runs.reduce((sum, a) => sum + a.dynamoMs, 0) / (runs.reduce((sum, a) => sum + a.ms, 0) || 1)) *
              100,
          ) / 100,
        alone_round_trips_p50: median(runs.map((a) => a.phases)),
      });
    }
    const current = figures.get('current') as EventWriteFigures;
    const baseline = figures.get('baseline');
    return {
      events_per_request: options.eventsPerRequest,
      rate: options.rate,
      users: options.users,
      current,
      ...(baseline && options.baselineRev ? { baseline: { rev: options.baselineRev, ...baseline } } : {}),
    };
  } finally {
    await Promise.all(
      apps.map(
        ({ app }) =>
          new Promise<void>((resolve) => {
            app.child.once('exit', () => resolve());
            app.child.send({ type: 'stop' });
            setTimeout(() => {
              app.child.kill();
              resolve();
            }, 30_000).unref();
          }),
      ),
    );
    if (worktree)
      execFileSync('git', ['worktree', 'remove', '--force', worktree], { cwd: REPO_ROOT, stdio: 'ignore' });
  }
}

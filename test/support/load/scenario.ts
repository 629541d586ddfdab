/**
 * The load scenario shared by the benchmark (`test/bench/load.bench.ts`) and its reduced variant in
 * the test command (`test/integration/load.test.ts`), against the local app's HTTP server on
 * 127.0.0.1: (a) recommendations for users with profiles over a synthetic catalogue, rate by rate,
 * open-loop from a worker thread (open-loop.ts), and (b) a burst of events for one hot user
 * (autocannon, a fixed number of requests), after which nothing may be lost or counted twice.
 */
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import autocannon from 'autocannon';
import { CatalogueRepository } from '../../../functions/adapters/dynamodb/item-store';
import { ProfileStore, storeTablesOf } from '../../../functions/adapters/dynamodb/profile-store';
import type { CatalogueItem } from '../../../functions/domain/catalogue-item';
import type { LocalApp } from '../../../infra/local/app';
import { createLocalDynamoDbClient } from '../../../infra/local/aws-env';
import { gaussian, seededUniform } from '../seeded-random';
import { openLoop } from './open-loop';

export interface LoadOptions {
  /** Synthetic items written straight to the items table (the rows the embed handler writes). */
  readonly catalogueItems: number;
  readonly categories: number;
  /** Users with a profile (each likes a few items first). */
  readonly users: number;
  /** A discarded run at the lowest step's rate first (JIT, connection pools, caches). @default 0 */
  readonly warmupSeconds?: number;
  /** Rates (requests/s) for the recommendation steps; each step runs `stepSeconds`. */
  readonly rates: readonly number[];
  readonly stepSeconds: number;
  /** The sustained run: this rate for this long, which must have no errors. */
  readonly sustainRate: number;
  readonly sustainSeconds: number;
  /** Connections for the recommendation runs. */
  readonly connections: number;
  /**
   * The hot-user event burst: a fixed number of requests, each answered before the run ends, so every
   * event the server processed is in the client's tally.
   */
  readonly eventConnections: number;
  readonly eventRequests: number;
  readonly eventsPerRequest: number;
  /** Share of events that repeat an earlier event (same id, same payload): duplicates, not new events. */
  readonly repeatShare: number;
  readonly log?: (line: string) => void;
}

export interface RateStep {
  rate: number;
  seconds: number;
  requests: number;
  achieved_rps: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  errors: number;
}

export interface LoadReport {
  catalogue_items: number;
  users: number;
  seed_ms: number;
  first_request_ms: number;
  steps: RateStep[];
  max_rps_p99_under_200ms: number;
  sustained: RateStep;
  /** The sustained run kept up with its rate, with no errors, at p99 under 200 ms. */
  sustained_kept_up: boolean;
  p99_ms_at_100rps?: number;
  errors: number;
  events_requests: number;
  events_sent: number;
  events_distinct: number;
  events_accepted: number;
  events_duplicate: number;
  events_rejected: number;
  events_counted: number;
  events_stored: number;
  events_rps: number;
  events_p99_ms: number;
  events_errors: number;
}

function unit(values: Float32Array): Float32Array {
  let norm = 0;
  for (const v of values) norm += v * v;
  norm = Math.sqrt(norm) || 1;
  return values.map((v) => v / norm);
}

export const itemIdOf = (i: number) => `load-${String(i).padStart(6, '0')}`;
const categoryOf = (i: number, categories: number) => `style-${i % categories}`;

/**
 * Clustered unit vectors (a centre per category plus noise), written through the repository the embed
 * handler uses, so the rows are exactly what ingestion writes. Change times are spread one second
 * apart in the past: a recommend function re-reads the last minute of changes on every refresh, and a
 * steady-state run should not measure the minute after a bulk upload.
 */
export async function seedCatalogue(
  app: LocalApp,
  options: Pick<LoadOptions, 'catalogueItems' | 'categories'>,
): Promise<string[]> {
  const { manifest, stack } = app;
  const dim = manifest.output.dim;
  const random = seededUniform(7);
  const centres = Array.from({ length: options.categories }, () =>
    unit(Float32Array.from({ length: dim }, () => gaussian(random))),
  );
  const repository = new CatalogueRepository(
    createLocalDynamoDbClient(stack.endpoints.dynamodb),
    stack.tables.Items as string,
  );
  const now = Date.now();
  const firstChange = now - options.catalogueItems * 1000 - 3_600_000;
  const itemIds = Array.from({ length: options.catalogueItems }, (_, i) => itemIdOf(i));
  let next = 0;
  const writer = async () => {
    for (let i = next++; i < itemIds.length; i = next++) {
      const centre = centres[i % options.categories] as Float32Array;
      const vector = unit(centre.map((c) => c + 0.08 * gaussian(random)));
      const category = categoryOf(i, options.categories);
      const item: CatalogueItem = {
        itemId: itemIds[i] as string,
        title: `Synthetic ${i}`,
        category,
        price: 5 + (i % 200),
        // 1% of the catalogue is `rare`: the filtered part's narrow filter.
        tags: i % 100 === 7 ? ['rare', 'load'] : ['load'],
        available: i % 50 !== 0,
        status: 'ready',
        source: {
          bucket: stack.bucket,
          key: `catalogue/${category}/${itemIds[i]}.jpg`,
          etag: `etag-${i}`,
          size: 50_000,
          sequencer: String(i + 1).padStart(64, '0'),
          eventAt: firstChange + i * 1000,
        },
        vectors: { [manifest.modelId]: vector },
        dim,
        createdAt: firstChange + i * 1000,
        updatedAt: firstChange + i * 1000,
      };
      if (!(await repository.putIfNewer(item, firstChange + i * 1000)))
        throw new Error(`item ${item.itemId} was not written`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, writer));
  return itemIds;
}

export const userIdOf = (i: number) => `load-user-${i}`;

/** Each user likes five items of two categories, through POST /events with the user's own token. */
export async function seedProfiles(
  app: LocalApp,
  options: Pick<LoadOptions, 'catalogueItems' | 'categories' | 'users'>,
  tokens: string[],
): Promise<void> {
  const random = seededUniform(11);
  await Promise.all(
    Array.from({ length: options.users }, async (_, u) => {
      const events = Array.from({ length: 5 }, (__, e) => {
        const category = (u + (e % 2)) % options.categories;
        const index =
          category +
          options.categories * Math.floor(random() * (options.catalogueItems / options.categories));
        return { eventId: `seed-${e}`, userId: userIdOf(u), itemId: itemIdOf(index), type: 'like' };
      });
      const response = await fetch(`${app.url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[u]}` },
        body: JSON.stringify({ events }),
      });
      const body = (await response.json()) as { accepted?: number };
      if (response.status !== 202 || body.accepted !== 5)
        throw new Error(`seeding ${userIdOf(u)}: ${response.status} ${JSON.stringify(body)}`);
    }),
  );
}

const REQUEST_LOG = /^(GET|POST|DELETE|PUT|PATCH|HEAD|OPTIONS) \S+ -> \d{3} \(\d+ ms\)\n?$/;

/**
 * The local server writes a line per request to stderr; at hundreds of requests a second that is
 * noise (and work) the load run does not need. Only those lines are held back, and only meanwhile.
 */
export async function withoutRequestLog<T>(work: () => Promise<T>): Promise<T> {
  const write = process.stderr.write;
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) =>
    typeof chunk === 'string' && REQUEST_LOG.test(chunk)
      ? true
      : (write as (...args: unknown[]) => boolean).call(process.stderr, chunk, ...rest)) as typeof write;
  try {
    return await work();
  } finally {
    process.stderr.write = write;
  }
}

const round = (value: number) => Math.round(value * 10) / 10;

/** A step counts when it kept up with its rate, without errors, at p99 under 200 ms. */
const keptUp = (step: RateStep) =>
  step.errors === 0 && step.p99_ms < 200 && step.achieved_rps >= 0.9 * step.rate;

async function recommendationRun(
  app: LocalApp,
  tokens: string[],
  options: LoadOptions,
  rate: number,
  seconds: number,
): Promise<RateStep> {
  // Evenly spaced arrivals from another thread, latency from each request's due time (open-loop.ts);
  // users take turns.
  const result = await openLoop({
    origin: app.url as string,
    rate,
    seconds,
    maxSockets: options.connections,
    // As long as the API waits for a function: a slower answer is its 503, not a client timeout.
    timeoutMs: 30_000,
    requests: tokens.map((token, user) => ({
      method: 'GET',
      path: `/users/${userIdOf(user)}/recommendations?limit=10`,
      headers: { authorization: `Bearer ${token}` },
    })),
  });
  return {
    rate,
    seconds,
    requests: result.sent,
    achieved_rps: result.achievedRps,
    p50_ms: result.p50Ms,
    p99_ms: result.p99Ms,
    max_ms: result.maxMs,
    errors: result.errors,
  };
}

interface HotUserTally {
  requests: number;
  sent: number;
  accepted: number;
  duplicate: number;
  rejected: number;
  failedRequests: number;
  distinctInOkResponses: Set<string>;
}

/** Events for one user from many connections: unique ids, a share of exact repeats. */
async function hotUserRun(app: LocalApp, token: string, options: LoadOptions, itemIds: string[]) {
  const userId = 'load-hot-user';
  const random = seededUniform(13);
  const sent: Array<Record<string, unknown>> = [];
  const tally: HotUserTally = {
    requests: 0,
    sent: 0,
    accepted: 0,
    duplicate: 0,
    rejected: 0,
    failedRequests: 0,
    distinctInOkResponses: new Set(),
  };
  const result = await autocannon({
    url: app.url as string,
    connections: Math.min(options.eventConnections, options.eventRequests),
    amount: options.eventRequests,
    // As long as the API waits for a function: a slower answer is its 503, not a client timeout.
    timeout: 30,
    requests: [
      {
        method: 'POST',
        setupRequest: (request, context) => {
          const events: Array<Record<string, unknown>> = [];
          while (events.length < options.eventsPerRequest) {
            const earlier = sent[Math.floor(random() * sent.length)];
            if (earlier && random() < options.repeatShare) {
              if (!events.includes(earlier)) events.push(earlier);
              continue;
            }
            const event = {
              eventId: `hot-${sent.length}`,
              userId,
              itemId: itemIds[Math.floor(random() * itemIds.length)],
              type: random() < 0.8 ? 'view' : 'like',
            };
            sent.push(event);
            events.push(event);
          }
          (context as { eventIds?: string[] }).eventIds = events.map((e) => e.eventId as string);
          tally.requests += 1;
          tally.sent += events.length;
          return {
            ...request,
            path: '/events',
            headers: {
              ...request.headers,
              'content-type': 'application/json',
              authorization: `Bearer ${token}`,
            },
            body: JSON.stringify({ events }),
          };
        },
        onResponse: (status, body, context) => {
          if (status !== 202) {
            tally.failedRequests += 1;
            return;
          }
          const counts = JSON.parse(body) as { accepted: number; duplicate: number; rejected: number };
          tally.accepted += counts.accepted;
          tally.duplicate += counts.duplicate;
          tally.rejected += counts.rejected;
          for (const eventId of (context as { eventIds?: string[] }).eventIds ?? [])
            tally.distinctInOkResponses.add(eventId);
        },
      },
    ],
  });
  // What the tables hold afterwards: the profile's count and the raw events.
  const { stack, manifest } = app;
  const dynamo = createLocalDynamoDbClient(stack.endpoints.dynamodb);
  const store = new ProfileStore(dynamo, storeTablesOf(stack.tables), manifest.modelId);
  const profile = await store.getProfile(userId);
  let stored = 0;
  let startKey: Record<string, never> | undefined;
  do {
    const page = await dynamo.send(
      new QueryCommand({
        TableName: stack.tables.Events,
        KeyConditionExpression: 'userId = :user',
        ExpressionAttributeValues: { ':user': { S: userId } },
        Select: 'COUNT',
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    stored += page.Count ?? 0;
    startKey = page.LastEvaluatedKey as Record<string, never> | undefined;
  } while (startKey);
  dynamo.destroy();
  return {
    tally,
    counted: profile?.profile.eventCount ?? 0,
    stored,
    rps: round(result.requests.total / result.duration),
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

/** Seeds the catalogue and the users, then runs the recommendation steps and the hot-user burst. */
export async function runLoad(app: LocalApp, options: LoadOptions): Promise<LoadReport> {
  const log = options.log ?? (() => {});
  const { issuer } = app;
  if (!issuer || !app.url) throw new Error('the load run needs the HTTP server and auth (apiPort >= 0)');
  const tokens = await Promise.all(
    Array.from({ length: options.users }, (_, u) => issuer.token(userIdOf(u), { expiresInSeconds: 7200 })),
  );

  return withoutRequestLog(async () => {
    const seedStarted = performance.now();
    const itemIds = await seedCatalogue(app, options);
    await seedProfiles(app, options, tokens);
    const seedMs = Math.round(performance.now() - seedStarted);
    log(`seeded ${itemIds.length} items and ${options.users} profiles in ${seedMs} ms`);

    // The first request loads the catalogue index (every changed row since no snapshot): timed apart.
    const firstStarted = performance.now();
    const first = await fetch(`${app.url}/users/${userIdOf(0)}/recommendations?limit=10`, {
      headers: { authorization: `Bearer ${tokens[0]}` },
    });
    const firstRequestMs = Math.round(performance.now() - firstStarted);
    const firstBody = (await first.json()) as { strategy?: string; items?: unknown[] };
    if (first.status !== 200 || firstBody.strategy !== 'personal' || firstBody.items?.length !== 10)
      throw new Error(`first recommendation: ${first.status} ${JSON.stringify(firstBody).slice(0, 300)}`);
    log(`first recommendation (index load) took ${firstRequestMs} ms`);

    if (options.warmupSeconds) {
      const warmup = await recommendationRun(
        app,
        tokens,
        options,
        options.rates[0] ?? 10,
        options.warmupSeconds,
      );
      log(`warm-up (discarded): ${JSON.stringify(warmup)}`);
    }
    const steps: RateStep[] = [];
    for (const rate of options.rates) {
      const step = await recommendationRun(app, tokens, options, rate, options.stepSeconds);
      steps.push(step);
      log(`recommendations at ${rate}/s: ${JSON.stringify(step)}`);
      // Higher rates only queue up more behind a step that could not keep up.
      if (!keptUp(step)) break;
    }
    const sustained = await recommendationRun(
      app,
      tokens,
      options,
      options.sustainRate,
      options.sustainSeconds,
    );
    log(`sustained ${options.sustainRate}/s for ${options.sustainSeconds} s: ${JSON.stringify(sustained)}`);
    const passing = [...steps, sustained].filter(keptUp);
    const at100 = [...steps, sustained].find((step) => step.rate === 100);

    const hotToken = await issuer.token('load-hot-user', { expiresInSeconds: 7200 });
    const hot = await hotUserRun(app, hotToken, options, itemIds);
    log(
      `hot user: ${hot.tally.requests} requests, ${hot.tally.accepted} accepted, ${hot.tally.duplicate} duplicates, ` +
        `profile counts ${hot.counted}, ${hot.stored} stored`,
    );
    return {
      catalogue_items: itemIds.length,
      users: options.users,
      seed_ms: seedMs,
      first_request_ms: firstRequestMs,
      steps,
      max_rps_p99_under_200ms: Math.max(0, ...passing.map((step) => step.rate)),
      sustained,
      sustained_kept_up: keptUp(sustained),
      ...(at100 ? { p99_ms_at_100rps: at100.p99_ms } : {}),
      errors: [...steps, sustained].reduce((sum, step) => sum + step.errors, 0) + hot.errors,
      events_requests: hot.tally.requests,
      events_sent: hot.tally.sent,
      events_distinct: hot.tally.distinctInOkResponses.size,
      events_accepted: hot.tally.accepted,
      events_duplicate: hot.tally.duplicate,
      events_rejected: hot.tally.rejected,
      events_counted: hot.counted,
      events_stored: hot.stored,
      events_rps: hot.rps,
      events_p99_ms: hot.p99,
      events_errors: hot.errors + hot.tally.failedRequests,
    };
  });
}

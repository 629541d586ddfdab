/**
 * The whole system on local stand-ins: storage from the harness, the real handlers wired exactly as
 * the stack wires them (S3 -> queue -> embed; HTTP API routes -> track / recommend; a compactor;
 * the Events stream -> co-engagement; the Impressions stream -> impression counts; the re-embedding's batch function, called with a batch), with the environment the stack gives each function. Used by `npm start` and integration tests.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import type { ListedBatchEvent } from '../../functions/adapters/s3/listed-batch';
import type { TrainingRecord, TrainingTrigger } from '../../functions/app/train-similarity';
import { ENV, RESOURCE_ENV } from '../../functions/contract/environment';
import {
  CO_ENGAGEMENT_STREAM,
  EVENTS_TABLE,
  IMPRESSION_COUNTS_STREAM,
  IMPRESSIONS_TABLE,
  ITEMS_TABLE,
  PROFILES_TABLE,
  RULES_TABLE,
  STATS_TABLE,
} from '../../functions/contract/storage';
import { UserIdSchema } from '../../functions/domain/event-schema';
import { defaultManifestPath } from '../../functions/embedding/embedder';
import { loadManifest, type ModelManifest } from '../../functions/embedding/model-manifest';
import type { ReembedBatchResult } from '../../functions/handlers/reembed';
import type { Authorize } from './api-gateway';
import { type ApiHandler, type ApiHandlers, startApiServer } from './api-server';
import { createLocalIssuer, type LocalIssuer } from './auth';
import { LocalStreamConsumer } from './dynamodb-stream';
import { type LocalStack, type LocalStackOptions, routeObjectEvents, startLocalStack } from './harness';
import { runAsFunction, signAsCurrentFunction } from './iam/function-identity';
import { IamTwin } from './iam/iam-twin';
import { type StackRoles, synthStackRoles } from './iam/stack-roles';
import { type FunctionArtefact, type LambdaProcess, startLambdaProcess } from './lambda/artefacts';
import { lambdaContext } from './lambda/context';
import { XRayCollector } from './lambda/xray-daemon';
import { LocalQueue, type SqsBatchHandler } from './queue';
import { localTrainRoute } from './train-route';

export interface LocalAppOptions extends LocalStackOptions {
  /** @default 0 (a free port); -1 starts no HTTP server */
  readonly apiPort?: number;
  readonly staticDir?: string;
  readonly authorize?: Authorize;
  /** Extra routes served beside the API (e.g. /openapi.json). */
  readonly extraRoutes?: Parameters<typeof startApiServer>[0]['extraRoutes'];
  /** @default 3 */
  readonly maxReceiveCount?: number;
  /** @default 2000 */
  readonly visibilityTimeoutMs?: number;
  /** Embed batches handled at once. @default 1 */
  readonly embedConcurrency?: number;
  /** Extra function environment (e.g. ranking settings). */
  readonly environment?: Record<string, string>;
  /** Keep function logs quiet. @default true */
  readonly quiet?: boolean;
  /**
   * The function roles whose policies the twin enforces. @default the roles of the stack `cdk deploy`
   * creates with default props (synthesized, cached in .cache/iam)
   */
  readonly stackRoles?: StackRoles;
  /**
   * Run the functions as `cdk deploy` ships them: these bundled assets, each in a Node process of its
   * own laid out as Lambda does (see lambda/artefacts.ts). @default the sources, in this process
   */
  readonly artefacts?: readonly FunctionArtefact[];
  /**
   * Run the deployed stack's authorizers (a local JWT issuer, SigV4 for IAM routes). Only for
   * experiments: everything a user sees runs with auth. @default true
   */
  readonly auth?: boolean;
  /**
   * The model the functions embed with (what the model layer would hold). @default the model layer's
   * manifest (`defaultManifestPath()`)
   */
  readonly manifestPath?: string;
}

export interface LocalApp {
  readonly stack: LocalStack;
  readonly queue: LocalQueue;
  /** The Events stream's mapping to the co-engagement consumer; `drain()` it before reading counters. */
  readonly eventsStream: LocalStreamConsumer;
  /** The Impressions stream's mapping to the impression counts consumer; `drain()` it before reading counts. */
  readonly impressionsStream: LocalStreamConsumer;
  readonly handlers: ApiHandlers;
  readonly manifest: ModelManifest;
  /** The local token issuer, when auth is on. */
  readonly issuer?: LocalIssuer;
  /** The authorizers the HTTP server applies; use with `invoke` for socket-less calls. */
  readonly authorize?: Authorize;
  /** Set when the HTTP server runs. */
  readonly url?: string;
  /** The stack's IAM as the twin enforces it, with every call it evaluated. */
  readonly iam: IamTwin;
  /** With `artefacts`: the function processes, with their cold init times. */
  readonly processes?: readonly LambdaProcess[];
  /** With `artefacts`: the X-Ray segments the functions sent. */
  readonly traces?: XRayCollector;
  /** Writes an index snapshot now, as the compactor does after a burst of item changes. */
  compact(): Promise<void>;
  /**
   * Runs one batch of the distributed re-embedding, as the state machine's Distributed Map invokes
   * the reembed function (no local engine runs a Distributed Map: the caller lists and batches).
   */
  reembed(batch: ListedBatchEvent): Promise<ReembedBatchResult>;
  /**
   * Runs the learned-similarity trainer once, as the stack's schedule (`schedule`) or an operator
   * (`manual`: `npm run train`) invokes it; resolves to the run's record.
   */
  train(trigger: TrainingTrigger): Promise<TrainingRecord>;
  /**
   * Runs `work` with the bucket's notifications off: objects put meanwhile reach no queue, like a
   * bucket filled before the stack existed (what a backfill or a re-embedding then finds).
   */
  withoutNotifications<T>(work: () => Promise<T>): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Local-only routes of the issuer: its JWKS, and tokens for the demo page (GET /local/token?userId=).
 * They exist only on the local server; the deployed API has an identity provider instead.
 */
function issuerRoutes(issuer: LocalIssuer) {
  const json = (statusCode: number, body: unknown) => ({
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  });
  return [
    { method: 'GET' as const, path: '/.well-known/jwks.json', handler: async () => json(200, issuer.jwks) },
    {
      method: 'GET' as const,
      path: '/local/token',
      handler: async (event: { queryStringParameters?: Record<string, string | undefined> }) => {
        const userId = event.queryStringParameters?.userId ?? '';
        // The rule events and paths hold user ids to: a token for an id no event may carry is no use.
        if (!UserIdSchema.safeParse(userId).success)
          return json(400, {
            code: 'invalid_user',
            message: 'userId is 1..256 characters of well-formed Unicode without control characters',
          });
        const admin = event.queryStringParameters?.admin === 'true';
        return json(200, { userId, admin, token: await issuer.token(userId, { admin }), expiresIn: 3600 });
      },
    },
  ];
}

export async function startLocalApp(options: LocalAppOptions = {}): Promise<LocalApp> {
  const manifestPath = options.manifestPath ?? defaultManifestPath();
  const { manifest } = loadManifest(manifestPath);
  const stack = await startLocalStack(options);
  const issuer =
    options.auth === false
      ? undefined
      : await createLocalIssuer({
          ...(options.dataDir ? { keyFile: join(options.dataDir, 'issuer-key.json') } : {}),
          userClaim: options.environment?.[ENV.USER_CLAIM],
        });
  const environment: Record<string, string> = {
    ...stack.env,
    [ENV.ITEMS_TABLE]: stack.tables[ITEMS_TABLE.id] as string,
    [ENV.EVENTS_TABLE]: stack.tables[EVENTS_TABLE.id] as string,
    [ENV.PROFILES_TABLE]: stack.tables[PROFILES_TABLE.id] as string,
    [ENV.STATS_TABLE]: stack.tables[STATS_TABLE.id] as string,
    [ENV.IMPRESSIONS_TABLE]: stack.tables[IMPRESSIONS_TABLE.id] as string,
    [ENV.RULES_TABLE]: stack.tables[RULES_TABLE.id] as string,
    [ENV.CATALOGUE_BUCKET]: stack.bucket,
    [ENV.ACTIVE_MODEL_ID]: manifest.modelId,
    [ENV.MODEL_DIMENSION]: String(manifest.output.dim),
    [ENV.LOOKALIKE_MODEL_MANIFEST]: manifestPath,
    ...(options.quiet === false
      ? {}
      : { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' }),
    ...options.environment,
  };
  // Each function's calls are authorized against the role the stack gives it.
  const iam = IamTwin.fromStack(options.stackRoles ?? (await synthStackRoles()), { environment });
  stack.enforce(iam);
  let host: FunctionHost;
  try {
    host = options.artefacts
      ? await hostArtefacts(options.artefacts, stack, environment, options)
      : await hostSources(environment);
  } catch (error) {
    await stack.stop();
    throw error;
  }
  const queue = new LocalQueue({
    handler: (event) => host.embed(event, lambdaContext('embed', { timeoutMs: 120_000 })),
    name: 'lookalike-uploads',
    batchSize: 5,
    maxReceiveCount: options.maxReceiveCount ?? 3,
    visibilityTimeoutMs: options.visibilityTimeoutMs ?? 2000,
    concurrency: options.embedConcurrency ?? 1,
  });
  let unroute = routeObjectEvents(stack.s3, queue, { bucket: stack.bucket });
  const eventsStream = new LocalStreamConsumer({
    endpoint: stack.endpoints.dynamodb,
    tableName: stack.tables[EVENTS_TABLE.id] as string,
    handler: (event) => host.coEngagement(event, lambdaContext('co-engagement', { timeoutMs: 120_000 })),
    ...CO_ENGAGEMENT_STREAM,
    ...(options.dataDir ? { checkpointFile: join(options.dataDir, 'events-stream.json') } : {}),
  });
  const impressionsStream = new LocalStreamConsumer({
    endpoint: stack.endpoints.dynamodb,
    tableName: stack.tables[IMPRESSIONS_TABLE.id] as string,
    handler: (event) =>
      host.impressionCounts(event, lambdaContext('impression-counts', { timeoutMs: 60_000 })),
    ...IMPRESSION_COUNTS_STREAM,
    ...(options.dataDir ? { checkpointFile: join(options.dataDir, 'impressions-stream.json') } : {}),
  });
  await eventsStream.start();
  await impressionsStream.start();
  const handlers: ApiHandlers = { track: host.track, recommend: host.recommend };
  const train = (trigger: TrainingTrigger) =>
    host.trainSimilarity(
      trigger === 'schedule'
        ? { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} }
        : { trigger: 'manual' },
      lambdaContext('train-similarity', { timeoutMs: 900_000 }),
    );
  const server =
    options.apiPort === -1
      ? undefined
      : await startApiServer({
          handlers,
          port: options.apiPort ?? 0,
          staticDir: options.staticDir,
          authorize: options.authorize ?? issuer?.authorize,
          extraRoutes: [
            ...(issuer
              ? [...issuerRoutes(issuer), localTrainRoute(issuer.authorize, () => train('manual'))]
              : []),
            ...(options.extraRoutes ?? []),
          ],
        });
  return {
    stack,
    queue,
    eventsStream,
    impressionsStream,
    handlers,
    manifest,
    iam,
    ...(server ? { url: server.url } : {}),
    ...(issuer ? { issuer } : {}),
    ...((options.authorize ?? issuer?.authorize)
      ? { authorize: options.authorize ?? issuer?.authorize }
      : {}),
    compact: () => host.compact({ Records: [] } as DynamoDBStreamEvent),
    reembed: (batch) => host.reembed(batch, lambdaContext('reembed', { timeoutMs: 900_000 })),
    train,
    async withoutNotifications(work) {
      unroute();
      try {
        return await work();
      } finally {
        unroute = routeObjectEvents(stack.s3, queue, { bucket: stack.bucket });
      }
    },
    ...(host.processes ? { processes: host.processes } : {}),
    ...(host.traces ? { traces: host.traces } : {}),
    async stop() {
      unroute();
      await server?.close();
      await queue.drain({ timeoutMs: 30_000 }).catch(() => undefined);
      queue.stop();
      await eventsStream.stop();
      await impressionsStream.stop();
      await host.stop();
      await stack.stop();
    },
  };
}

/** How the twin runs the functions: their handlers, as the queue, the API, the streams and the compactor call them. */
interface FunctionHost {
  readonly embed: SqsBatchHandler;
  readonly track: ApiHandler;
  readonly recommend: ApiHandler;
  readonly compact: (event: DynamoDBStreamEvent) => Promise<void>;
  readonly coEngagement: (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;
  readonly impressionCounts: (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;
  readonly reembed: (batch: ListedBatchEvent, context: Context) => Promise<ReembedBatchResult>;
  readonly trainSimilarity: (event: unknown, context: Context) => Promise<TrainingRecord>;
  readonly processes?: readonly LambdaProcess[];
  readonly traces?: XRayCollector;
  stop(): Promise<void>;
}

/**
 * The sources in this process. They read their configuration at module load, like a cold start, and
 * share the SDK clients, which sign each call with the key of the function it runs for.
 */
async function hostSources(environment: Record<string, string>): Promise<FunctionHost> {
  Object.assign(process.env, environment);
  const [
    embed,
    track,
    recommend,
    compact,
    coEngagement,
    impressionCounts,
    reembed,
    trainSimilarity,
    clients,
  ] = await Promise.all([
    runAsFunction('embed', () => import('../../functions/handlers/embed')),
    runAsFunction('track', () => import('../../functions/handlers/track')),
    runAsFunction('recommend', () => import('../../functions/handlers/recommend')),
    runAsFunction('compact', () => import('../../functions/handlers/compact')),
    runAsFunction('co-engagement', () => import('../../functions/handlers/co-engagement')),
    runAsFunction('impression-counts', () => import('../../functions/handlers/impression-counts')),
    runAsFunction('reembed', () => import('../../functions/handlers/reembed')),
    runAsFunction('train-similarity', () => import('../../functions/handlers/train-similarity')),
    import('../../functions/platform/clients'),
  ]);
  signAsCurrentFunction(clients.s3Client());
  signAsCurrentFunction(clients.dynamoClient());
  return {
    embed: (event, context) => runAsFunction('embed', () => embed.handler(event, context)),
    track: (event, context) => runAsFunction('track', () => (track.handler as ApiHandler)(event, context)),
    recommend: (event, context) =>
      runAsFunction('recommend', () => (recommend.handler as ApiHandler)(event, context)),
    compact: (event) => runAsFunction('compact', () => compact.handler(event)),
    coEngagement: (event, context) =>
      runAsFunction('co-engagement', () => coEngagement.handler(event, context)),
    impressionCounts: (event, context) =>
      runAsFunction('impression-counts', () => impressionCounts.handler(event, context)),
    reembed: (batch, context) => runAsFunction('reembed', () => reembed.handler(batch, context)),
    trainSimilarity: (event) => runAsFunction('train-similarity', () => trainSimilarity.handler(event)),
    stop: async () => undefined,
  };
}

/** The bundled assets, one Node process per function, each with the environment its template gives it. */
async function hostArtefacts(
  artefacts: readonly FunctionArtefact[],
  stack: LocalStack,
  environment: Record<string, string>,
  options: LocalAppOptions,
): Promise<FunctionHost> {
  const names = Object.fromEntries(RESOURCE_ENV.map((name) => [name, environment[name] as string]));
  const { AWS_ACCESS_KEY_ID: _, AWS_SECRET_ACCESS_KEY: __, ...awsEnv } = stack.env;
  const quiet: Record<string, string> =
    options.quiet === false ? {} : { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' };
  // One folder for every task root and one copy of each layer, removed when the app stops.
  const workDir = mkdtempSync(join(tmpdir(), 'lookalike-lambda-'));
  const xray = await XRayCollector.start();
  const started = await Promise.allSettled(
    artefacts.map((artefact) =>
      startLambdaProcess(artefact, {
        names,
        awsEnv,
        workDir,
        environment: { ...quiet, ...options.environment },
        xrayDaemonAddress: xray.address,
      }),
    ),
  );
  const processes = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const stopAll = async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await xray.stop();
    rmSync(workDir, { recursive: true, force: true });
  };
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) {
    await stopAll();
    throw failed.reason;
  }
  const byName = (name: string) => {
    const found = processes.find((p) => p.functionName === name);
    if (!found) throw new Error(`the stack has no ${name} function`);
    return found;
  };
  const [embed, track, recommend, compact, coEngagement, impressionCounts, reembed, trainSimilarity] = [
    'embed',
    'track',
    'recommend',
    'compact',
    'co-engagement',
    'impression-counts',
    'reembed',
    'train-similarity',
  ].map(byName) as LambdaProcess[];
  return {
    embed: (event, context) => (embed as LambdaProcess).invoke(event, context),
    track: (event, context) => (track as LambdaProcess).invoke(event, context),
    recommend: (event, context) => (recommend as LambdaProcess).invoke(event, context),
    compact: (event) => (compact as LambdaProcess).invoke(event),
    coEngagement: (event, context) => (coEngagement as LambdaProcess).invoke(event, context),
    impressionCounts: (event, context) => (impressionCounts as LambdaProcess).invoke(event, context),
    reembed: (batch, context) => (reembed as LambdaProcess).invoke(batch, context),
    trainSimilarity: (event, context) => (trainSimilarity as LambdaProcess).invoke(event, context),
    processes,
    traces: xray,
    stop: stopAll,
  };
}

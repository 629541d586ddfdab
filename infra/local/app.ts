/**
 * The whole system on local stand-ins: storage from the harness, the real handlers wired exactly as
 * the stack wires them (S3 -> queue -> embed; HTTP API routes -> track / recommend; a compactor;
 * the Events stream -> co-engagement), with the environment the stack gives each function. Used by `npm start` and integration tests.
 */

import { join } from 'node:path';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { defaultManifestPath } from '../../functions/shared/embedder';
import { loadManifest, type ModelManifest } from '../../functions/shared/model-manifest';
import { CO_ENGAGEMENT_STREAM } from '../resources';
import type { Authorize } from './api-gateway';
import { type ApiHandler, type ApiHandlers, startApiServer } from './api-server';
import { createLocalIssuer, type LocalIssuer } from './auth';
import { LocalStreamConsumer } from './dynamodb-stream';
import { type LocalStack, type LocalStackOptions, routeObjectEvents, startLocalStack } from './harness';
import { LocalQueue } from './queue';

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
   * Run the deployed stack's authorizers (a local JWT issuer, SigV4 for IAM routes). Only for
   * experiments: everything a user sees runs with auth. @default true
   */
  readonly auth?: boolean;
}

export interface LocalApp {
  readonly stack: LocalStack;
  readonly queue: LocalQueue;
  /** The Events stream's mapping to the co-engagement consumer; `drain()` it before reading counters. */
  readonly eventsStream: LocalStreamConsumer;
  readonly handlers: ApiHandlers;
  readonly manifest: ModelManifest;
  /** The local token issuer, when auth is on. */
  readonly issuer?: LocalIssuer;
  /** The authorizers the HTTP server applies; use with `invoke` for socket-less calls. */
  readonly authorize?: Authorize;
  /** Set when the HTTP server runs. */
  readonly url?: string;
  /** Writes an index snapshot now, as the compactor does after a burst of item changes. */
  compact(): Promise<void>;
  stop(): Promise<void>;
}

const lambdaContext = (functionName: string): Context =>
  ({
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '2048',
    awsRequestId: crypto.randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => 120_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  }) as Context;

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
        if (userId.length < 1 || userId.length > 256 || [...userId].some((c) => c.charCodeAt(0) < 32))
          return json(400, { code: 'invalid_user', message: 'userId is 1..256 characters' });
        const admin = event.queryStringParameters?.admin === 'true';
        return json(200, { userId, admin, token: await issuer.token(userId, { admin }), expiresIn: 3600 });
      },
    },
  ];
}

export async function startLocalApp(options: LocalAppOptions = {}): Promise<LocalApp> {
  const manifestPath = defaultManifestPath();
  const { manifest } = loadManifest(manifestPath);
  const stack = await startLocalStack(options);
  const issuer =
    options.auth === false
      ? undefined
      : await createLocalIssuer({
          ...(options.dataDir ? { keyFile: join(options.dataDir, 'issuer-key.json') } : {}),
          userClaim: options.environment?.USER_CLAIM,
        });
  const environment: Record<string, string> = {
    ...stack.env,
    ITEMS_TABLE: stack.tables.Items as string,
    EVENTS_TABLE: stack.tables.Events as string,
    PROFILES_TABLE: stack.tables.Profiles as string,
    STATS_TABLE: stack.tables.Stats as string,
    CATALOGUE_BUCKET: stack.bucket,
    ACTIVE_MODEL_ID: manifest.modelId,
    MODEL_DIMENSION: String(manifest.output.dim),
    LOOKALIKE_MODEL_MANIFEST: manifestPath,
    ...(options.quiet === false
      ? {}
      : { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' }),
    ...options.environment,
  };
  // One process hosts every function: they read their configuration at module load, like a cold start.
  Object.assign(process.env, environment);
  const [embed, track, recommend, compact, coEngagement] = await Promise.all([
    import('../../functions/embed/handler'),
    import('../../functions/track/handler'),
    import('../../functions/recommend/handler'),
    import('../../functions/compact/handler'),
    import('../../functions/co-engagement/handler'),
  ]);
  const queue = new LocalQueue({
    handler: (event) => embed.handler(event, lambdaContext('embed')),
    name: 'lookalike-uploads',
    batchSize: 5,
    maxReceiveCount: options.maxReceiveCount ?? 3,
    visibilityTimeoutMs: options.visibilityTimeoutMs ?? 2000,
    concurrency: options.embedConcurrency ?? 1,
  });
  const unroute = routeObjectEvents(stack.s3, queue, { bucket: stack.bucket });
  const eventsStream = new LocalStreamConsumer({
    endpoint: stack.endpoints.dynamodb,
    tableName: stack.tables.Events as string,
    handler: (event) => coEngagement.handler(event, lambdaContext('co-engagement')),
    ...CO_ENGAGEMENT_STREAM,
    ...(options.dataDir ? { checkpointFile: join(options.dataDir, 'events-stream.json') } : {}),
  });
  await eventsStream.start();
  const handlers: ApiHandlers = {
    track: track.handler as ApiHandler,
    recommend: recommend.handler as ApiHandler,
  };
  const server =
    options.apiPort === -1
      ? undefined
      : await startApiServer({
          handlers,
          port: options.apiPort ?? 0,
          staticDir: options.staticDir,
          authorize: options.authorize ?? issuer?.authorize,
          extraRoutes: [...(issuer ? issuerRoutes(issuer) : []), ...(options.extraRoutes ?? [])],
        });
  return {
    stack,
    queue,
    eventsStream,
    handlers,
    manifest,
    ...(server ? { url: server.url } : {}),
    ...(issuer ? { issuer } : {}),
    ...((options.authorize ?? issuer?.authorize)
      ? { authorize: options.authorize ?? issuer?.authorize }
      : {}),
    compact: () => compact.handler({ Records: [] } as DynamoDBStreamEvent),
    async stop() {
      unroute();
      await server?.close();
      await queue.drain({ timeoutMs: 30_000 }).catch(() => undefined);
      queue.stop();
      await eventsStream.stop();
      await stack.stop();
    },
  };
}

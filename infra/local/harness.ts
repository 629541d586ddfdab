/**
 * The local twin of the stack's storage: DynamoDB Local with the stack's tables, s3rver with the
 * catalogue bucket, and the S3 -> SQS notification wiring. Used by integration tests and `npm start`.
 */
import path from 'node:path';
import { CATALOGUE_PREFIX, TABLES, type TableDefinition } from '../../functions/contract/storage';
import { createLocalDynamoDbClient, type LocalEndpoints, localAwsEnv } from './aws-env';
import { type DynamoDbLocal, startDynamoDbLocal } from './dynamodb-local';
import { type DynamoDbProxy, startDynamoDbProxy } from './iam/dynamodb-proxy';
import type { IamTwin } from './iam/iam-twin';
import { type S3Local, startS3Local } from './s3-local';
import type { S3NotificationEventName, S3NotificationRecord } from './s3-notification';
import { createTables, deleteTables } from './tables';

export { type LocalEndpoints, localAwsEnv } from './aws-env';

export interface LocalStackOptions {
  /** @default 0 (a free port) */
  readonly dynamoPort?: number;
  /** @default 0 (a free port) */
  readonly s3Port?: number;
  /** Keep data on disk here (`dynamodb/` and `s3/` inside). @default in memory and a temporary folder */
  readonly dataDir?: string;
  /** @default 'lookalike-local' */
  readonly bucketName?: string;
  /** Tables are named `${tablePrefix}${definition.id}`. @default 'lookalike-' */
  readonly tablePrefix?: string;
  /** @default TABLES from functions/contract/storage.ts */
  readonly tables?: readonly TableDefinition[];
  /** Use a DynamoDB that is already running (e.g. the one Jest's global setup started). */
  readonly dynamoEndpoint?: string;
  /** @default true with `dynamoEndpoint` (shared database), false otherwise */
  readonly deleteTablesOnStop?: boolean;
}

export interface LocalStack {
  /** Where clients connect: DynamoDB through the twin's IAM proxy, s3rver directly (it enforces in-process). */
  readonly endpoints: LocalEndpoints;
  readonly bucket: string;
  /** Table names by definition id, e.g. `{ Items: 'lookalike-Items' }`. */
  readonly tables: Readonly<Record<string, string>>;
  /** See {@link localAwsEnv}. */
  readonly env: Readonly<Record<string, string>>;
  readonly s3: S3Local;
  /** Undefined when `dynamoEndpoint` was given. */
  readonly dynamodb: DynamoDbLocal | undefined;
  /**
   * From now on, calls signed with a function's access key are authorized against its role, as AWS
   * does (undefined: no enforcement). Calls with the operator's key are never restricted.
   */
  enforce(iam: IamTwin | undefined): void;
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const bucket = options.bucketName ?? 'lookalike-local';
  const [dynamo, s3] = await settleAll([
    options.dynamoEndpoint
      ? Promise.resolve(undefined)
      : startDynamoDbLocal({
          port: options.dynamoPort,
          dbPath: options.dataDir ? path.join(options.dataDir, 'dynamodb') : undefined,
        }),
    startS3Local({
      port: options.s3Port,
      directory: options.dataDir ? path.join(options.dataDir, 's3') : undefined,
      buckets: [bucket],
    }),
  ]);
  const dynamoEndpoint = options.dynamoEndpoint ?? (dynamo as DynamoDbLocal).endpoint;
  let proxy: DynamoDbProxy;
  try {
    proxy = await startDynamoDbProxy(dynamoEndpoint);
  } catch (error) {
    await Promise.all([s3.stop(), dynamo?.stop()]);
    throw error;
  }
  const endpoints: LocalEndpoints = { s3: s3.endpoint, dynamodb: proxy.endpoint };
  const client = createLocalDynamoDbClient(dynamoEndpoint);
  const stopServers = () => Promise.all([proxy.stop(), s3.stop(), dynamo?.stop()]).then(() => undefined);
  let tables: Record<string, string>;
  try {
    tables = await createTables(client, options.tables ?? TABLES, options.tablePrefix ?? 'lookalike-');
  } catch (error) {
    client.destroy();
    await stopServers();
    throw error;
  }

  const deleteOnStop = options.deleteTablesOnStop ?? options.dynamoEndpoint !== undefined;
  let stopped: Promise<void> | undefined;
  return {
    endpoints,
    bucket,
    tables,
    env: localAwsEnv(endpoints),
    s3,
    dynamodb: dynamo,
    enforce(iam) {
      proxy.setAuthorizer(iam);
      s3.setAuthorizer(
        iam,
        iam?.roles.map((role) => role.accessKeyId),
      );
    },
    stop() {
      stopped ??= (async () => {
        try {
          if (deleteOnStop) await deleteTables(client, Object.values(tables));
        } finally {
          client.destroy();
          await stopServers();
        }
      })();
      return stopped;
    },
  };
}

/** Starts everything; if one start fails, stops the ones that succeeded before rethrowing. */
async function settleAll<
  A extends { stop(): Promise<void> } | undefined,
  B extends { stop(): Promise<void> },
>(starts: [Promise<A>, Promise<B>]): Promise<[A, B]> {
  const [a, b] = await Promise.allSettled(starts);
  if (a.status === 'fulfilled' && b.status === 'fulfilled') return [a.value, b.value];
  await Promise.all(
    [a, b].map((result) => (result.status === 'fulfilled' ? result.value?.stop() : undefined)),
  );
  throw a.status === 'rejected' ? a.reason : (b as PromiseRejectedResult).reason;
}

export interface ObjectEventRoute {
  /** Only this bucket's records. @default every bucket */
  readonly bucket?: string;
  /**
   * Notification filter prefix, compared like S3 does with the URL-encoded key (a space in a
   * filter is written '+'). @default CATALOGUE_PREFIX ('catalogue/')
   */
  readonly prefix?: string;
  /** Notification filter suffix, compared the same way. @default none */
  readonly suffix?: string;
  /** Event types, as in a notification configuration. @default ['ObjectCreated:*', 'ObjectRemoved:*'] */
  readonly events?: ReadonlyArray<S3NotificationEventName | 'ObjectCreated:*' | 'ObjectRemoved:*'>;
}

/**
 * S3 -> SQS notification delivery: every matching record becomes one message whose body is
 * `{"Records":[record]}`, as S3 writes it. Returns a function that removes the route.
 */
export function routeObjectEvents(
  s3: Pick<S3Local, 'onObjectEvent'>,
  queue: { send(body: string): unknown },
  route: ObjectEventRoute = {},
): () => void {
  const prefix = route.prefix ?? CATALOGUE_PREFIX;
  const events = route.events ?? ['ObjectCreated:*', 'ObjectRemoved:*'];
  const matches = (record: S3NotificationRecord) => {
    const { key } = record.s3.object;
    const family = `${record.eventName.split(':')[0]}:*`;
    return (
      (route.bucket === undefined || record.s3.bucket.name === route.bucket) &&
      key.startsWith(prefix) &&
      (route.suffix === undefined || key.endsWith(route.suffix)) &&
      events.some((event) => event === record.eventName || event === family)
    );
  };
  return s3.onObjectEvent((record) => {
    if (matches(record)) queue.send(JSON.stringify({ Records: [record] }));
  });
}

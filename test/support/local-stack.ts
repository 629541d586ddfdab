/**
 * Per-test-file local stack for integration tests: its own s3rver (in this worker, so its object
 * events are observable here) and its own tables on the run's shared DynamoDB Local, under a unique
 * prefix so test files never see each other's data.
 */
import { randomBytes } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { createLocalDynamoDbClient, createLocalS3Client } from '../../infra/local/aws-env';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../infra/local/harness';
import type { S3NotificationRecord } from '../../infra/local/s3-local';
import { DYNAMODB_ENDPOINT_ENV } from './shared-dynamodb';

export interface TestLocalStack
  extends Pick<LocalStack, 'endpoints' | 'bucket' | 'tables' | 'env' | 's3' | 'dynamodb'> {
  /** Configured explicitly (path style, local credentials); independent of process.env. */
  readonly s3Client: S3Client;
  readonly dynamoDbClient: DynamoDBClient;
  readonly tablePrefix: string;
  /** The notification records the local S3 published while `action` ran (published before it returns). */
  eventsDuring(action: () => Promise<unknown>): Promise<S3NotificationRecord[]>;
}

export interface UseLocalStackOptions extends Pick<LocalStackOptions, 'bucketName' | 'tables'> {
  /** Extra variables the code under test reads, e.g. `({ tables }) => ({ ITEMS_TABLE: tables.Items })`. */
  readonly env?: (stack: Pick<LocalStack, 'bucket' | 'tables' | 'endpoints'>) => Record<string, string>;
}

/**
 * Call inside a describe block (or at the top of a file). beforeAll starts the stack and sets the
 * AWS_* variables of {@link LocalStack.env} (plus `options.env`), so clients created afterwards with `new XClient({})`
 * reach it; afterAll deletes the tables, stops s3rver and restores the environment. Import modules
 * that create SDK clients at load time only after beforeAll has run (e.g. `await import()` in a test).
 */
export function useLocalStack(options: UseLocalStackOptions = {}): TestLocalStack {
  let started: { stack: LocalStack; s3Client: S3Client; dynamoDbClient: DynamoDBClient } | undefined;
  const savedEnv = new Map<string, string | undefined>();
  const tablePrefix = `test-${randomBytes(4).toString('hex')}-`;

  beforeAll(async () => {
    // Without global setup (e.g. another Jest config) the stack starts a DynamoDB Local of its own.
    const stack = await startLocalStack({
      tables: options.tables,
      bucketName: options.bucketName ?? 'lookalike-test',
      tablePrefix,
      dynamoEndpoint: process.env[DYNAMODB_ENDPOINT_ENV] || undefined,
      deleteTablesOnStop: true,
    });
    for (const [name, value] of Object.entries({ ...stack.env, ...options.env?.(stack) })) {
      savedEnv.set(name, process.env[name]);
      process.env[name] = value;
    }
    started = {
      stack,
      s3Client: createLocalS3Client(stack.endpoints.s3),
      dynamoDbClient: createLocalDynamoDbClient(stack.endpoints.dynamodb),
    };
  }, 60_000);

  afterAll(async () => {
    for (const [name, value] of savedEnv) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    savedEnv.clear();
    if (!started) return;
    started.s3Client.destroy();
    started.dynamoDbClient.destroy();
    await started.stack.stop();
    started = undefined;
  }, 60_000);

  const current = () => {
    if (!started)
      throw new Error('useLocalStack(): the stack exists only between its beforeAll and afterAll');
    return started;
  };
  return {
    tablePrefix,
    get endpoints() {
      return current().stack.endpoints;
    },
    get bucket() {
      return current().stack.bucket;
    },
    get tables() {
      return current().stack.tables;
    },
    get env() {
      return current().stack.env;
    },
    get s3() {
      return current().stack.s3;
    },
    get dynamodb() {
      return current().stack.dynamodb;
    },
    get s3Client() {
      return current().s3Client;
    },
    get dynamoDbClient() {
      return current().dynamoDbClient;
    },
    async eventsDuring(action) {
      const records: S3NotificationRecord[] = [];
      const unsubscribe = current().stack.s3.onObjectEvent((record) => records.push(record));
      try {
        await action();
      } finally {
        unsubscribe();
      }
      return records;
    },
  };
}

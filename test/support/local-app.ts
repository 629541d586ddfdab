import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { bytesToVector } from '../../functions/adapters/dynamodb/item-table';
import { ProfileStore, storeTablesOf } from '../../functions/adapters/dynamodb/profile-store';
import { encodeNotificationKey } from '../../functions/adapters/s3/notifications';
import { invoke, type LocalResponse } from '../../infra/local/api-server';
import { type LocalApp, type LocalAppOptions, startLocalApp } from '../../infra/local/app';
import { signForLocalIam } from '../../infra/local/auth';
import { createLocalDynamoDbClient, createLocalS3Client } from '../../infra/local/aws-env';
import { DYNAMODB_ENDPOINT_ENV } from './shared-dynamodb';

/** Who makes a call: a user (their token), an admin token, a trusted back end (SigV4), or nobody. */
export type Caller =
  | { user: string }
  | { admin: true }
  | { iam: true }
  | { anonymous: true }
  | { token: string };

export interface TestApp {
  readonly app: LocalApp;
  /** Through the API Gateway twin with the deployed authorizers; by default as an admin (or SigV4 on IAM routes). */
  call(
    request: { method: string; path: string; headers?: Record<string, string>; body?: string | Buffer },
    as?: Caller,
  ): Promise<LocalResponse>;
  upload(key: string, body: Buffer, metadata?: Record<string, string>): Promise<void>;
}

/**
 * The whole local system for one test file: its own tables (unique prefix) on the run's shared
 * DynamoDB Local, its own s3rver, the real handlers. Calls go through the API Gateway twin.
 */
export function useLocalApp(options: LocalAppOptions = {}): TestApp {
  let started: LocalApp | undefined;
  const saved = { ...process.env };
  beforeAll(async () => {
    started = await startLocalApp({
      dynamoEndpoint: process.env[DYNAMODB_ENDPOINT_ENV] || undefined,
      tablePrefix: `test-${randomBytes(4).toString('hex')}-`,
      apiPort: -1,
      ...options,
    });
  }, 120_000);
  afterAll(async () => {
    await started?.stop();
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }, 60_000);
  const app = () => {
    if (!started) throw new Error('the local app is not started (use it inside tests)');
    return started;
  };
  return {
    get app() {
      return app();
    },
    async call(request, as) {
      const { issuer, authorize } = app();
      const caller: Caller =
        as ?? (request.path.startsWith('/events/import') ? { iam: true } : { admin: true });
      const headers: Record<string, string> = { ...request.headers };
      if (issuer && 'user' in caller) headers.authorization = `Bearer ${await issuer.token(caller.user)}`;
      if (issuer && 'admin' in caller)
        headers.authorization = `Bearer ${await issuer.token('test-admin', { admin: true })}`;
      if ('token' in caller) headers.authorization = `Bearer ${caller.token}`;
      if ('iam' in caller) {
        const body = request.body === undefined ? undefined : request.body.toString();
        Object.assign(
          headers,
          await signForLocalIam({
            method: request.method,
            url: `http://127.0.0.1${request.path}`,
            headers,
            body,
          }),
        );
      }
      return invoke(app().handlers, { ...request, headers }, authorize ? { authorize } : {});
    },
    async upload(key, body, metadata) {
      const s3 = createLocalS3Client(app().stack.endpoints.s3);
      await s3.send(
        new PutObjectCommand({ Bucket: app().stack.bucket, Key: key, Body: body, Metadata: metadata }),
      );
      s3.destroy();
    },
  };
}

/** The profile store over the app's tables, with the operator's credentials (for reading back what was stored). */
export const profileStoreOf = (app: LocalApp) =>
  new ProfileStore(
    createLocalDynamoDbClient(app.stack.endpoints.dynamodb),
    storeTablesOf(app.stack.tables),
    app.manifest.modelId,
  );

/**
 * The uploads queue's message for a version removed for good from a versioned bucket (S3 names the
 * version on `ObjectRemoved:Delete`); s3rver keeps no versions, so tests send it themselves.
 */
export const versionRemovedMessage = (bucket: string, key: string, versionId: string) =>
  JSON.stringify({
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: new Date().toISOString(),
        eventName: 'ObjectRemoved:Delete',
        s3: {
          bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` },
          object: { key: encodeNotificationKey(key), versionId, sequencer: 'FFFFFFFFFFFFFFFF' },
        },
      },
    ],
  });

export const postJson = (path: string, body: unknown) => ({
  method: 'POST',
  path,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/**
 * Every item's vector in `modelId` (only ready items' with `readyOnly`), read back from the Items
 * table with the operator's credentials.
 */
export async function itemVectors(
  app: LocalApp,
  modelId: string,
  { readyOnly = false } = {},
): Promise<Map<string, Float32Array>> {
  const documents = DynamoDBDocumentClient.from(createLocalDynamoDbClient(app.stack.endpoints.dynamodb));
  const { Items = [] } = await documents.send(new ScanCommand({ TableName: app.stack.tables.Items }));
  documents.destroy();
  const vectors = new Map<string, Float32Array>();
  for (const row of Items) {
    const bytes = (row.vectors as Record<string, Uint8Array> | undefined)?.[modelId];
    if (bytes && (!readyOnly || row.status === 'ready'))
      vectors.set(row.itemId as string, bytesToVector(bytes));
  }
  return vectors;
}

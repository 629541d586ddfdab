import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { invoke, type LocalResponse } from '../../infra/local/api-server';
import { createLocalS3Client } from '../../infra/local/aws-env';
import { type LocalApp, type LocalAppOptions, startLocalApp } from '../../infra/local/app';
import { DYNAMODB_ENDPOINT_ENV } from './shared-dynamodb';

export interface TestApp {
  readonly app: LocalApp;
  call(request: { method: string; path: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<LocalResponse>;
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
    call: (request) => invoke(app().handlers, request),
    async upload(key, body, metadata) {
      const s3 = createLocalS3Client(app().stack.endpoints.s3);
      await s3.send(new PutObjectCommand({ Bucket: app().stack.bucket, Key: key, Body: body, Metadata: metadata }));
      s3.destroy();
    },
  };
}

export const postJson = (path: string, body: unknown) => ({
  method: 'POST',
  path,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

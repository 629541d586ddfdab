/**
 * s3rver in-process, with its object events rewritten into the records AWS really sends.
 *
 * s3rver's own 'event' records differ from AWS: keys are not URL-encoded, eventVersion is 2.0, a
 * completed multipart upload says ObjectCreated:Post, the sequencer is Date.now() (ties within a
 * millisecond), there are no version ids, a copy has no eTag, and DeleteObjects emits nothing. A Koa
 * middleware placed in front of s3rver's router runs every request inside an AsyncLocalStorage scope,
 * so each s3rver event (and each object removed by DeleteObjects) is attributed to the request that
 * caused it and published, in AWS's format, once that request has succeeded.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtempSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import S3rver = require('@20minutes/s3rver');
import S3rverAccount = require('@20minutes/s3rver/lib/models/account');

import { LOCAL_CREDENTIALS, LOCAL_REGION } from './aws-env';
import { LocalStackError } from './errors';
import type { RequestAuthorizer } from './iam/dynamodb-proxy';
import { conditionalWriteMiddleware, iamMiddleware } from './iam/s3-enforcement';
import {
  buildNotificationRecord,
  newVersionId,
  type ObjectChange,
  type S3NotificationEventName,
  type S3NotificationRecord,
} from './s3-notification';
import { adaptS3rver } from './s3rver-compat';

export { createLocalDynamoDbClient, createLocalS3Client, type LocalEndpoints, localAwsEnv } from './aws-env';
export { decodeS3EventKey, encodeS3EventKey, type S3NotificationRecord } from './s3-notification';

export interface S3LocalOptions {
  /** @default 0 (a free port) */
  readonly port?: number;
  /** Where objects are stored. @default a fresh temporary folder, removed by stop() */
  readonly directory?: string;
  /** Buckets created at start (existing ones are kept). @default [] */
  readonly buckets?: readonly string[];
  /** Put into records as awsRegion. @default 'us-east-1' */
  readonly region?: string;
  /** The notification configuration id records carry. @default 'local-notification' */
  readonly configurationId?: string;
}

export type ObjectEventListener = (record: S3NotificationRecord) => void;

export interface S3Local {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  readonly directory: string;
  /**
   * Called synchronously for each record, after the request that caused it succeeded and before its
   * response is sent. Returns a function that unsubscribes.
   */
  onObjectEvent(listener: ObjectEventListener): () => void;
  /** The version id assigned to the object's current content (also sent as x-amz-version-id). */
  currentVersionId(bucket: string, key: string): string | undefined;
  /**
   * Enforces IAM from now on: requests signed with these access key ids are authorized by it
   * (each key signs with the stand-in's one secret). undefined: no enforcement.
   */
  setAuthorizer(authorizer: RequestAuthorizer | undefined, accessKeyIds?: readonly string[]): void;
  stop(): Promise<void>;
}

interface RequestScope {
  /** s3rver events raised while serving this request. */
  readonly raised: S3rver.RawEvent['Records'];
  /** Objects removed by a DeleteObjects request, for which s3rver raises no event. */
  readonly removedByBatch: Array<{ bucket: string; key: string }>;
  readonly isDeleteObjects: boolean;
}

export async function startS3Local(options: S3LocalOptions = {}): Promise<S3Local> {
  const ownsDirectory = options.directory === undefined;
  const directory = options.directory ?? mkdtempSync(path.join(tmpdir(), 'lookalike-s3-'));
  await mkdir(directory, { recursive: true });
  const region = options.region ?? LOCAL_REGION;
  const configurationId = options.configurationId ?? 'local-notification';

  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? 0,
    silent: true,
    directory,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
  });
  adaptS3rver(server, directory);
  const listeners = new Set<ObjectEventListener>();
  const versions = new Map<string, string>();
  const versionKey = (bucket: string, key: string) => `${bucket}/${key}`;
  const scopes = new AsyncLocalStorage<RequestScope>();

  const publish = (record: S3NotificationRecord) => {
    for (const listener of listeners) {
      try {
        listener(record);
      } catch (error) {
        // Delivery is decoupled from the upload in AWS; a broken consumer must not fail the PUT.
        process.emitWarning(`s3-local: an object event listener threw: ${String(error)}`);
      }
    }
  };

  /** Turns one observed change into a record, keeping the version map in step. */
  const toRecord = (
    eventName: S3NotificationEventName,
    bucket: string,
    key: string,
    extra: Partial<ObjectChange>,
  ) => {
    let versionId: string | undefined;
    if (eventName === 'ObjectRemoved:Delete') {
      // s3rver deletes like an unversioned bucket, and AWS's record of such a delete names no
      // version (a version id on `Delete` means one version of a versioned bucket went for good).
      versions.delete(versionKey(bucket, key));
    } else {
      versionId = newVersionId();
      versions.set(versionKey(bucket, key), versionId);
    }
    return buildNotificationRecord({
      sourceIp: '127.0.0.1',
      ...extra,
      eventName,
      bucket,
      key,
      versionId,
      region,
      configurationId,
    });
  };

  const eTagOf = async (bucket: string, key: string): Promise<string | undefined> => {
    const metadata = await server.store.getMetadata(bucket, key).catch(() => undefined);
    return typeof metadata?.etag === 'string' ? metadata.etag.replace(/"/g, '') : undefined;
  };

  const recordsFor = async (scope: RequestScope, ctx: S3rver.KoaContext): Promise<S3NotificationRecord[]> => {
    const records: S3NotificationRecord[] = [];
    for (const raw of scope.raised) {
      const bucket = raw.s3.bucket.name;
      const key = raw.s3.object.key;
      const extra = { sourceIp: ctx.ip, size: raw.s3.object.size, eTag: raw.s3.object.eTag };
      switch (raw.eventName) {
        case 'ObjectCreated:Put':
          records.push(toRecord('ObjectCreated:Put', bucket, key, extra));
          break;
        case 'ObjectCreated:Copy':
          records.push(
            toRecord('ObjectCreated:Copy', bucket, key, { ...extra, eTag: await eTagOf(bucket, key) }),
          );
          break;
        case 'ObjectCreated:Post': {
          // s3rver raises Post for both a browser-form POST and CompleteMultipartUpload (?uploadId=).
          const name =
            'uploadId' in ctx.query ? 'ObjectCreated:CompleteMultipartUpload' : 'ObjectCreated:Post';
          records.push(toRecord(name, bucket, key, extra));
          break;
        }
        case 'ObjectRemoved:Delete':
          records.push(toRecord('ObjectRemoved:Delete', bucket, key, { sourceIp: ctx.ip }));
          break;
      }
    }
    for (const { bucket, key } of scope.removedByBatch) {
      records.push(toRecord('ObjectRemoved:Delete', bucket, key, { sourceIp: ctx.ip }));
    }
    return records;
  };

  server.on('event', (event) => {
    const scope = scopes.getStore();
    if (scope) scope.raised.push(...event.Records);
  });

  // DeleteObjects calls the store directly and raises no event; note what it removed.
  const deleteFromStore = server.store.deleteObject.bind(server.store);
  server.store.deleteObject = async (bucket, key) => {
    await deleteFromStore(bucket, key);
    const scope = scopes.getStore();
    if (scope?.isDeleteObjects) scope.removedByBatch.push({ bucket, key });
  };

  // First in the chain, so it wraps s3rver's own middleware and router.
  server.middleware.unshift(async (ctx, next) => {
    const scope: RequestScope = {
      raised: [],
      removedByBatch: [],
      isDeleteObjects: ctx.method === 'POST' && 'delete' in ctx.query,
    };
    await scopes.run(scope, next);
    const records = await recordsFor(scope, ctx);
    const created = records.find((record) => record.eventName.startsWith('ObjectCreated:'));
    if (created?.s3.object.versionId) ctx.set('x-amz-version-id', created.s3.object.versionId);
    const { bucket, key } = ctx.params ?? {};
    if ((ctx.method === 'GET' || ctx.method === 'HEAD') && bucket && key && ctx.status < 400) {
      const versionId = versions.get(versionKey(bucket, key));
      if (versionId) ctx.set('x-amz-version-id', versionId);
    }
    records.forEach(publish);
  });

  // Outermost first: IAM decides before anything else runs, then S3's conditional writes.
  let authorizer: RequestAuthorizer | undefined;
  server.middleware.unshift(conditionalWriteMiddleware(server.store));
  server.middleware.unshift(iamMiddleware(() => authorizer));

  let port: number;
  try {
    ({ port } = await server.run());
  } catch (error) {
    if (ownsDirectory) await rm(directory, { recursive: true, force: true });
    throw new LocalStackError('s3_local_start_failed', `s3rver did not start: ${String(error)}`, {
      cause: error,
    });
  }

  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    directory,
    onObjectEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    currentVersionId: (bucket, key) => versions.get(versionKey(bucket, key)),
    setAuthorizer(next, accessKeyIds = []) {
      authorizer = next;
      for (const accessKeyId of accessKeyIds)
        S3rverAccount.DUMMY_ACCOUNT.createKeyPair(accessKeyId, LOCAL_CREDENTIALS.secretAccessKey);
    },
    stop() {
      stopped ??= (async () => {
        listeners.clear();
        const closed = server.close();
        // SDK clients keep connections alive; close() alone would wait for them.
        server.httpServer?.closeAllConnections();
        await closed;
        if (ownsDirectory) await rm(directory, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

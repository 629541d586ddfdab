// @20minutes/s3rver 5 ships no types; this covers only what infra/local uses (S3rver is a Koa app).
declare module '@20minutes/s3rver' {
  import type { EventEmitter } from 'node:events';

  namespace S3rver {
    interface Options {
      address?: string;
      port?: number;
      silent?: boolean;
      directory?: string;
      resetOnClose?: boolean;
      allowMismatchedSignatures?: boolean;
      vhostBuckets?: boolean;
      serviceEndpoint?: string;
      configureBuckets?: Array<{ name: string; configs?: Array<string | Buffer> }>;
    }

    interface KoaContext {
      method: string;
      path: string;
      /** Koa parses the query string on read and rewrites the URL on assignment. */
      query: Record<string, string | string[] | undefined>;
      /** A plain object until s3rver's XML encoder (placed before the router) serializes it. */
      body: unknown;
      /** `vhost`: set by s3rver's vhost middleware, read by its signature check. */
      state: { vhost?: boolean } & Record<string, unknown>;
      /** Prefix of the signed path; after the bucket for virtual-host requests. */
      mountPath?: string;
      headers: Record<string, string | string[] | undefined>;
      ip: string;
      status: number;
      params?: { bucket?: string; key?: string };
      body?: unknown;
      type?: string;
      set(field: string, value: string): void;
    }

    type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

    /** @koa/router: its layers run in stack order for each request they match. */
    interface Router {
      stack: Array<{ stack: Array<(...args: never[]) => unknown> }>;
      use(path: string, middleware: Middleware): Router;
    }

    interface ListObjectsOptions {
      delimiter?: string;
      startAfter?: string;
      prefix?: string;
      maxKeys?: number;
    }

    /** s3rver's S3Object, as the store receives and lists it. */
    interface StoredObject {
      bucket: string;
      key: string;
      metadata: Record<string, string | number>;
      /** The body: a buffer or the request stream on a PUT; the file's stream on a GET. */
      content?: unknown;
      /** The bytes a ranged GET answers with. */
      range?: { start: number; end: number };
    }

    interface ListObjectsResult {
      objects: StoredObject[];
      commonPrefixes: string[];
      isTruncated: boolean;
    }

    interface FilesystemStore {
      getMetadata(bucket: string, key: string): Promise<Record<string, string | number>>;
      deleteObject(bucket: string, key: string): Promise<void>;
      listObjects(bucket: string, options: ListObjectsOptions): Promise<ListObjectsResult>;
    }

    /** The record s3rver builds itself (event version 2.0, key not encoded). */
    interface RawEvent {
      Records: Array<{
        eventName: string;
        s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string } };
      }>;
    }
  }

  class S3rver extends EventEmitter {
    constructor(options?: S3rver.Options);
    /** Koa's middleware list; composed when the server starts listening. */
    middleware: Array<S3rver.Middleware & { router?: S3rver.Router }>;
    store: S3rver.FilesystemStore;
    /** Koa's context prototype; s3rver's controllers read `ctx.store` from it. */
    context: { store: S3rver.FilesystemStore };
    /** Set by run(). */
    httpServer?: import('node:http').Server;
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
    on(event: 'event', listener: (event: S3rver.RawEvent) => void): this;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }

  export = S3rver;
}

declare module '@20minutes/s3rver/lib/models/account' {
  /** s3rver's one account; every access key it accepts is a key pair of it. */
  export const DUMMY_ACCOUNT: { createKeyPair(accessKeyId: string, secretAccessKey: string): void };
}

declare module '@20minutes/s3rver/lib/models/error' {
  /** s3rver's error: the `code` picks the HTTP status and becomes the XML error's Code. */
  class S3Error extends Error {
    constructor(code: string, message?: string, detail?: Record<string, string>);
    readonly code: string;
    readonly status: number;
  }
  export = S3Error;
}

declare module '@20minutes/s3rver/lib/stores/filesystem' {
  import type S3rver = require('@20minutes/s3rver');

  /** Maps each key to files under `<rootDirectory>/<bucket>/`; every path goes through getResourcePath. */
  class FilesystemStore implements S3rver.FilesystemStore {
    constructor(rootDirectory: string);
    getBucketPath(bucket: string): string;
    getResourcePath(bucket: string, key: string | undefined, resource: string): string;
    getMetadata(bucket: string, key: string): Promise<Record<string, string | number>>;
    getObject(
      bucket: string,
      key: string,
      options?: { start?: number; end?: number },
    ): Promise<S3rver.StoredObject | null>;
    putMetadata(
      bucket: string,
      key: string,
      metadata: Record<string, string | number>,
      md5?: string,
    ): Promise<void>;
    putObject(object: S3rver.StoredObject): Promise<{ size: number; md5: string }>;
    copyObject(
      srcBucket: string,
      srcKey: string,
      destBucket: string,
      destKey: string,
      replacementMetadata?: Record<string, string>,
    ): Promise<Record<string, string | number>>;
    deleteObject(bucket: string, key: string): Promise<void>;
    listObjects(bucket: string, options: S3rver.ListObjectsOptions): Promise<S3rver.ListObjectsResult>;
  }
  export = FilesystemStore;
}

declare module '@20minutes/s3rver/lib/models/object' {
  import type S3rver = require('@20minutes/s3rver');

  class S3Object implements S3rver.StoredObject {
    constructor(bucket: string, key: string, content: unknown, metadata: Record<string, string | number>);
    bucket: string;
    key: string;
    metadata: Record<string, string | number>;
    content?: unknown;
    range?: { start: number; end: number };
  }
  export = S3Object;
}

// s3rver 3.7.1 ships no types; this covers only what s3-local.ts uses (S3rver is a Koa app).
declare module 's3rver' {
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
      query: Record<string, string | string[] | undefined>;
      headers: Record<string, string | string[] | undefined>;
      ip: string;
      status: number;
      params?: { bucket?: string; key?: string };
      body?: unknown;
      type?: string;
      set(field: string, value: string): void;
    }

    type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

    interface FilesystemStore {
      getMetadata(bucket: string, key: string): Promise<Record<string, string | number>>;
      deleteObject(bucket: string, key: string): Promise<void>;
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
    middleware: S3rver.Middleware[];
    store: S3rver.FilesystemStore;
    /** Set by run(). */
    httpServer?: import('node:http').Server;
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
    on(event: 'event', listener: (event: S3rver.RawEvent) => void): this;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }

  export = S3rver;
}

declare module 's3rver/lib/models/account' {
  /** s3rver's one account; every access key it accepts is a key pair of it. */
  export const DUMMY_ACCOUNT: { createKeyPair(accessKeyId: string, secretAccessKey: string): void };
}

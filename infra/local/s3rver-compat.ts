/**
 * Where @20minutes/s3rver 5 and AWS S3 disagree, fixed around s3rver's signature check (a layer of
 * its router) and in its store. Call before anything else wraps the store.
 *
 * - Keys: the store holds every key S3 accepts (see s3-key-store.ts), and a key over S3's 1,024
 *   UTF-8 bytes is refused as S3 refuses it (400 KeyTooLongError) before any file is touched.
 * - Bucket-level requests (ListObjectsV2, DeleteObjects) are sent path-style as `/<bucket>/` and
 *   signed over that path, but s3rver 5 rebuilds the signed path from the route's bucket name alone,
 *   `/<bucket>`, and answers SignatureDoesNotMatch. Its check puts `mountPath` after the bucket for
 *   virtual-host requests, so before the check such a request is marked as one with mountPath `/`.
 * - ListObjectsV2 continuation tokens without DES. s3rver (3.x and the 5.x fork alike) encrypts them
 *   with single DES, which OpenSSL 3 only has in its legacy provider: a truncated ListObjectsV2
 *   answers 500 unless every process runs with `--openssl-legacy-provider`. Instead of patching
 *   node:crypto for the whole process, the store hides a V2 listing's truncation from s3rver (so it
 *   never makes a token), and a layer after the check (so the signed query is the one checked)
 *   reads our own opaque token back as `start-after` and adds the next one to the result, which is
 *   still an object there (s3rver's XML encoder runs outside the router).
 */
import { AsyncLocalStorage } from 'node:async_hooks';

import type S3rver = require('@20minutes/s3rver');
import S3Error = require('@20minutes/s3rver/lib/models/error');

import { LocalStackError } from './errors';
import { KeySafeStore, S3_KEY_MAX_BYTES } from './s3-key-store';

interface Listing {
  /** The last key of a page the store cut short; undefined while the listing is complete. */
  lastKey?: string;
}

const TOKEN_QUERY = 'continuation-token';

function encodeToken(bucket: string, lastKey: string): string {
  return Buffer.from(`${bucket}/${lastKey}`, 'utf8').toString('base64');
}

/** The key to start after, or undefined when the token was not made by {@link encodeToken} for this bucket. */
function decodeToken(token: string, bucket: string): string | undefined {
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  return decoded.startsWith(`${bucket}/`) && decoded.length > bucket.length + 1
    ? decoded.slice(bucket.length + 1)
    : undefined;
}

/** s3rver's router, and where its signature check sits in it; fails fast if an upgrade moved them. */
function signatureCheckOf(server: S3rver): { router: S3rver.Router; at: number } {
  const router = server.middleware.find((middleware) => middleware.router)?.router;
  const at = router?.stack.findIndex((layer) => layer.stack.some((fn) => fn.name === 'authentication'));
  if (!router || at === undefined || at < 0) {
    throw new LocalStackError('s3_local_start_failed', "s3rver's router or signature check was not found");
  }
  return { router, at };
}

/** Registers `middleware` for every `/:bucket...` request and moves it to `index` in the router's stack. */
function insertLayer(router: S3rver.Router, index: number, middleware: S3rver.Middleware): void {
  router.use('/:bucket', middleware);
  const layer = router.stack.pop();
  if (layer) router.stack.splice(index, 0, layer);
}

const signedBucketPath: S3rver.Middleware = async (ctx, next) => {
  if (/^\/[^/]+\/$/.test(ctx.path) && !ctx.state.vhost) {
    ctx.state.vhost = true;
    ctx.mountPath = '/';
  }
  await next();
};

const rejectLongKeys: S3rver.Middleware = async (ctx, next) => {
  const bytes = Buffer.byteLength(ctx.params?.key ?? '', 'utf8');
  if (bytes > S3_KEY_MAX_BYTES) {
    throw new S3Error('KeyTooLongError', 'Your key is too long', {
      Size: String(bytes),
      MaxSizeAllowed: String(S3_KEY_MAX_BYTES),
    });
  }
  await next();
};

export function adaptS3rver(server: S3rver, directory: string): void {
  server.store = server.context.store = new KeySafeStore(directory);
  const listings = new AsyncLocalStorage<Listing>();

  const listObjects = server.store.listObjects.bind(server.store);
  server.store.listObjects = async (bucket, options) => {
    const result = await listObjects(bucket, options);
    const listing = listings.getStore();
    if (!listing || !result.isTruncated) return result;
    listing.lastKey = result.objects.at(-1)?.key;
    return { ...result, isTruncated: false };
  };

  const continuationTokens: S3rver.Middleware = async (ctx, next) => {
    const bucket = ctx.params?.bucket;
    if (ctx.method !== 'GET' || ctx.query['list-type'] !== '2' || ctx.params?.key || !bucket) return next();
    const token = ctx.query[TOKEN_QUERY];
    const startAfter = ctx.query['start-after'];
    if (typeof token === 'string' && token !== '') {
      const after = decodeToken(token, bucket);
      if (after === undefined) {
        throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', {
          ArgumentName: TOKEN_QUERY,
        });
      }
      const { [TOKEN_QUERY]: _, ...query } = ctx.query;
      ctx.query = { ...query, 'start-after': after };
    }
    const listing: Listing = {};
    await listings.run(listing, next);
    const result = (ctx.body as { ListBucketResult?: Record<string, unknown> } | undefined)?.ListBucketResult;
    if (!result) return;
    if (typeof token === 'string' && token !== '') {
      // Echo the request as S3 does: the token, and start-after only if the client sent one.
      result.ContinuationToken = token;
      result.StartAfter = startAfter;
    }
    if (listing.lastKey !== undefined) {
      result.IsTruncated = true;
      result.NextContinuationToken = encodeToken(bucket, listing.lastKey);
    }
  };

  const { router, at } = signatureCheckOf(server);
  insertLayer(router, at + 1, continuationTokens);
  insertLayer(router, at + 1, rejectLongKeys);
  insertLayer(router, at, signedBucketPath);
}

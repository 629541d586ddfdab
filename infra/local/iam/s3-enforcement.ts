/**
 * Koa middlewares for the in-process S3 stand-in: IAM as S3 enforces it (403 AccessDenied for what
 * the caller's role may not do, and 403 instead of 404 for a missing key when the role may not list
 * it), and S3's conditional writes (If-Match / If-None-Match on PUT), which s3rver ignores.
 */
import type S3rver = require('@20minutes/s3rver');

import type { RequestAuthorizer } from './dynamodb-proxy';
import { accessKeyIdOf, first, missingObjectListCheck, s3Authorizations, s3TargetOf } from './requests';

const xmlEscape = (text: string) =>
  text.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string,
  );

/** Answers with S3's error document (no body for HEAD, as S3 does). */
export function s3Error(ctx: S3rver.KoaContext, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.set('x-amz-request-id', crypto.randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase());
  if (ctx.method === 'HEAD') {
    ctx.body = null;
    return;
  }
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error>`;
}

export function iamMiddleware(authorizer: () => RequestAuthorizer | undefined): S3rver.Middleware {
  return async (ctx, next) => {
    const current = authorizer();
    const accessKeyId = accessKeyIdOf(first(ctx.headers.authorization), first(ctx.query['X-Amz-Credential']));
    if (!current) return next();
    const authorizations = s3Authorizations({
      method: ctx.method,
      path: ctx.path,
      query: ctx.query,
      headers: ctx.headers,
    });
    const denial = await current.authorize(accessKeyId, authorizations);
    if (denial) return s3Error(ctx, 403, 'AccessDenied', denial.message);
    try {
      await next();
    } catch (error) {
      const { bucket, key } = s3TargetOf(ctx.path);
      const missing = (error as { code?: string }).code;
      if ((missing === 'NoSuchKey' || missing === 'NoSuchVersion') && bucket && key !== undefined) {
        // Recorded like any other decision, so the grant audit sees which roles rely on it.
        if (await current.authorize(accessKeyId, [missingObjectListCheck(bucket, key)]))
          return s3Error(ctx, 403, 'AccessDenied', 'Access Denied');
      }
      throw error;
    }
  };
}

/**
 * S3 conditional writes: `If-None-Match: *` creates only when the key is free, `If-Match: <etag>`
 * replaces only that version; otherwise 412 PreconditionFailed. Writes to one key are serialised
 * here, so the check and the write are one step, as in S3.
 */
export function conditionalWriteMiddleware(store: S3rver.FilesystemStore): S3rver.Middleware {
  const locks = new Map<string, Promise<void>>();
  return async (ctx, next) => {
    const ifMatch = first(ctx.headers['if-match']);
    const ifNoneMatch = first(ctx.headers['if-none-match']);
    const { bucket, key } = s3TargetOf(ctx.path);
    if (ctx.method !== 'PUT' || (ifMatch === undefined && ifNoneMatch === undefined) || !bucket || !key)
      return next();
    const lockKey = `${bucket}/${key}`;
    const previous = locks.get(lockKey) ?? Promise.resolve();
    let release = () => {};
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const chained = previous.then(() => mine);
    locks.set(lockKey, chained);
    await previous;
    try {
      const metadata = await store.getMetadata(bucket, key).catch(() => undefined);
      const etag = typeof metadata?.etag === 'string' ? metadata.etag.replace(/"/g, '') : undefined;
      if (ifNoneMatch !== undefined && ifNoneMatch.trim() === '*' && etag !== undefined)
        return s3Error(
          ctx,
          412,
          'PreconditionFailed',
          'At least one of the pre-conditions you specified did not hold',
        );
      if (ifMatch !== undefined && (etag === undefined || ifMatch.replace(/"/g, '').trim() !== etag)) {
        return etag === undefined
          ? s3Error(ctx, 404, 'NoSuchKey', 'The specified key does not exist.')
          : s3Error(
              ctx,
              412,
              'PreconditionFailed',
              'At least one of the pre-conditions you specified did not hold',
            );
      }
      await next();
    } finally {
      release();
      if (locks.get(lockKey) === chained) locks.delete(lockKey);
    }
  };
}

/**
 * s3rver's file store, made to hold every key S3 accepts and nothing outside its folder.
 *
 * s3rver maps a key to a path segment by segment (`a/b.png` -> `<bucket>/a/b.png._S3rver_object`).
 * That fails for keys S3 takes without complaint: a segment over the file system's 255-byte name limit
 * answers 500 (ENAMETOOLONG; s3rver 3.7.1 took the whole process down with it), `a//b` and `a/./b`
 * alias `a/b`, and `a/../../x` writes outside the store's folder. Keys that map safely are stored as
 * before (existing data folders stay readable); every other key is stored flat under
 * `<bucket>/._S3rver_keys/` by the SHA-256 of the key, with the key itself beside it, so listing
 * returns the real key. Listing walks both and sorts keys by their UTF-8 bytes, as S3 does.
 *
 * Writes are atomic, as S3's are: a GET or HEAD sees an object's old version or its new one, whole,
 * never a mix. s3rver writes an object's bytes in place, so a GET racing a PUT of the same key got a
 * body cut short ("aborted") or an ETag of the other version. Here a PUT or copy first stages the
 * bytes under the bucket's staging folder, then renames them into place and writes the ETag and
 * metadata while it holds the key's lock; a GET holds the same lock only while it reads the metadata
 * and opens the file, and an open file keeps its bytes when a later PUT or DELETE replaces them.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type Dirent, promises as fs } from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import FilesystemStore = require('@20minutes/s3rver/lib/stores/filesystem');
import S3Object = require('@20minutes/s3rver/lib/models/object');
import type S3rver = require('@20minutes/s3rver');

/** S3's limit on a key, in UTF-8 bytes. */
export const S3_KEY_MAX_BYTES = 1024;
/** NAME_MAX on Linux, macOS and Windows file systems (bytes on Linux). */
const NAME_MAX_BYTES = 255;
/** s3rver names a key's files `<last segment>._S3rver_<resource>`. */
const RESOURCE_MARK = '._S3rver_';
const LONGEST_RESOURCE = `${RESOURCE_MARK}metadata.json`;
const OBJECT_FILE = `${RESOURCE_MARK}object`;
const KEY_FILE = `${RESOURCE_MARK}key`;
const HASHED_FOLDER = `${RESOURCE_MARK}keys`;
/** Where new bytes wait for their rename; in the bucket's folder, so on the same file system. */
const STAGING_FOLDER = `${RESOURCE_MARK}staging`;

/** Whether s3rver's segment-by-segment path names this key, and only this key, inside the bucket. */
export function storableAsPath(key: string): boolean {
  const segments = key.split('/');
  return segments.every((segment, index) => {
    if (segment.includes(RESOURCE_MARK) || segment.includes('\0')) return false;
    // The last segment carries the resource suffix; it may be empty (a "folder" key such as `a/`).
    if (index === segments.length - 1) {
      return Buffer.byteLength(segment) + LONGEST_RESOURCE.length <= NAME_MAX_BYTES;
    }
    return (
      segment !== '' && segment !== '.' && segment !== '..' && Buffer.byteLength(segment) <= NAME_MAX_BYTES
    );
  });
}

/** Writes a body (a buffer or a stream) to `file`, returning its size and MD5 once it is on disk. */
async function writeHashed(content: unknown, file: string): Promise<{ size: number; md5: string }> {
  const md5 = createHash('md5');
  let size = 0;
  const source =
    Buffer.isBuffer(content) || typeof content === 'string'
      ? [Buffer.from(content)]
      : (content as NodeJS.ReadableStream);
  await pipeline(
    source,
    new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        md5.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    }),
    createWriteStream(file),
  );
  return { size, md5: md5.digest('hex') };
}

const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const hashOf = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

async function entriesOf(dir: string): Promise<Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

export class KeySafeStore extends FilesystemStore {
  override getResourcePath(bucket: string, key = '', resource: string): string {
    if (key === '' || storableAsPath(key)) return super.getResourcePath(bucket, key, resource);
    return path.join(this.getBucketPath(bucket), HASHED_FOLDER, `${hashOf(key)}${RESOURCE_MARK}${resource}`);
  }

  /** Per key, the tail of the queue of operations that read or replace it as a whole. */
  private readonly locks = new Map<string, Promise<void>>();

  override async getMetadata(bucket: string, key: string): Promise<Record<string, string | number>> {
    return this.exclusive(bucket, key, () => super.getMetadata(bucket, key));
  }

  /** s3rver's getObject, with the metadata read and the file opened under the key's lock. */
  override async getObject(
    bucket: string,
    key: string,
    options?: { start?: number; end?: number },
  ): Promise<S3Object | null> {
    try {
      return await this.exclusive(bucket, key, async () => {
        const metadata = await super.getMetadata(bucket, key);
        const lastByte = Math.max(0, Number(metadata['content-length']) - 1);
        const range = {
          start: options?.start || 0,
          end: Math.min(options?.end || Number.POSITIVE_INFINITY, lastByte),
        };
        const ranged = options !== undefined && (options.start !== undefined || Boolean(options.end));
        let content: NodeJS.ReadableStream | null = null;
        if (range.start >= 0 && range.start <= range.end) {
          content = await new Promise<NodeJS.ReadableStream>((resolve, reject) => {
            const stream = createReadStream(this.getResourcePath(bucket, key, 'object'), range)
              .on('error', reject)
              .on('open', () => resolve(stream));
          });
        }
        const object = new S3Object(bucket, key, content, metadata);
        if (ranged) object.range = range;
        return object;
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  override async putObject(object: S3rver.StoredObject): Promise<{ size: number; md5: string }> {
    const staged = await this.stage(object.bucket);
    try {
      const { size, md5 } = await writeHashed(object.content, staged);
      await this.exclusive(object.bucket, object.key, async () => {
        const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
        await fs.mkdir(path.dirname(objectPath), { recursive: true });
        await fs.rename(staged, objectPath);
        await this.putMetadata(object.bucket, object.key, object.metadata, md5);
        await this.rememberKey(object.bucket, object.key);
      });
      return { size, md5 };
    } finally {
      await fs.rm(staged, { force: true });
    }
  }

  override async copyObject(
    srcBucket: string,
    srcKey: string,
    destBucket: string,
    destKey: string,
    replacementMetadata?: Record<string, string>,
  ): Promise<Record<string, string | number>> {
    const srcPath = this.getResourcePath(srcBucket, srcKey, 'object');
    const destPath = this.getResourcePath(destBucket, destKey, 'object');
    if (srcPath === destPath) {
      // A copy onto itself replaces only the metadata.
      if (replacementMetadata) {
        await this.exclusive(destBucket, destKey, () =>
          this.putMetadata(destBucket, destKey, replacementMetadata),
        );
      }
      return this.getMetadata(destBucket, destKey);
    }
    const staged = await this.stage(destBucket);
    try {
      const source = await this.exclusive(srcBucket, srcKey, async () => {
        const metadata = await super.getMetadata(srcBucket, srcKey);
        const stored = await fs
          .readFile(this.getResourcePath(srcBucket, srcKey, 'metadata.json'), 'utf8')
          .then((json) => JSON.parse(json) as Record<string, string>)
          .catch(() => ({}));
        await fs.copyFile(srcPath, staged);
        return { md5: JSON.parse(String(metadata.etag)) as string, stored };
      });
      await this.exclusive(destBucket, destKey, async () => {
        await fs.mkdir(path.dirname(destPath), { recursive: true });
        await fs.rename(staged, destPath);
        await this.putMetadata(destBucket, destKey, replacementMetadata ?? source.stored, source.md5);
        await this.rememberKey(destBucket, destKey);
      });
      return this.getMetadata(destBucket, destKey);
    } finally {
      await fs.rm(staged, { force: true });
    }
  }

  override async deleteObject(bucket: string, key: string): Promise<void> {
    await this.exclusive(bucket, key, async () => {
      if (storableAsPath(key)) return super.deleteObject(bucket, key);
      await Promise.all(
        ['object', 'object.md5', 'metadata.json', 'key'].map((resource) =>
          fs.rm(this.getResourcePath(bucket, key, resource), { force: true }),
        ),
      );
    });
  }

  /** A fresh path in the bucket's staging folder. */
  private async stage(bucket: string): Promise<string> {
    const folder = path.join(this.getBucketPath(bucket), STAGING_FOLDER);
    await fs.mkdir(folder, { recursive: true });
    return path.join(folder, randomUUID());
  }

  /** Runs `work` after every earlier operation on the key has finished, and before any later one starts. */
  private async exclusive<T>(bucket: string, key: string, work: () => Promise<T>): Promise<T> {
    const id = `${bucket}\0${key}`;
    const previous = this.locks.get(id) ?? Promise.resolve();
    let release = () => {};
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.locks.set(id, tail);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  override async listObjects(
    bucket: string,
    {
      delimiter = '',
      startAfter = '',
      prefix = '',
      maxKeys = Number.POSITIVE_INFINITY,
    }: S3rver.ListObjectsOptions,
  ): Promise<{ objects: S3rver.StoredObject[]; commonPrefixes: string[]; isTruncated: boolean }> {
    const keys = (await this.keysUnder(bucket, prefix))
      .filter((key) => key.startsWith(prefix) && byUtf8(key, startAfter) > 0)
      .sort(byUtf8);
    const commonPrefixes = new Set<string>();
    const page: string[] = [];
    let isTruncated = false;
    for (const key of keys) {
      const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
      if (cut !== -1) {
        commonPrefixes.add(key.slice(0, cut + delimiter.length));
      } else if (page.length < maxKeys) {
        page.push(key);
      } else {
        isTruncated = true;
        break;
      }
    }
    const metadata = await Promise.all(
      page.map((key) =>
        this.getMetadata(bucket, key).catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return undefined;
          throw error;
        }),
      ),
    );
    const objects = page.flatMap((key, index) => {
      const found = metadata[index];
      return found ? [new S3Object(bucket, key, null, found)] : [];
    });
    return { objects, commonPrefixes: [...commonPrefixes].sort(byUtf8), isTruncated };
  }

  /** Writes a hashed key's real name beside its object (after the object, so listing never sees half). */
  private async rememberKey(bucket: string, key: string): Promise<void> {
    if (!storableAsPath(key)) await fs.writeFile(this.getResourcePath(bucket, key, 'key'), key, 'utf8');
  }

  /** Every key in the bucket that may start with `prefix` (folders that cannot are skipped). */
  private async keysUnder(bucket: string, prefix: string): Promise<string[]> {
    const bucketPath = this.getBucketPath(bucket);
    const keys: string[] = [];
    const visit = async (dir: string, keyPrefix: string): Promise<void> => {
      for (const entry of await entriesOf(dir)) {
        if (entry.isDirectory()) {
          // s3rver's own folders (uploads) and ours carry the mark, which no path-stored key has.
          if (entry.name.includes(RESOURCE_MARK)) continue;
          const folder = `${keyPrefix}${entry.name}/`;
          if (folder.startsWith(prefix) || prefix.startsWith(folder)) {
            await visit(path.join(dir, entry.name), folder);
          }
        } else if (entry.name.endsWith(OBJECT_FILE)) {
          keys.push(keyPrefix + entry.name.slice(0, -OBJECT_FILE.length));
        }
      }
    };
    await visit(bucketPath, '');
    const hashed = path.join(bucketPath, HASHED_FOLDER);
    for (const entry of await entriesOf(hashed)) {
      if (!entry.name.endsWith(OBJECT_FILE)) continue;
      const keyFile = path.join(hashed, `${entry.name.slice(0, -OBJECT_FILE.length)}${KEY_FILE}`);
      const key = await fs.readFile(keyFile, 'utf8').catch(() => undefined);
      if (key !== undefined) keys.push(key);
    }
    return keys;
  }
}

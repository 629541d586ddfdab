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
 */
import { createHash } from 'node:crypto';
import { type Dirent, promises as fs } from 'node:fs';
import path from 'node:path';

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

  override async putObject(object: S3rver.StoredObject): Promise<{ size: number; md5: string }> {
    const stored = await super.putObject(object);
    await this.rememberKey(object.bucket, object.key);
    return stored;
  }

  override async copyObject(
    srcBucket: string,
    srcKey: string,
    destBucket: string,
    destKey: string,
    replacementMetadata?: Record<string, string>,
  ): Promise<Record<string, string | number>> {
    const metadata = await super.copyObject(srcBucket, srcKey, destBucket, destKey, replacementMetadata);
    await this.rememberKey(destBucket, destKey);
    return metadata;
  }

  override async deleteObject(bucket: string, key: string): Promise<void> {
    if (storableAsPath(key)) return super.deleteObject(bucket, key);
    await Promise.all(
      ['object', 'object.md5', 'metadata.json', 'key'].map((resource) =>
        fs.rm(this.getResourcePath(bucket, key, resource), { force: true }),
      ),
    );
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

/**
 * An in-memory ObjectStore that behaves like the S3 adapter (functions/adapters/s3/object-store.ts)
 * on an unversioned bucket: the etag is the MD5 of the bytes, without quotes, metadata keys are
 * lower-case, and a read above the size limit is refused without its body. test/support/contracts/
 * object-store.ts is the suite both pass.
 */
import { createHash } from 'node:crypto';
import type { ObjectHead, ObjectStore } from '../../../functions/app/ports';
import { InvalidImage } from '../../../functions/domain/errors';

interface StoredObject {
  bytes: Uint8Array;
  metadata: Record<string, string>;
}

export class InMemoryObjectStore implements ObjectStore {
  private readonly objects = new Map<string, StoredObject>();

  constructor(
    /** Refuse to hand out bodies above this size, as the S3 adapter does. */
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {}

  put(bucket: string, key: string, bytes: Uint8Array, metadata: Record<string, string> = {}): void {
    this.objects.set(this.path(bucket, key), {
      bytes: Uint8Array.from(bytes),
      metadata: Object.fromEntries(
        Object.entries(metadata).map(([name, value]) => [name.toLowerCase(), value]),
      ),
    });
  }

  delete(bucket: string, key: string): void {
    this.objects.delete(this.path(bucket, key));
  }

  async head(bucket: string, key: string): Promise<ObjectHead | undefined> {
    const object = this.objects.get(this.path(bucket, key));
    if (!object) return undefined;
    return {
      etag: createHash('md5').update(object.bytes).digest('hex'),
      size: object.bytes.length,
      metadata: { ...object.metadata },
    };
  }

  async read(bucket: string, key: string): Promise<Uint8Array | undefined> {
    const object = this.objects.get(this.path(bucket, key));
    if (!object) return undefined;
    if (object.bytes.length > this.maxBytes)
      throw new InvalidImage(
        'file_too_large',
        `the object is ${object.bytes.length} bytes; the limit is ${this.maxBytes}`,
      );
    return Uint8Array.from(object.bytes);
  }

  private path(bucket: string, key: string): string {
    return `${bucket}/${key}`;
  }
}

/**
 * The contract of ingestion's object store port (functions/app/ports.ts): one suite, run against the
 * in-memory fake (test/unit/) and the S3 adapter on the S3 stand-in (test/integration/).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ObjectStore } from '../../../functions/app/ports';
import { InvalidImage } from '../../../functions/domain/errors';

export interface ObjectStoreFixture {
  store: ObjectStore;
  bucket: string;
  /** The store's read limit. */
  maxBytes: number;
  /** Puts an object where the store reads it (an upload, in production). */
  put(key: string, bytes: Uint8Array, metadata?: Record<string, string>): Promise<void>;
  remove(key: string): Promise<void>;
}

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

export function objectStoreContract(
  name: string,
  setUp: () => ObjectStoreFixture | Promise<ObjectStoreFixture>,
): void {
  describe(`${name}: ObjectStore contract`, () => {
    let fixture: ObjectStoreFixture;
    let key: string;

    beforeEach(async () => {
      fixture = await setUp();
      key = `catalogue/contract-${randomBytes(4).toString('hex')}/item one.png`;
    });

    it('finds no object that was never put', async () => {
      expect(await fixture.store.head(fixture.bucket, key)).toBeUndefined();
      expect(await fixture.store.read(fixture.bucket, key)).toBeUndefined();
    });

    it('heads an object with its etag (unquoted), size and lower-case metadata, and reads its bytes', async () => {
      const bytes = randomBytes(300);
      await fixture.put(key, bytes, { Title: 'Red hat', category: 'hats' });
      const head = await fixture.store.head(fixture.bucket, key);
      expect(head).toMatchObject({ etag: md5(bytes), size: 300 });
      expect(head?.metadata).toMatchObject({ title: 'Red hat', category: 'hats' });
      expect(Buffer.from((await fixture.store.read(fixture.bucket, key)) ?? [])).toEqual(Buffer.from(bytes));
    });

    it('sees a replacement as new content and a delete as no object', async () => {
      await fixture.put(key, randomBytes(64));
      const replacement = randomBytes(65);
      await fixture.put(key, replacement);
      expect((await fixture.store.head(fixture.bucket, key))?.etag).toBe(md5(replacement));
      await fixture.remove(key);
      expect(await fixture.store.head(fixture.bucket, key)).toBeUndefined();
      expect(await fixture.store.read(fixture.bucket, key)).toBeUndefined();
    });

    it('refuses to read an object above its limit with InvalidImage file_too_large, but heads it', async () => {
      await fixture.put(key, randomBytes(fixture.maxBytes + 1));
      expect((await fixture.store.head(fixture.bucket, key))?.size).toBe(fixture.maxBytes + 1);
      const refused = fixture.store.read(fixture.bucket, key);
      await expect(refused).rejects.toBeInstanceOf(InvalidImage);
      await expect(refused).rejects.toMatchObject({ code: 'file_too_large' });
      await fixture.put(key, randomBytes(fixture.maxBytes));
      expect((await fixture.store.read(fixture.bucket, key))?.length).toBe(fixture.maxBytes);
    });
  });
}

import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ObjectHead, ObjectStore } from '../../app/ports';
import { InvalidImage } from '../../domain/errors';
import { isMissing } from './s3-errors';

/** ObjectStore on S3; reads the exact version an event names when the bucket is versioned. */
export class S3ObjectStore implements ObjectStore {
  constructor(
    private readonly client: S3Client,
    /** Refuse to download bodies above this size (the embedder would reject them anyway). */
    private readonly maxBytes: number,
  ) {}

  async head(bucket: string, key: string, versionId?: string): Promise<ObjectHead | undefined> {
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
      );
      return {
        etag: head.ETag?.replace(/^"|"$/g, ''),
        size: head.ContentLength,
        versionId: head.VersionId,
        metadata: head.Metadata ?? {},
      };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async read(bucket: string, key: string, versionId?: string): Promise<Uint8Array | undefined> {
    try {
      const object = await this.client.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
      );
      if ((object.ContentLength ?? 0) > this.maxBytes) {
        await object.Body?.transformToWebStream().cancel();
        throw new InvalidImage(
          'file_too_large',
          `the object is ${object.ContentLength} bytes; the limit is ${this.maxBytes}`,
        );
      }
      return (await object.Body?.transformToByteArray()) ?? new Uint8Array(0);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }
}

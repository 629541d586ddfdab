import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import type { SpaceSnapshot, SpaceSnapshots } from '../../app/rollout';
import { CatalogueIndex, readPointer, type SnapshotPointer, snapshotPrefix } from './snapshot-index';

const summary = ({ count, watermark, createdAt }: SnapshotPointer): SpaceSnapshot => ({
  count,
  watermark,
  createdAt,
});

/** The exact index's snapshots per space, read (and written, as the compactor would) by the rollout. */
export class S3SpaceSnapshots implements SpaceSnapshots {
  constructor(
    private readonly deps: { dynamo: DynamoDBClient; s3: S3Client; itemsTable: string; bucket: string },
  ) {}

  async current(space: string): Promise<SpaceSnapshot | undefined> {
    const pointer = await readPointer(this.deps.s3, this.deps.bucket, space);
    return pointer ? summary(pointer) : undefined;
  }

  /** The compactor's work for `space`: load its last snapshot plus every change since, write a new one. */
  async write(space: string, dim: number, now: number): Promise<SpaceSnapshot> {
    const catalogue = await CatalogueIndex.load({ ...this.deps, modelId: space, dim });
    const { pointer } = await catalogue.writeSnapshot(now);
    return summary(pointer);
  }

  /** Every object under the space's prefix, the pointer first, so no reader follows it to a deleted snapshot. */
  async remove(space: string): Promise<void> {
    const { s3, bucket } = this.deps;
    const keys: string[] = [];
    for await (const page of paginateListObjectsV2(
      { client: s3 },
      { Bucket: bucket, Prefix: snapshotPrefix(space) },
    ))
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
    keys.sort((a, b) => Number(b.endsWith('/latest.json')) - Number(a.endsWith('/latest.json')));
    for (const key of keys) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }
}

import { readFileSync } from 'node:fs';
import type { S3EventRecord } from 'aws-lambda';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import { encodeNotificationKey } from '../../functions/adapters/s3/notifications';
import type { ObjectHead, ObjectStore } from '../../functions/app/ports';
import { Embedder } from '../../functions/embedding/embedder';
import { emojiImages } from '../support/images';
import { ingestRecord } from '../support/ingest-notification';
import { useLocalStack } from '../support/local-stack';

/**
 * A versioned bucket as S3 keeps it (s3rver keeps no versions): every put adds a version, a plain
 * delete adds a delete marker, and a version (or a marker) can be removed for good.
 */
class VersionedBucket implements ObjectStore {
  private readonly versions = new Map<
    string,
    Array<{ versionId: string; bytes?: Uint8Array; etag: string }>
  >();
  private counter = 0;

  put(key: string, bytes: Uint8Array): string {
    const versionId = `v${++this.counter}`;
    this.list(key).push({ versionId, bytes, etag: `etag-${versionId}` });
    return versionId;
  }
  deleteMarker(key: string): string {
    const versionId = `m${++this.counter}`;
    this.list(key).push({ versionId, etag: '' });
    return versionId;
  }
  removeVersion(key: string, versionId: string): void {
    this.versions.set(
      key,
      this.list(key).filter((v) => v.versionId !== versionId),
    );
  }
  private list(key: string) {
    const list = this.versions.get(key) ?? [];
    this.versions.set(key, list);
    return list;
  }
  private find(key: string, versionId?: string) {
    const list = this.list(key);
    const version = versionId ? list.find((v) => v.versionId === versionId) : list[list.length - 1];
    return version?.bytes ? version : undefined;
  }
  async head(_bucket: string, key: string, versionId?: string): Promise<ObjectHead | undefined> {
    const version = this.find(key, versionId);
    return version ? { etag: version.etag, versionId: version.versionId, metadata: {} } : undefined;
  }
  async read(_bucket: string, key: string, versionId?: string): Promise<Uint8Array | undefined> {
    return this.find(key, versionId)?.bytes;
  }
}

const stack = useLocalStack();
let sequencer = 0x100;
const record = (eventName: string, key: string, versionId: string, etag?: string) =>
  ({
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: new Date().toISOString(),
    eventName,
    s3: {
      bucket: { name: 'b', arn: 'arn:aws:s3:::b' },
      object: {
        key: encodeNotificationKey(key),
        versionId,
        sequencer: (sequencer++).toString(16).toUpperCase(),
        ...(etag ? { eTag: etag } : {}),
      },
    },
  }) as unknown as S3EventRecord;

describe('deletes in a versioned bucket', () => {
  let embedder: Embedder;
  beforeAll(async () => {
    embedder = await Embedder.load();
  });

  it('tombstones on a delete marker, and brings the item back when the marker is removed', async () => {
    const bucket = new VersionedBucket();
    const deps = {
      repository: new CatalogueRepository(stack.dynamoDbClient, stack.tables.Items ?? ''),
      objects: bucket,
      embedders: [embedder],
    };
    const key = 'catalogue/hats/H-1.png';
    const v1 = bucket.put(key, readFileSync(emojiImages()[10]?.file as string));
    expect((await ingestRecord(deps, record('ObjectCreated:Put', key, v1, `etag-${v1}`))).outcome).toBe(
      'ready',
    );

    const marker = bucket.deleteMarker(key);
    expect((await ingestRecord(deps, record('ObjectRemoved:DeleteMarkerCreated', key, marker))).outcome).toBe(
      'deleted',
    );
    expect((await deps.repository.get('H-1'))?.status).toBe('deleted');

    bucket.removeVersion(key, marker);
    expect((await ingestRecord(deps, record('ObjectRemoved:Delete', key, marker))).outcome).toBe('ready');
    expect((await deps.repository.get('H-1'))?.status).toBe('ready');
  });

  it('keeps the item when an old version is removed for good, and tombstones when the last one goes', async () => {
    const bucket = new VersionedBucket();
    const deps = {
      repository: new CatalogueRepository(stack.dynamoDbClient, stack.tables.Items ?? ''),
      objects: bucket,
      embedders: [embedder],
    };
    const key = 'catalogue/hats/H-2.png';
    const v1 = bucket.put(key, readFileSync(emojiImages()[11]?.file as string));
    await ingestRecord(deps, record('ObjectCreated:Put', key, v1, `etag-${v1}`));
    const v2 = bucket.put(key, readFileSync(emojiImages()[12]?.file as string));
    await ingestRecord(deps, record('ObjectCreated:Put', key, v2, `etag-${v2}`));
    const before = await deps.repository.get('H-2');

    bucket.removeVersion(key, v1);
    expect((await ingestRecord(deps, record('ObjectRemoved:Delete', key, v1))).outcome).toBe(
      'metadata_updated',
    );
    const after = await deps.repository.get('H-2');
    expect(after?.status).toBe('ready');
    expect(after?.source.versionId).toBe(v2);
    expect(Buffer.from(after?.vectors[embedder.modelId]?.buffer ?? new ArrayBuffer(0))).toEqual(
      Buffer.from(before?.vectors[embedder.modelId]?.buffer ?? new ArrayBuffer(1)),
    );

    bucket.removeVersion(key, v2);
    expect((await ingestRecord(deps, record('ObjectRemoved:Delete', key, v2))).outcome).toBe('deleted');
  });

  it('ignores a version removed from a copy that is not the item’s current image', async () => {
    const bucket = new VersionedBucket();
    const deps = {
      repository: new CatalogueRepository(stack.dynamoDbClient, stack.tables.Items ?? ''),
      objects: bucket,
      embedders: [embedder],
    };
    const older = 'catalogue/fa/H-3.png';
    const newer = 'catalogue/fb/H-3.png';
    const v1 = bucket.put(older, readFileSync(emojiImages()[13]?.file as string));
    await ingestRecord(deps, record('ObjectCreated:Put', older, v1, `etag-${v1}`));
    const v2 = bucket.put(older, readFileSync(emojiImages()[14]?.file as string));
    await ingestRecord(deps, record('ObjectCreated:Put', older, v2, `etag-${v2}`));
    const v3 = bucket.put(newer, readFileSync(emojiImages()[15]?.file as string));
    await ingestRecord(deps, record('ObjectCreated:Put', newer, v3, `etag-${v3}`));
    const current = await deps.repository.get('H-3');
    expect(current?.source).toMatchObject({ key: newer, versionId: v3 });

    // The older copy keeps a current version (v2), so its removal reads like an update of that copy.
    bucket.removeVersion(older, v1);
    expect((await ingestRecord(deps, record('ObjectRemoved:Delete', older, v1))).outcome).toBe('stale');
    const marker = bucket.deleteMarker(older);
    expect(
      (await ingestRecord(deps, record('ObjectRemoved:DeleteMarkerCreated', older, marker))).outcome,
    ).toBe('stale');

    expect(await deps.repository.get('H-3')).toEqual(current);
  });
});

/**
 * One compactor at a time without reserved concurrency: the snapshot pointer only moves forward.
 * Compactions that overlap (several stream shards, a retried batch) leave the newest snapshot in
 * place whatever order they finish in, and the losers' snapshot files are removed.
 */
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import { CatalogueIndex, readPointer, snapshotPrefix } from '../../functions/adapters/s3/snapshot-index';
import { useLocalStack } from '../support/local-stack';
import { seededUniform } from '../support/seeded-random';

const stack = useLocalStack();
const DIM = 8;
const random = seededUniform(7);
let clock = 1_700_000_000_000;

async function addItems(repository: CatalogueRepository, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const vector = Float32Array.from({ length: DIM }, () => random() - 0.5);
    const itemId = `item-${clock}`;
    clock += 1000;
    await repository.putIfNewer(
      {
        itemId,
        status: 'ready',
        source: { bucket: stack.bucket, key: `catalogue/${itemId}.png`, sequencer: '1', eventAt: clock },
        vectors: { [modelId]: vector },
        dim: DIM,
        available: true,
        createdAt: clock,
        updatedAt: clock,
      },
      clock,
    );
  }
}

let modelId = 'model-0';
const load = () =>
  CatalogueIndex.load({
    dynamo: stack.dynamoDbClient,
    s3: stack.s3Client,
    itemsTable: stack.tables.Items as string,
    bucket: stack.bucket,
    modelId,
    dim: DIM,
  });

async function snapshotFiles(): Promise<string[]> {
  const listed = await stack.s3Client.send(
    new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: snapshotPrefix(modelId) }),
  );
  return (listed.Contents ?? []).map((object) => object.Key as string).filter((key) => key.endsWith('.bin'));
}

describe('concurrent compactions', () => {
  it.each([
    ['the older finishes last', 'older-last'],
    ['the newer finishes last', 'newer-last'],
    ['both at once', 'together'],
  ])('leave the newest snapshot when %s', async (_, order) => {
    modelId = `model-${order}`;
    const repository = new CatalogueRepository(stack.dynamoDbClient, stack.tables.Items as string);
    await addItems(repository, 3);
    const older = await load();
    await addItems(repository, 2);
    const newer = await load();
    expect(newer.watermark).toBeGreaterThan(older.watermark);

    if (order === 'older-last') {
      await newer.writeSnapshot();
      expect((await older.writeSnapshot()).written).toBe(false);
    } else if (order === 'newer-last') {
      await older.writeSnapshot();
      expect((await newer.writeSnapshot()).written).toBe(true);
    } else {
      await Promise.all([older.writeSnapshot(), newer.writeSnapshot()]);
    }
    const pointer = await readPointer(stack.s3Client, stack.bucket, modelId);
    expect(pointer).toMatchObject({ watermark: newer.watermark, count: newer.index.size });
    // The pointer's snapshot is there, beside at most the one it replaced (kept for cold starts that
    // read the previous pointer); a snapshot that lost the race is never left behind.
    const files = await snapshotFiles();
    expect(files).toContain(pointer?.key);
    expect(files.length).toBeLessThanOrEqual(order === 'older-last' ? 1 : 2);
  });

  it('ten rounds of two compactions racing never move the pointer back', async () => {
    modelId = 'model-rounds';
    const repository = new CatalogueRepository(stack.dynamoDbClient, stack.tables.Items as string);
    for (let round = 0; round < 10; round++) {
      await addItems(repository, 1);
      const a = await load();
      await addItems(repository, 1);
      const b = await load();
      const racers = round % 2 === 0 ? [a, b] : [b, a];
      await Promise.all(racers.map((index) => index.writeSnapshot()));
      const pointer = await readPointer(stack.s3Client, stack.bucket, modelId);
      expect(pointer?.watermark).toBe(b.watermark);
    }
  });
});

describe("the S3 stand-in's conditional writes, as S3 does them", () => {
  const put = (body: string, condition: { IfMatch?: string; IfNoneMatch?: string }) =>
    stack.s3Client
      .send(
        new PutObjectCommand({
          Bucket: stack.bucket,
          Key: 'index/conditional.json',
          Body: body,
          ...condition,
        }),
      )
      .then(
        (output) => ({ status: 200, etag: output.ETag }),
        (error: { $metadata?: { httpStatusCode?: number }; name?: string }) => ({
          status: error.$metadata?.httpStatusCode,
          etag: error.name,
        }),
      );

  it('creates only a free key with If-None-Match: *, and replaces only the named version with If-Match', async () => {
    const created = await put('one', { IfNoneMatch: '*' });
    expect(created.status).toBe(200);
    expect(await put('two', { IfNoneMatch: '*' })).toEqual({ status: 412, etag: 'PreconditionFailed' });
    expect(await put('two', { IfMatch: '"0123456789abcdef0123456789abcdef"' })).toEqual({
      status: 412,
      etag: 'PreconditionFailed',
    });
    const replaced = await put('two', { IfMatch: created.etag as string });
    expect(replaced.status).toBe(200);
    // The first ETag is stale now.
    expect((await put('three', { IfMatch: created.etag as string })).status).toBe(412);
  });
});

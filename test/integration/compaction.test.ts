/**
 * One compactor at a time without reserved concurrency: the snapshot pointer only moves forward.
 * Compactions that overlap (several stream shards, a retried batch) leave the newest snapshot in
 * place whatever order they finish in, and the losers' snapshot files are removed.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import {
  CatalogueIndex,
  downloadRanges,
  downloadSnapshot,
  type IndexLoad,
  readPointer,
  snapshotPrefix,
} from '../../functions/adapters/s3/snapshot-index';
import { ExactIndex, type SnapshotLayout, snapshotLayout } from '../../functions/vector-index';
import { useLocalStack } from '../support/local-stack';
import { seededUniform } from '../support/seeded-random';

const stack = useLocalStack();
const DIM = 8;
const random = seededUniform(7);
let clock = 1_700_000_000_000;

async function addItems(
  repository: CatalogueRepository,
  count: number,
  extra: (i: number) => { tags?: string[]; price?: number } = () => ({}),
): Promise<void> {
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
        ...extra(i),
        createdAt: clock,
        updatedAt: clock,
      },
      clock,
    );
  }
}

let modelId = 'model-0';
const load = (overlapMs?: number, onLoaded?: (load: IndexLoad) => void) =>
  CatalogueIndex.load({
    dynamo: stack.dynamoDbClient,
    s3: stack.s3Client,
    itemsTable: stack.tables.Items as string,
    bucket: stack.bucket,
    modelId,
    dim: DIM,
    overlapMs,
    ...(onLoaded ? { onLoaded } : {}),
  });

/** The snapshot the pointer names, as stored. */
async function storedSnapshot(key: string): Promise<Buffer> {
  const object = await stack.s3Client.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
  return Buffer.from((await object.Body?.transformToByteArray()) as Uint8Array);
}

/**
 * A format-6 snapshot as an older format writes it: int16 rows (5) or float32 rows (3 and 4, and
 * format 4's int8 copy), quantised to int8 on load.
 */
function asFormat(version: 3 | 4 | 5, v6: Buffer): Buffer {
  expect(v6.readUInt16LE(4)).toBe(6);
  return Buffer.from(ExactIndex.deserialise(new Uint8Array(v6)).serialise(version));
}

/** A format-3 snapshot as format 2 wrote it: no prices, tag offsets, tag references or tag labels. */
function asFormat2(v3: Buffer): Buffer {
  expect(v3.readUInt16LE(4)).toBe(3);
  const count = v3.readUInt32LE(12);
  const categoryCount = v3.readUInt32LE(16);
  const matrix = v3.readUInt32LE(24);
  const tagOffsets = 32 + 16 * count;
  const labelsStart = tagOffsets + 4 * (count + 1) + 4 * v3.readUInt32LE(tagOffsets + 4 * count);
  let labelsEnd = labelsStart;
  for (let i = 0; i < count + categoryCount; i++) labelsEnd += 2 + v3.readUInt16LE(labelsEnd);
  const v2LabelsStart = 32 + 8 * count;
  const v2Matrix = Math.ceil((v2LabelsStart + labelsEnd - labelsStart) / 64) * 64;
  const v2 = Buffer.alloc(v2Matrix + v3.length - matrix);
  v3.copy(v2, 0, 0, v2LabelsStart);
  v3.copy(v2, v2LabelsStart, labelsStart, labelsEnd);
  v3.copy(v2, v2Matrix, matrix);
  v2.writeUInt16LE(2, 4);
  v2.writeUInt32LE(labelsEnd - labelsStart, 20);
  v2.writeUInt32LE(v2Matrix, 24);
  v2.writeUInt32LE(0, 28);
  return v2;
}

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

describe('tags and prices', () => {
  const extra = (i: number) => (i % 3 === 2 ? {} : { tags: [`tag-${i % 4}`, 'ünï-🧵'], price: i + 0.99 });

  it('reach the snapshot from the items table rows', async () => {
    modelId = 'model-tags';
    const repository = new CatalogueRepository(stack.dynamoDbClient, stack.tables.Items as string);
    const first = clock;
    await addItems(repository, 6, extra);
    const { pointer, written } = await (await load()).writeSnapshot();
    expect(written).toBe(true);
    expect(pointer.format).toBe(6);
    const snapshot = ExactIndex.deserialise(new Uint8Array(await storedSnapshot(pointer.key)));
    expect(snapshot.attributes(`item-${first}`)).toMatchObject({ tags: ['tag-0', 'ünï-🧵'], price: 0.99 });
    expect(snapshot.attributes(`item-${first + 1000}`)).toMatchObject({
      tags: ['tag-1', 'ünï-🧵'],
      price: 1.99,
    });
    expect(snapshot.attributes(`item-${first + 2000}`)).toStrictEqual({
      available: true,
      publishedAt: first + 3000,
    });
  });

  it('an older snapshot is not read: the index is rebuilt from the rows and the next compaction upgrades it', async () => {
    modelId = 'model-upgrade';
    const repository = new CatalogueRepository(stack.dynamoDbClient, stack.tables.Items as string);
    const first = clock;
    await addItems(repository, 6, extra);
    const { pointer } = await (await load()).writeSnapshot();
    // The same snapshot as the code before format 3 left it: format 2, and a pointer without a format.
    const { format: _format, ...oldPointer } = pointer;
    const v2 = asFormat2(asFormat(3, await storedSnapshot(pointer.key)));
    expect(ExactIndex.deserialise(new Uint8Array(v2)).attributes(`item-${first}`)).toStrictEqual({
      available: true,
      publishedAt: first + 1000,
    });
    await stack.s3Client.send(new PutObjectCommand({ Bucket: stack.bucket, Key: pointer.key, Body: v2 }));
    await stack.s3Client.send(
      new PutObjectCommand({
        Bucket: stack.bucket,
        Key: `${snapshotPrefix(modelId)}latest.json`,
        Body: JSON.stringify(oldPointer),
      }),
    );

    // No overlap: had the snapshot been read, no row would be applied again.
    const upgraded = await load(0);
    expect(upgraded.watermark).toBe(pointer.watermark);
    expect(upgraded.index.attributes(`item-${first}`)).toMatchObject({
      tags: ['tag-0', 'ünï-🧵'],
      price: 0.99,
    });
    const rewrite = await upgraded.writeSnapshot();
    expect(rewrite.written).toBe(true);
    expect(rewrite.pointer).toMatchObject({
      watermark: pointer.watermark,
      format: 6,
      previousKey: pointer.key,
    });
    const snapshot = ExactIndex.deserialise(new Uint8Array(await storedSnapshot(rewrite.pointer.key)));
    expect(snapshot.attributes(`item-${first}`)).toMatchObject({ tags: ['tag-0', 'ünï-🧵'], price: 0.99 });
    // Now current: the next compaction at the same watermark has nothing to write.
    expect((await (await load(0)).writeSnapshot()).written).toBe(false);
  });
});

describe('formats 3 to 5, the float32 and int16 formats before the int8 rows', () => {
  it.each([3, 4, 5] as const)(
    'format %i is read as it is (not rebuilt from the rows), and the next compaction rewrites it as format 6',
    async (version) => {
      modelId = `model-format-${version}`;
      const repository = new CatalogueRepository(stack.dynamoDbClient, stack.tables.Items as string);
      const first = clock;
      await addItems(repository, 40, (i) => ({ tags: [`tag-${i % 3}`], price: i + 0.5 }));
      const { pointer } = await (await load()).writeSnapshot();
      // The bucket as older code left it: a format-3, 4 or 5 snapshot and pointer.
      const older = asFormat(version, await storedSnapshot(pointer.key));
      const size = older.length;
      await stack.s3Client.send(
        new PutObjectCommand({ Bucket: stack.bucket, Key: pointer.key, Body: older }),
      );
      await stack.s3Client.send(
        new PutObjectCommand({
          Bucket: stack.bucket,
          Key: `${snapshotPrefix(modelId)}latest.json`,
          // Pointers before format 5 named no size either: the first part is read alone to learn it.
          Body: JSON.stringify({ ...pointer, format: version, bytes: version === 5 ? size : undefined }),
        }),
      );

      const loads: IndexLoad[] = [];
      // No overlap: the 40 rows are applied again only if the snapshot was not read.
      const fromOld = await load(0, (loaded) => loads.push(loaded));
      expect(loads[0]).toMatchObject({ format: version, items: 40, changedRows: 0 });
      expect(fromOld.watermark).toBe(pointer.watermark);
      expect(fromOld.index.attributes(`item-${first + 1000}`)).toMatchObject({
        tags: ['tag-1'],
        price: 1.5,
      });

      const rewrite = await fromOld.writeSnapshot();
      expect(rewrite).toMatchObject({ written: true, pointer: { format: 6, watermark: pointer.watermark } });
      expect((await storedSnapshot(rewrite.pointer.key)).readUInt16LE(4)).toBe(6);
      const fromFormat6 = await load(0, (loaded) => loads.push(loaded));
      expect(loads[1]).toMatchObject({ format: 6, items: 40, changedRows: 0 });
      for (let q = 0; q < 10; q++) {
        const query = Float32Array.from({ length: DIM }, () => random() - 0.5);
        const request = { queries: [query], k: 5, candidates: 5 };
        expect(fromFormat6.index.search(request)).toEqual(fromOld.index.search(request));
      }
      expect((await (await load(0)).writeSnapshot()).written).toBe(false);
    },
  );
});

describe('downloadSnapshot', () => {
  it('reads an object of several ranged parts into one aligned buffer, byte for byte', async () => {
    // Three 8 MiB parts and a few bytes: the head part, parts side by side, and a short last one.
    const body = Buffer.alloc(3 * 8 * 1024 * 1024 + 3);
    const fill = seededUniform(11);
    for (let i = 0; i < body.length; i += 4096) body[i] = Math.floor(fill() * 256);
    body[body.length - 1] = 0xee;
    for (const [key, bytes] of [
      ['index/download/large.bin', body],
      ['index/download/small.bin', body.subarray(0, 100)],
    ] as const) {
      await stack.s3Client.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: bytes }));
      // Without the size (older pointers: the first part alone, then the rest), and with it (all at once).
      for (const known of [undefined, bytes.length]) {
        const downloaded = await downloadSnapshot(stack.s3Client, stack.bucket, key, known);
        expect(downloaded.byteOffset).toBe(0);
        expect(downloaded.byteLength).toBe(bytes.length);
        expect(Buffer.from(downloaded).equals(bytes)).toBe(true);
      }
    }
  });

  it('refuses an object whose size is not the one the pointer names', async () => {
    const key = 'index/download/resized.bin';
    await stack.s3Client.send(
      new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: Buffer.alloc(3 * 1024 * 1024) }),
    );
    for (const named of [2 * 1024 * 1024, 4 * 1024 * 1024]) {
      await expect(downloadSnapshot(stack.s3Client, stack.bucket, key, named)).rejects.toThrow(
        `snapshot ${key}: ${3 * 1024 * 1024} bytes, the pointer says ${named}`,
      );
    }
  });

  it("a compaction's pointer names its snapshot's size, and a cold start loads it", async () => {
    modelId = 'model-sized-pointer';
    const repository = new CatalogueRepository(stack.dynamoDbClient, stack.tables.Items as string);
    await addItems(repository, 30);
    const { pointer } = await (await load()).writeSnapshot();
    expect(pointer.bytes).toBe((await storedSnapshot(pointer.key)).length);
    expect(await readPointer(stack.s3Client, stack.bucket, modelId)).toEqual(pointer);
    const loads: IndexLoad[] = [];
    const loaded = await load(0, (phases) => loads.push(phases));
    expect(loads[0]).toMatchObject({ format: 6, items: 30, snapshotBytes: pointer.bytes, changedRows: 0 });
    expect(loads[0]?.totalMs).toBeGreaterThan(0);
    expect(loaded.watermark).toBe(pointer.watermark);
  });
});

describe("a pointer with its snapshot's layout", () => {
  it('downloads ranges of an object into their own buffers, dropping the bytes between them', async () => {
    const key = 'index/download/ranges.bin';
    const body = Buffer.alloc(2 * 1024 * 1024 + 77);
    const fill = seededUniform(13);
    for (let i = 0; i < body.length; i++) body[i] = Math.floor(fill() * 256);
    await stack.s3Client.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: body }));
    // Ranges that start and end inside the 1 MiB parts and across their edges.
    const ranges = [
      { offset: 0, target: new Uint8Array(1000) },
      { offset: 1024 * 1024 - 10, target: new Uint8Array(1024 * 1024) },
      { offset: body.length - 50, target: new Uint8Array(50) },
    ];
    await downloadRanges(stack.s3Client, stack.bucket, key, body.length, ranges);
    for (const { offset, target } of ranges)
      expect(Buffer.from(target).equals(body.subarray(offset, offset + target.length))).toBe(true);
    await expect(downloadRanges(stack.s3Client, stack.bucket, key, body.length + 1, ranges)).rejects.toThrow(
      `snapshot ${key}: ${body.length} bytes, the pointer says ${body.length + 1}`,
    );
  });

  it('a compaction writes where the rows and scales lie, and a cold start downloads them straight into the index', async () => {
    modelId = 'model-layout';
    const repository = new CatalogueRepository(stack.dynamoDbClient, stack.tables.Items as string);
    await addItems(repository, 50, (i) => ({ tags: [`tag-${i % 4}`], price: i }));
    const { pointer } = await (await load()).writeSnapshot();
    const stored = await storedSnapshot(pointer.key);
    expect(pointer.layout).toEqual(snapshotLayout(stored));
    const loads: IndexLoad[] = [];
    const loaded = await load(0, (phases) => loads.push(phases));
    expect(loads[0]).toMatchObject({ format: 6, items: 50, snapshotBytes: stored.length, rowsInPlace: true });
    // The index it built is the snapshot, byte for byte.
    expect(Buffer.from(loaded.index.serialise()).equals(stored)).toBe(true);
  });

  it('reads the snapshot whole when the layout is not its own, or not usable', async () => {
    modelId = 'model-wrong-layout';
    const repository = new CatalogueRepository(stack.dynamoDbClient, stack.tables.Items as string);
    await addItems(repository, 20);
    const { pointer } = await (await load()).writeSnapshot();
    const stored = await storedSnapshot(pointer.key);
    const layout = pointer.layout as SnapshotLayout;
    for (const wrong of [
      // Plausible, but not where this snapshot's rows are: refused once downloaded, then read whole.
      { ...layout, matrixOffset: layout.matrixOffset - 64 },
      // Not usable at all: another stride, scales past the end, offsets that are not whole numbers.
      { ...layout, stride: layout.stride + 32 },
      { ...layout, scalesOffset: layout.scalesOffset + 4 },
      { ...layout, matrixOffset: 'x' },
    ]) {
      await stack.s3Client.send(
        new PutObjectCommand({
          Bucket: stack.bucket,
          Key: `${snapshotPrefix(modelId)}latest.json`,
          Body: JSON.stringify({ ...pointer, layout: wrong }),
        }),
      );
      const loads: IndexLoad[] = [];
      const loaded = await load(0, (phases) => loads.push(phases));
      expect(loads[0]).toMatchObject({ format: 6, items: 20, changedRows: 0, rowsInPlace: false });
      expect(Buffer.from(loaded.index.serialise()).equals(stored)).toBe(true);
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

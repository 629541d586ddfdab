/**
 * Catalogue ingestion end to end, through the real embed handler: s3rver (AWS-format notifications)
 * -> routeObjectEvents -> LocalQueue (retries, DLQ) -> handler -> DynamoDB Local, with real images.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { CopyObjectCommand, DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3EventRecord } from 'aws-lambda';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import { S3ObjectStore } from '../../functions/adapters/s3/object-store';
import type { CatalogueItem } from '../../functions/domain/catalogue-item';
import { normaliseSequencer } from '../../functions/domain/catalogue-key';
import { DEFAULT_IMAGE_LIMITS, Embedder } from '../../functions/embedding/embedder';
import { type ObjectEventRoute, routeObjectEvents } from '../../infra/local/harness';
import { LocalQueue, type SqsBatchHandler } from '../../infra/local/queue';
import type { S3NotificationRecord } from '../../infra/local/s3-local';
import { catalogueJpeg, emojiImages } from '../support/images';
import { ingestRecord } from '../support/ingest-notification';
import { useLocalStack } from '../support/local-stack';

const stack = useLocalStack({
  env: ({ tables, bucket }) => ({
    ITEMS_TABLE: tables.Items ?? '',
    CATALOGUE_BUCKET: bucket,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
  }),
});

let handler: SqsBatchHandler;
/** Loaded like `npm run embed` does: the vectors the handler stores must equal its, bit for bit. */
let reference: Embedder;
let repository: CatalogueRepository;
let embedSpy: jest.SpyInstance;
const writeSpies: Record<
  'putIfNewer' | 'tombstoneIfUnchanged' | 'updateAttributesIfNewer',
  jest.SpyInstance
> = {} as never;

beforeAll(async () => {
  // The handler reads its environment and creates its clients at module load: import it only now.
  ({ handler } = await import('../../functions/handlers/embed'));
  reference = await Embedder.load();
  repository = new CatalogueRepository(stack.dynamoDbClient, stack.tables.Items ?? '');
  // Call-through spies: the handler's embedder and repository are instances of these same classes.
  embedSpy = jest.spyOn(Embedder.prototype, 'embed');
  for (const method of ['putIfNewer', 'tombstoneIfUnchanged', 'updateAttributesIfNewer'] as const) {
    writeSpies[method] = jest.spyOn(CatalogueRepository.prototype, method);
  }
});
afterAll(() => jest.restoreAllMocks());

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** The stack's queue and event source mapping, with short timeouts. `route: false` leaves S3 unwired. */
function ingestionQueue(options: { route?: false | ObjectEventRoute; batchWindowMs?: number } = {}) {
  const batches: string[][] = [];
  const queue = new LocalQueue({
    name: 'lookalike-ingest',
    handler: (event, context) => {
      batches.push(event.Records.map((record) => record.body));
      return handler(event, context);
    },
    batchSize: 5,
    maxReceiveCount: 3,
    visibilityTimeoutMs: 100,
    batchWindowMs: options.batchWindowMs ?? 0,
  });
  const unroute =
    options.route === false
      ? () => undefined
      : routeObjectEvents(stack.s3, queue, { bucket: stack.bucket, ...options.route });
  closers.push(async () => {
    unroute();
    await queue.stop();
  });
  return { queue, batches, unroute };
}

// Generous: Jest runs test files in parallel, and the model tier can hold both cores for minutes.
const drain = (queue: LocalQueue) => queue.drain({ timeoutMs: 110_000 });
const message = (record: S3NotificationRecord) => JSON.stringify({ Records: [record] });

async function put(key: string, body: Buffer | string, metadata?: Record<string, string>) {
  return stack.s3Client.send(
    new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: body, Metadata: metadata }),
  );
}

async function item(itemId: string): Promise<CatalogueItem> {
  const stored = await repository.get(itemId);
  if (!stored) throw new Error(`no item ${itemId}`);
  return stored;
}

const vectorOf = (stored: CatalogueItem) => stored.vectors[reference.modelId] ?? new Float32Array(0);
const bytesOf = (vector: Float32Array) => Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
const md5 = (body: Buffer | string) => createHash('md5').update(body).digest('hex');
/** Embeds by the handler only (the reference embedder's calls are not counted). */
const handlerEmbeds = () => embedSpy.mock.contexts.filter((context) => context !== reference).length;

/** Conditional writes the repository applied to one item, by method. */
async function appliedWrites(itemId: string): Promise<Record<keyof typeof writeSpies, number>> {
  const counts = { putIfNewer: 0, tombstoneIfUnchanged: 0, updateAttributesIfNewer: 0 };
  for (const [method, spy] of Object.entries(writeSpies) as Array<
    [keyof typeof writeSpies, jest.SpyInstance]
  >) {
    const outcomes = await Promise.all(
      spy.mock.results.map((result) => Promise.resolve(result.value).catch(() => false)),
    );
    spy.mock.calls.forEach((call, i) => {
      const target = typeof call[0] === 'string' ? call[0] : (call[0] as CatalogueItem).itemId;
      if (target === itemId && outcomes[i] === true) counts[method]++;
    });
  }
  return counts;
}

const images = emojiImages();
const emoji = (n: number) => {
  const image = images[(n * 37) % images.length];
  if (!image) throw new Error('no emoji images');
  return image;
};
const png = (n: number) => readFile(emoji(n).file);

describe('catalogue ingestion through the embed handler', () => {
  it('turns 50 uploaded images into ready items with the embedder’s exact vectors and their metadata', async () => {
    const { queue } = ingestionQueue();
    const uploads = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const source = emoji(i);
        const itemId = `sku-${String(i).padStart(3, '0')}`;
        const asJpeg = i % 2 === 1;
        const body = asJpeg ? await catalogueJpeg(source.file) : await readFile(source.file);
        const folder = i % 3 === 0 ? `${source.category}/` : '';
        const metadata =
          i % 4 === 1
            ? {
                title: source.name,
                category: source.subcategory,
                price: `${i}.99`,
                tags: `emoji, ${source.subcategory}, emoji`,
                available: i % 8 === 1 ? 'false' : 'true',
              }
            : undefined;
        return {
          itemId,
          key: `catalogue/${folder}${itemId}.${asJpeg ? 'jpg' : 'png'}`,
          body,
          source,
          folder,
          metadata,
        };
      }),
    );

    await Promise.all(uploads.map((upload) => put(upload.key, upload.body, upload.metadata)));
    await drain(queue);

    expect(queue.stats()).toMatchObject({ sent: 50, received: 50, succeeded: 50, deadLettered: 0 });
    for (const upload of uploads) {
      const stored = await item(upload.itemId);
      const vector = vectorOf(stored);
      expect(stored).toMatchObject({
        status: 'ready',
        dim: reference.dim,
        source: { key: upload.key, etag: md5(upload.body) },
      });
      expect(vector).toHaveLength(reference.manifest.output.dim);
      expect(Math.hypot(...vector)).toBeCloseTo(1, 5);
      expect(bytesOf(vector)).toEqual(bytesOf((await reference.embed(upload.body)).vector));
      const category = upload.metadata?.category ?? (upload.folder ? upload.source.category : undefined);
      expect({
        title: stored.title,
        category: stored.category,
        price: stored.price,
        tags: stored.tags,
        available: stored.available,
      }).toEqual(
        upload.metadata
          ? {
              title: upload.source.name,
              category,
              price: Number(upload.metadata.price),
              tags: ['emoji', upload.source.subcategory],
              available: upload.metadata.available === 'true',
            }
          : { title: undefined, category, price: undefined, tags: undefined, available: true },
      );
    }
  }, 300_000);

  it('writes once when the same notification is delivered twice (and again later)', async () => {
    const { queue } = ingestionQueue({ route: false });
    const body = await png(101);
    const [created] = await stack.eventsDuring(() => put('catalogue/duplicate.png', body));
    const embedsBefore = handlerEmbeds();

    queue.send(message(created as S3NotificationRecord));
    queue.send(message(created as S3NotificationRecord));
    await drain(queue);
    const first = await item('duplicate');
    queue.send(message(created as S3NotificationRecord));
    await drain(queue);

    const last = await item('duplicate');
    expect(last.status).toBe('ready');
    expect(last.updatedAt).toBe(first.updatedAt);
    expect(await appliedWrites('duplicate')).toEqual({
      putIfNewer: 1,
      tombstoneIfUnchanged: 0,
      updateAttributesIfNewer: 0,
    });
    expect(handlerEmbeds() - embedsBefore).toBe(1);
    expect(queue.stats()).toMatchObject({ received: 3, succeeded: 3, deadLettered: 0 });
  });

  it('never lets an older event overwrite a newer one, whatever the delivery order', async () => {
    const { queue } = ingestionQueue({ route: false });
    const key = 'catalogue/reordered.png';
    const [first, second] = [await png(102), await png(103)];
    const [createV1] = await stack.eventsDuring(() => put(key, first));
    const [createV2] = await stack.eventsDuring(() => put(key, second));

    queue.send(message(createV2 as S3NotificationRecord));
    await drain(queue);
    const afterV2 = await item('reordered');
    queue.send(message(createV1 as S3NotificationRecord));
    await drain(queue);

    const final = await item('reordered');
    expect(final.source).toMatchObject({ versionId: createV2?.s3.object.versionId, etag: md5(second) });
    expect(final.updatedAt).toBe(afterV2.updatedAt);
    expect(bytesOf(vectorOf(final))).toEqual(bytesOf((await reference.embed(second)).vector));
    expect(await appliedWrites('reordered')).toMatchObject({ putIfNewer: 1 });
  });

  it('keeps an item deleted when its create arrives after its delete', async () => {
    const { queue } = ingestionQueue({ route: false });
    const key = 'catalogue/deleted-first.png';
    const body = await png(104);
    const [created] = await stack.eventsDuring(() => put(key, body));
    const [removed] = await stack.eventsDuring(() =>
      stack.s3Client.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: key })),
    );
    // Put the bytes back without a notification: the late create must lose on order, not on a 404.
    await put(key, body);

    queue.send(message(removed as S3NotificationRecord));
    await drain(queue);
    queue.send(message(created as S3NotificationRecord));
    await drain(queue);

    expect(await item('deleted-first')).toMatchObject({ status: 'deleted', vectors: {} });
    expect(await appliedWrites('deleted-first')).toEqual({
      putIfNewer: 0,
      tombstoneIfUnchanged: 1,
      updateAttributesIfNewer: 0,
    });
  });

  it('lets a copy created before the current image was deleted take over, whatever the delivery order', async () => {
    const { queue } = ingestionQueue({ route: false });
    const orders = [
      ['createOld', 'removeOld', 'createNew'],
      ['removeOld', 'createNew', 'createOld'],
      ['createNew', 'removeOld', 'createOld'],
      ['removeOld', 'createOld', 'createNew'],
    ] as const;
    for (const [i, order] of orders.entries()) {
      const [older, newer] = [`catalogue/fa/copies-${i}.png`, `catalogue/fb/copies-${i}.png`];
      const body = await png(140 + i);
      const [createOld] = await stack.eventsDuring(async () => put(older, await png(150 + i)));
      const [createNew] = await stack.eventsDuring(() => put(newer, body));
      const [removeOld] = await stack.eventsDuring(() =>
        stack.s3Client.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: older })),
      );
      const events = { createOld, createNew, removeOld };

      for (const name of order) {
        queue.send(message(events[name] as S3NotificationRecord));
        await drain(queue);
      }

      expect({ order, item: await item(`copies-${i}`) }).toMatchObject({
        order,
        item: { status: 'ready', source: { key: newer, etag: md5(body) } },
      });
    }
  });

  it('tombstones a deleted object, and a late create of the deleted version does not resurrect it', async () => {
    const { queue, unroute } = ingestionQueue();
    const key = 'catalogue/short-lived.png';
    const body = await png(105);
    const [created] = await stack.eventsDuring(() => put(key, body));
    await drain(queue);
    expect((await item('short-lived')).status).toBe('ready');

    const [removed] = await stack.eventsDuring(() =>
      stack.s3Client.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: key })),
    );
    await drain(queue);

    const tombstone = await item('short-lived');
    expect(tombstone).toMatchObject({
      status: 'deleted',
      vectors: {},
      deletedAt: expect.any(Number),
      source: { key, sequencer: normaliseSequencer(removed?.s3.object.sequencer ?? '') },
    });
    const { Item: row } = await stack.dynamoDbClient.send(
      new GetItemCommand({ TableName: stack.tables.Items, Key: { itemId: { S: 'short-lived' } } }),
    );
    expect(row?.vectors).toBeUndefined();

    // As in a versioned bucket, the deleted version is still readable: only the order keeps it dead.
    unroute();
    const [reput] = await stack.eventsDuring(() => put(key, body));
    queue.send(message(created as S3NotificationRecord));
    await drain(queue);
    expect(await item('short-lived')).toEqual(tombstone);

    // A genuinely newer create does bring it back.
    queue.send(message(reput as S3NotificationRecord));
    await drain(queue);
    expect(await item('short-lived')).toMatchObject({
      status: 'ready',
      source: { versionId: reput?.s3.object.versionId },
    });
  });

  it('re-embeds a replaced image', async () => {
    const { queue } = ingestionQueue();
    const key = 'catalogue/replaced.jpg';
    const [before, after] = [await catalogueJpeg(emoji(106).file), await catalogueJpeg(emoji(107).file)];
    await put(key, before);
    await drain(queue);
    const original = await item('replaced');

    await put(key, after);
    await drain(queue);

    const replaced = await item('replaced');
    expect(bytesOf(vectorOf(replaced))).not.toEqual(bytesOf(vectorOf(original)));
    expect(bytesOf(vectorOf(replaced))).toEqual(bytesOf((await reference.embed(after)).vector));
    expect(replaced.source.etag).toBe(md5(after));
    expect(replaced.source.versionId).not.toBe(original.source.versionId);
    expect(replaced.createdAt).toBe(original.createdAt);
    expect(replaced.updatedAt).toBeGreaterThan(original.updatedAt);
  });

  it('updates attributes without re-embedding when only the metadata changes (CopyObject onto itself)', async () => {
    const { queue } = ingestionQueue();
    const key = 'catalogue/fruit/apple.png';
    await put(key, await png(108), { title: 'Red apple', price: '3' });
    await drain(queue);
    const original = await item('apple');
    const embedsBefore = handlerEmbeds();

    await stack.s3Client.send(
      new CopyObjectCommand({
        Bucket: stack.bucket,
        Key: key,
        CopySource: `${stack.bucket}/${key}`,
        MetadataDirective: 'REPLACE',
        Metadata: { title: 'Green apple', price: '2.5', tags: 'fruit,green', available: 'no' },
      }),
    );
    await drain(queue);

    const updated = await item('apple');
    expect(updated).toMatchObject({
      status: 'ready',
      title: 'Green apple',
      category: 'fruit',
      price: 2.5,
      tags: ['fruit', 'green'],
      available: false,
      createdAt: original.createdAt,
    });
    expect(updated.source.sequencer > original.source.sequencer).toBe(true);
    expect(bytesOf(vectorOf(updated))).toEqual(bytesOf(vectorOf(original)));
    expect(handlerEmbeds() - embedsBefore).toBe(0);
    expect(await appliedWrites('apple')).toEqual({
      putIfNewer: 1,
      tombstoneIfUnchanged: 0,
      updateAttributesIfNewer: 1,
    });
  });

  it('records rejected images with their code and does not retry them', async () => {
    const { queue } = ingestionQueue();
    const jpeg = await catalogueJpeg(emoji(109).file);

    await put('catalogue/truncated.jpg', jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    await put('catalogue/notes.jpg', 'shopping list: apples, pears\n'.repeat(20));
    await drain(queue);

    expect(await item('truncated')).toMatchObject({
      status: 'rejected',
      vectors: {},
      rejection: { code: 'truncated_image' },
    });
    expect(await item('notes')).toMatchObject({
      status: 'rejected',
      vectors: {},
      rejection: { code: 'not_an_image' },
    });
    expect(queue.stats()).toMatchObject({ received: 2, succeeded: 2, failedReceives: 0, deadLettered: 0 });
  });

  it('dead-letters a record that keeps failing after the configured receives while the rest of its batch succeeds', async () => {
    const { queue, batches } = ingestionQueue({ route: false, batchWindowMs: 50 });
    const keys = ['catalogue/batch-ok-1.png', 'catalogue/batch-broken.png', 'catalogue/batch-ok-2.png'];
    const records: S3NotificationRecord[] = [];
    for (const [i, key] of keys.entries())
      records.push(...(await stack.eventsDuring(async () => put(key, await png(110 + i)))));
    // A storage fault on one object: s3rver keeps its metadata in a JSON file beside the bytes; made
    // unreadable, HEAD and GET of that key answer 500 InternalError, which the handler cannot tell
    // from a transient S3 failure. Every other key is served normally.
    const metadataFile = path.join(
      stack.s3.directory,
      stack.bucket,
      'catalogue',
      'batch-broken.png._S3rver_metadata.json',
    );
    const metadata = await readFile(metadataFile);
    await writeFile(metadataFile, '{ not json');
    const brokenBody = message(records[1] as S3NotificationRecord);

    for (const record of records) queue.send(message(record));
    await drain(queue);

    expect(batches[0]).toHaveLength(3);
    expect(queue.stats()).toMatchObject({ received: 5, succeeded: 2, failedReceives: 3, deadLettered: 1 });
    // The handler reports failures by message id only, so the local DLQ's reason is the generic one.
    expect(queue.dlq()).toEqual([
      expect.objectContaining({ body: brokenBody, receiveCount: 3, reason: 'reported in batchItemFailures' }),
    ]);
    expect((await item('batch-ok-1')).status).toBe('ready');
    expect((await item('batch-ok-2')).status).toBe('ready');
    expect(await repository.get('batch-broken')).toBeUndefined();
    // Its actual reason: replayed through the core, the record fails on S3's 500.
    const objects = new S3ObjectStore(stack.s3Client, DEFAULT_IMAGE_LIMITS.maxBytes);
    await expect(
      ingestRecord({ repository, objects, embedders: [reference] }, records[1] as unknown as S3EventRecord),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 500 } });

    // Once the fault is fixed, redriving the dead letter ingests the object.
    await writeFile(metadataFile, metadata);
    queue.send(queue.dlq()[0]?.body ?? '');
    await drain(queue);
    expect((await item('batch-broken')).status).toBe('ready');
  });

  it('maps keys with spaces, plus signs, percent signs, unicode and nested folders to the right item', async () => {
    const { queue } = ingestionQueue();
    const cases = [
      { key: 'catalogue/red flower+1 é 🍓.png', itemId: 'red flower+1 é 🍓', category: undefined },
      { key: 'catalogue/Summer Sale/a+b (copy).jpg', itemId: 'a+b (copy)', category: 'Summer Sale' },
      {
        key: 'catalogue/nested/deeper/still deeper/100% cotton.png',
        itemId: '100% cotton',
        category: 'nested',
      },
      { key: 'catalogue/日本/商品 42.PNG', itemId: '商品 42', category: '日本' },
    ];

    // Each file's bytes fit its name: a PNG named .jpg would be rejected as extension_mismatch.
    for (const [i, { key }] of cases.entries())
      await put(key, key.endsWith('.jpg') ? await catalogueJpeg(emoji(120 + i).file) : await png(120 + i));
    await drain(queue);

    for (const { key, itemId, category } of cases) {
      const stored = await item(itemId);
      expect(stored).toMatchObject({ status: 'ready', source: { key } });
      expect(stored.category).toBe(category);
    }
    expect(queue.stats()).toMatchObject({ received: cases.length, succeeded: cases.length });
  });

  it('creates no item for objects outside catalogue/ or without an image extension', async () => {
    // Routed without a prefix filter, so the handler itself has to ignore them.
    const { queue } = ingestionQueue({ route: { prefix: '' } });
    const body = await png(130);
    const keys = [
      'uploads/outside.png',
      'catalogue/readme.txt',
      'catalogue/photo.png.bak',
      'catalogue/.png',
      'outside.png',
    ];
    const embedsBefore = handlerEmbeds();

    for (const key of keys) await put(key, body);
    await drain(queue);

    expect(queue.stats()).toMatchObject({ received: keys.length, succeeded: keys.length, deadLettered: 0 });
    for (const itemId of ['outside', 'readme', 'photo.png', 'photo'])
      expect(await repository.get(itemId)).toBeUndefined();
    expect(handlerEmbeds() - embedsBefore).toBe(0);
  });
});

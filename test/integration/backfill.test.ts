/**
 * The backfill on DynamoDB Local + s3rver with real images. Objects are uploaded with notifications
 * disabled (no route to a queue); real events, where a test needs them, are captured from the local
 * S3 and applied through the same core the embed handler uses.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3EventRecord } from 'aws-lambda';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import { S3ObjectStore } from '../../functions/adapters/s3/object-store';
import type { CatalogueItem } from '../../functions/domain/catalogue-item';
import { DEFAULT_IMAGE_LIMITS, defaultManifestPath, Embedder } from '../../functions/embedding/embedder';
import { loadManifest } from '../../functions/embedding/model-manifest';
import {
  type BackfillDeps,
  type BackfillSummary,
  backfill,
  type ListedObject,
  s3Listing,
} from '../../infra/cli/backfill';
import { catalogueJpeg, emojiImages } from '../support/images';
import { ingestRecord } from '../support/ingest-notification';
import { useLocalStack } from '../support/local-stack';

const stack = useLocalStack({ env: ({ tables }) => ({ ITEMS_TABLE: tables.Items ?? '' }) });

let embedder: Embedder;
let deps: BackfillDeps;
let embedSpy: jest.SpyInstance;
let scratch: string;

beforeAll(async () => {
  embedder = await Embedder.load();
  deps = {
    // Small pages, so the listing paginates.
    listing: s3Listing(stack.s3Client, 2),
    objects: new S3ObjectStore(stack.s3Client, DEFAULT_IMAGE_LIMITS.maxBytes),
    repository: new CatalogueRepository(stack.dynamoDbClient, stack.tables.Items ?? ''),
    embedders: [embedder],
  };
  embedSpy = jest.spyOn(Embedder.prototype, 'embed');
  scratch = await mkdtemp(path.join(tmpdir(), 'lookalike-backfill-'));
});
afterAll(async () => {
  jest.restoreAllMocks();
  await rm(scratch, { recursive: true, force: true });
});

const images = emojiImages();
const png = (n: number) => readFile(images[(n * 41) % images.length]?.file ?? '');
const bytesOf = (vector?: Float32Array) =>
  Buffer.from(vector?.buffer ?? new ArrayBuffer(0), vector?.byteOffset, vector?.byteLength);
const LOWEST_SEQUENCER = '0'.repeat(64);

async function put(key: string, body: Buffer | string, metadata?: Record<string, string>) {
  await stack.s3Client.send(
    new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: body, Metadata: metadata }),
  );
}

/** The notification S3 would have sent for `action`, captured instead of delivered. */
async function eventDuring(action: () => Promise<unknown>): Promise<S3EventRecord> {
  const records = await stack.eventsDuring(action);
  expect(records).toHaveLength(1);
  return records[0] as unknown as S3EventRecord;
}

async function item(itemId: string): Promise<CatalogueItem> {
  const stored = await deps.repository.get(itemId);
  if (!stored) throw new Error(`no item ${itemId}`);
  return stored;
}

const run = (prefix: string, embedders = deps.embedders) =>
  backfill({ ...deps, embedders }, { bucket: stack.bucket, prefix, concurrency: 3 });
const reconcile = (prefix: string, listing = deps.listing) =>
  backfill({ ...deps, listing }, { bucket: stack.bucket, prefix, concurrency: 3, reconcile: true });

/** The bucket as listed now, handed out later: a listing that events overtake. */
async function listingNow(prefix: string) {
  const objects: ListedObject[] = [];
  for await (const object of deps.listing.list(stack.bucket, prefix)) objects.push(object);
  return {
    async *list() {
      yield* objects;
    },
  };
}

/** Lets S3's whole-second LastModified tell a later write from the one an item holds. */
const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1100 - (Date.now() % 1000)));
const md5 = (body: Buffer) => createHash('md5').update(body).digest('hex');

describe('backfill', () => {
  it('embeds every catalogue image that has no item; a rerun embeds nothing', async () => {
    const uploads: Array<{ key: string; body: Buffer; metadata?: Record<string, string> }> = [
      { key: 'catalogue/first-a.png', body: await png(1) },
      {
        key: 'catalogue/first-b.png',
        body: await png(2),
        metadata: { title: 'Bee', price: '4.5', tags: 'insect' },
      },
      { key: 'catalogue/first-c.jpg', body: await catalogueJpeg(images[300]?.file ?? '') },
      {
        key: 'catalogue/first-d.jpg',
        body: await catalogueJpeg(images[900]?.file ?? ''),
        metadata: { category: 'Flags' },
      },
      { key: 'catalogue/first-e 🍓+1.png', body: await png(5) },
    ];
    for (const upload of uploads) await put(upload.key, upload.body, upload.metadata);
    await put('catalogue/first-notes.jpg', 'not an image at all\n'.repeat(10));
    await put('catalogue/first-readme.txt', 'hello');

    const summary = await run('catalogue/first-');

    expect(summary).toEqual<BackfillSummary>({
      listed: 7,
      embedded: 5,
      added_vectors: 0,
      skipped: 1,
      rejected: 1,
      failed: 0,
      updated: 0,
      removed: 0,
    });
    for (const upload of uploads) {
      const stored = await item(path.basename(upload.key).replace(/\.(png|jpg)$/, ''));
      expect(stored).toMatchObject({
        status: 'ready',
        dim: embedder.dim,
        source: { key: upload.key, sequencer: LOWEST_SEQUENCER },
      });
      expect(bytesOf(stored.vectors[embedder.modelId])).toEqual(
        bytesOf((await embedder.embed(upload.body)).vector),
      );
    }
    expect(await item('first-b')).toMatchObject({ title: 'Bee', price: 4.5, tags: ['insect'] });
    expect((await item('first-d')).category).toBe('Flags');
    expect(await item('first-notes')).toMatchObject({
      status: 'rejected',
      rejection: { code: 'not_an_image' },
    });
    const embedsBefore = embedSpy.mock.calls.length;

    const rerun = await run('catalogue/first-');

    expect(rerun).toEqual<BackfillSummary>({
      listed: 7,
      embedded: 0,
      added_vectors: 0,
      skipped: 7,
      rejected: 0,
      failed: 0,
      updated: 0,
      removed: 0,
    });
    expect(embedSpy.mock.calls.length).toBe(embedsBefore);
  });

  it('never resurrects an item tombstoned by a delete event while its object is still listed', async () => {
    const key = 'catalogue/gone-shoe.png';
    const body = await png(10);
    const created = await eventDuring(() => put(key, body));
    const removed = await eventDuring(() =>
      stack.s3Client.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: key })),
    );
    await ingestRecord(deps, created);
    await ingestRecord(deps, removed);
    const tombstone = await item('gone-shoe');
    expect(tombstone.status).toBe('deleted');
    // The object is listed again (a listing taken before the delete, or a re-put whose notification
    // was lost: the backfill cannot tell them apart), and it can be read.
    await put(key, body);

    const summary = await run('catalogue/gone-');

    expect(summary).toMatchObject({ listed: 1, embedded: 0, added_vectors: 0, skipped: 1 });
    expect(await item('gone-shoe')).toEqual(tombstone);
  });

  it('loses to every real event: a later delete removes a backfilled item, a late create takes it over', async () => {
    const deletedKey = 'catalogue/race-deleted.png';
    const takenOverKey = 'catalogue/race-taken.png';
    await put(deletedKey, await png(20));
    const created = await eventDuring(async () => put(takenOverKey, await png(21)));
    expect(await run('catalogue/race-')).toMatchObject({ embedded: 2 });

    const removed = await eventDuring(() =>
      stack.s3Client.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: deletedKey })),
    );
    expect(await ingestRecord(deps, removed)).toMatchObject({ outcome: 'deleted' });
    // The notification of the object the backfill already embedded arrives late: same content, so
    // it takes the item over without re-embedding.
    expect(await ingestRecord(deps, created)).toMatchObject({ outcome: 'metadata_updated' });

    expect(await item('race-deleted')).toMatchObject({ status: 'deleted', vectors: {} });
    expect((await item('race-taken')).source.sequencer).not.toBe(LOWEST_SEQUENCER);
    expect(await run('catalogue/race-')).toMatchObject({
      listed: 1,
      embedded: 0,
      added_vectors: 0,
      skipped: 1,
    });
  });

  it('adds a rolled-out model’s vector to ready items and leaves other state alone', async () => {
    // A second model: the same graph under another id, so its vectors must equal the active ones.
    const manifestPath = defaultManifestPath();
    const { manifest, modelPath } = loadManifest(manifestPath);
    const rolloutManifest = path.join(scratch, 'manifest.json');
    await writeFile(
      rolloutManifest,
      JSON.stringify({ ...manifest, modelId: 'rollout-test', file: path.relative(scratch, modelPath) }),
    );
    const rollout = await Embedder.load({ manifestPath: rolloutManifest });
    for (const n of [30, 31, 32]) await put(`catalogue/rollout-${n}.png`, await png(n));
    await put('catalogue/rollout-bad.png', 'not a png');
    expect(await run('catalogue/rollout-')).toMatchObject({ embedded: 3, rejected: 1 });

    const summary = await run('catalogue/rollout-', [embedder, rollout]);

    expect(summary).toEqual<BackfillSummary>({
      listed: 4,
      embedded: 0,
      added_vectors: 3,
      skipped: 1,
      rejected: 0,
      failed: 0,
      updated: 0,
      removed: 0,
    });
    for (const n of [30, 31, 32]) {
      const stored = await item(`rollout-${n}`);
      expect(bytesOf(stored.vectors['rollout-test'])).toEqual(bytesOf(stored.vectors[embedder.modelId]));
      expect(stored.source.sequencer).toBe(LOWEST_SEQUENCER);
    }
    expect((await item('rollout-bad')).vectors).toEqual({});
    expect(await run('catalogue/rollout-', [embedder, rollout])).toMatchObject({
      embedded: 0,
      added_vectors: 0,
      skipped: 4,
    });
  });

  it('runs as a CLI against the local stand-ins and prints the summary as its last line', async () => {
    await put('catalogue/cli-one.png', await png(40));
    await put('catalogue/cli-two.png', await png(41));
    const cli = path.resolve(__dirname, '../../infra/cli/backfill.ts');
    const tsx = path.resolve(__dirname, '../../node_modules/.bin/tsx');

    const { stdout } = await promisify(execFile)(
      tsx,
      [
        cli,
        '--bucket',
        stack.bucket,
        '--prefix',
        'catalogue/cli-',
        '--concurrency',
        '2',
        '--model',
        embedder.modelId,
      ],
      { env: process.env },
    );

    const lines = stdout.trim().split('\n');
    expect(JSON.parse(lines[lines.length - 1] ?? '')).toEqual<BackfillSummary>({
      listed: 2,
      embedded: 2,
      added_vectors: 0,
      skipped: 0,
      rejected: 0,
      failed: 0,
      updated: 0,
      removed: 0,
    });
    expect((await item('cli-one')).status).toBe('ready');

    // The object goes without a notification; --reconcile applies it.
    await stack.s3Client.send(
      new DeleteObjectCommand({ Bucket: stack.bucket, Key: 'catalogue/cli-two.png' }),
    );
    const reconciled = await promisify(execFile)(
      tsx,
      [cli, '--bucket', stack.bucket, '--prefix', 'catalogue/cli-', '--reconcile'],
      { env: process.env },
    );
    const summary = reconciled.stdout.trim().split('\n').pop() ?? '';
    expect(JSON.parse(summary)).toMatchObject({ listed: 1, removed: 1, failed: 0 });
    expect((await item('cli-two')).status).toBe('deleted');
  });

  describe('--reconcile', () => {
    it('re-ingests replaced and re-described objects, tombstones vanished ones, embeds new ones; a rerun does nothing', async () => {
      const bodies = {
        same: await png(50),
        replaced: await png(51),
        gone: await png(52),
        described: await png(53),
      };
      for (const [name, body] of Object.entries(bodies))
        await ingestRecord(
          deps,
          await eventDuring(() => put(`catalogue/rec-${name}.png`, body, { title: name })),
        );
      const before = {
        same: await item('rec-same'),
        replaced: await item('rec-replaced'),
        described: await item('rec-described'),
      };
      // Lost notifications: the bucket changes and nothing tells the items table.
      await nextSecond();
      const replacement = await png(54);
      const added = await png(55);
      await put('catalogue/rec-replaced.png', replacement, { title: 'replaced' });
      await stack.s3Client.send(
        new DeleteObjectCommand({ Bucket: stack.bucket, Key: 'catalogue/rec-gone.png' }),
      );
      // The same bytes with new metadata (s3rver keeps LastModified on a copy onto itself; S3 does not).
      await put('catalogue/rec-described.png', bodies.described, { title: 'described again', price: '12' });
      await put('catalogue/rec-added.png', added);
      const embedsBefore = embedSpy.mock.calls.length;

      const summary = await reconcile('catalogue/rec-');

      expect(summary).toEqual<BackfillSummary>({
        listed: 4,
        embedded: 1,
        added_vectors: 0,
        skipped: 1,
        rejected: 0,
        failed: 0,
        updated: 2,
        removed: 1,
      });
      // Two embeds only: the new object and the replaced one; new metadata needs none.
      expect(embedSpy.mock.calls.length - embedsBefore).toBe(2);
      expect(await item('rec-same')).toEqual(before.same);
      const replaced = await item('rec-replaced');
      expect(replaced).toMatchObject({ status: 'ready', source: { etag: md5(replacement) } });
      expect(bytesOf(replaced.vectors[embedder.modelId])).toEqual(
        bytesOf((await embedder.embed(replacement)).vector),
      );
      expect(replaced.source.sequencer > before.replaced.source.sequencer).toBe(true);
      expect(await item('rec-gone')).toMatchObject({ status: 'deleted', vectors: {} });
      const described = await item('rec-described');
      expect(described).toMatchObject({ status: 'ready', title: 'described again', price: 12 });
      expect(bytesOf(described.vectors[embedder.modelId])).toEqual(
        bytesOf(before.described.vectors[embedder.modelId]),
      );
      expect(await item('rec-added')).toMatchObject({ status: 'ready', source: { etag: md5(added) } });

      const embedsBeforeRerun = embedSpy.mock.calls.length;
      const rerun = await reconcile('catalogue/rec-');

      expect(rerun).toMatchObject({ listed: 4, embedded: 0, updated: 0, removed: 0, skipped: 4, failed: 0 });
      expect(embedSpy.mock.calls.length).toBe(embedsBeforeRerun);
    }, 120_000);

    it('follows the bucket across copies: a re-put after a delete returns, a later copy takes over, an earlier one does not', async () => {
      // Deleted by an event, then put again with its notification lost.
      const key = 'catalogue/rc-back.png';
      await ingestRecord(deps, await eventDuring(async () => put(key, await png(60))));
      await ingestRecord(
        deps,
        await eventDuring(() =>
          stack.s3Client.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: key })),
        ),
      );
      expect((await item('rc-back')).status).toBe('deleted');
      const back = await png(61);
      await put(key, back);
      // A copy older than the item's image, and a newer one of another item, both without events.
      await put('catalogue/rc-old/rc-later.png', await png(62));
      await put('catalogue/rc-old/rc-stays.png', await png(63));
      await nextSecond();
      await ingestRecord(deps, await eventDuring(async () => put('catalogue/rc-stays.png', await png(64))));
      await ingestRecord(deps, await eventDuring(async () => put('catalogue/rc-later.png', await png(65))));
      await nextSecond();
      const later = await png(66);
      await put('catalogue/rc-new/rc-later.png', later);

      const summary = await reconcile('catalogue/rc');

      expect(summary).toMatchObject({ updated: 2, removed: 0, failed: 0 });
      expect(await item('rc-back')).toMatchObject({ status: 'ready', source: { key, etag: md5(back) } });
      expect(await item('rc-later')).toMatchObject({
        status: 'ready',
        source: { key: 'catalogue/rc-new/rc-later.png', etag: md5(later) },
      });
      expect((await item('rc-stays')).source.key).toBe('catalogue/rc-stays.png');
    }, 120_000);

    it('never resurrects or removes on a listing that events overtook, and loses to a notification still on its way', async () => {
      const overtaken = 'catalogue/rec-race-deleted.png';
      await ingestRecord(deps, await eventDuring(async () => put(overtaken, await png(70))));
      await stack.s3Client.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: overtaken }));
      // Listed, then deleted by an event: the stale listing must not bring it back.
      const gone = 'catalogue/rec-race-gone.png';
      await ingestRecord(deps, await eventDuring(async () => put(gone, await png(75))));
      const listing = await listingNow('catalogue/rec-race-');
      await ingestRecord(
        deps,
        await eventDuring(() =>
          stack.s3Client.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: gone })),
        ),
      );
      // After the listing: the object comes back (listed as absent), and another one appears.
      await ingestRecord(deps, await eventDuring(async () => put(overtaken, await png(71))));
      const appeared = 'catalogue/rec-race-new.png';
      await ingestRecord(deps, await eventDuring(async () => put(appeared, await png(72))));
      // A replacement whose notification is still queued when the reconcile runs.
      const queuedKey = 'catalogue/rec-race-queued.png';
      await ingestRecord(deps, await eventDuring(async () => put(queuedKey, await png(73))));
      const queuedBody = await png(74);
      const queued = await eventDuring(() => put(queuedKey, queuedBody));
      const queuedListing = await listingNow(queuedKey);

      expect(await reconcile('catalogue/rec-race-', listing)).toMatchObject({ removed: 0, failed: 0 });
      expect(await reconcile(queuedKey, queuedListing)).toMatchObject({ updated: 1, failed: 0 });

      expect((await item('rec-race-gone')).status).toBe('deleted');
      expect((await item('rec-race-deleted')).status).toBe('ready');
      expect((await item('rec-race-new')).status).toBe('ready');
      // The real event is newer than the reconciled state: it applies (same content, no embed).
      expect(await ingestRecord(deps, queued)).toMatchObject({ outcome: 'metadata_updated' });
      expect(await item('rec-race-queued')).toMatchObject({ source: { etag: md5(queuedBody) } });
      expect((await item('rec-race-queued')).source.sequencer).toHaveLength(64);
    }, 120_000);
  });
});

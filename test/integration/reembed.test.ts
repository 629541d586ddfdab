/**
 * The distributed re-embedding's batch function on the local twin, with the stack's IAM enforced:
 * the bucket is listed as the Distributed Map's ItemReader lists it (ListObjectsV2 items: Key, Etag,
 * LastModified in epoch seconds, Size, StorageClass), batched as its ItemBatcher batches them, and
 * each batch handed to the reembed handler as Step Functions would, a few batches at once. No local
 * engine runs a Distributed Map, so this test plays the map; everything below it is real.
 */
import { readFileSync } from 'node:fs';
import { DeleteObjectCommand, HeadObjectCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import type { ListedItem } from '../../functions/adapters/s3/listed-batch';
import { CATALOGUE_PREFIX, ITEMS_TABLE } from '../../functions/contract/storage';
import type { CatalogueItem } from '../../functions/domain/catalogue-item';
import type { ReembedBatchResult } from '../../functions/handlers/reembed';
import { createLocalDynamoDbClient, createLocalS3Client } from '../../infra/local/aws-env';
import { emojiImages } from '../support/images';
import { useLocalApp } from '../support/local-app';

const local = useLocalApp();
const BATCH = 40;
const MAP_CONCURRENCY = 3;

const images = emojiImages();
const png = (n: number) => readFileSync(images[n % images.length]?.file as string);
const keyOf = (n: number) => `${CATALOGUE_PREFIX}${images[n % images.length]?.subcategory}/re-${n}.png`;
const idOf = (n: number) => `re-${n}`;

const s3 = () => createLocalS3Client(local.app.stack.endpoints.s3);
const repository = () =>
  new CatalogueRepository(
    createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb),
    local.app.stack.tables[ITEMS_TABLE.id] as string,
  );

/** The bucket's catalogue prefix as the ListObjectsV2 ItemReader hands it over. */
async function listAsItemReader(): Promise<ListedItem[]> {
  const client = s3();
  const items: ListedItem[] = [];
  for await (const page of paginateListObjectsV2(
    { client, pageSize: 100 },
    { Bucket: local.app.stack.bucket, Prefix: CATALOGUE_PREFIX },
  ))
    for (const object of page.Contents ?? [])
      items.push({
        Key: object.Key as string,
        Etag: object.ETag as string,
        LastModified: Math.floor((object.LastModified as Date).getTime() / 1000),
        Size: object.Size as number,
        StorageClass: object.StorageClass ?? 'STANDARD',
      });
  client.destroy();
  return items;
}

/** The map: batches of BATCH items, MAP_CONCURRENCY at a time; returns each batch's output. */
async function runMap(items: ListedItem[], models: string[] = []): Promise<ReembedBatchResult[]> {
  const batches: ListedItem[][] = [];
  for (let i = 0; i < items.length; i += BATCH) batches.push(items.slice(i, i + BATCH));
  const results: ReembedBatchResult[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < batches.length; i = next++)
      results[i] = await local.app.reembed({
        Items: batches[i] as ListedItem[],
        BatchInput: { models, inventory: false },
      });
  };
  await Promise.all(Array.from({ length: MAP_CONCURRENCY }, worker));
  return results;
}

const total = (results: ReembedBatchResult[], field: keyof ReembedBatchResult['counts']) =>
  results.reduce((sum, result) => sum + result.counts[field], 0);

async function itemsOf(ns: number[]): Promise<Map<number, CatalogueItem | undefined>> {
  const repo = repository();
  return new Map(await Promise.all(ns.map(async (n) => [n, await repo.get(idOf(n))] as const)));
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('the reembed batch function', () => {
  const first = range(0, 300);

  it('ingests every image of a bucket filled before the stack existed', async () => {
    await local.app.withoutNotifications(async () => {
      for (const n of first) await local.upload(keyOf(n), png(n), { title: `image ${n}` });
    });
    expect(local.app.queue.stats().sent).toBe(0);

    const items = await listAsItemReader();
    expect(items).toHaveLength(first.length);
    const results = await runMap(items);

    expect(results).toHaveLength(Math.ceil(first.length / BATCH));
    expect(total(results, 'embedded')).toBe(first.length);
    expect(total(results, 'failed')).toBe(0);
    expect(results.reduce((sum, r) => sum + (r.outcomes.ready ?? 0), 0)).toBe(first.length);
    for (const result of results) expect(result.modelIds).toEqual([local.app.manifest.modelId]);
    const stored = await itemsOf(first);
    for (const n of first) {
      const item = stored.get(n);
      expect(item).toMatchObject({ status: 'ready', source: { key: keyOf(n) }, title: `image ${n}` });
      expect(item?.vectors[local.app.manifest.modelId]).toHaveLength(local.app.manifest.output.dim);
    }
    expect(local.app.iam.denials()).toEqual([]);
  }, 300_000);

  it('writes nothing new on a rerun', async () => {
    const before = await itemsOf(first);
    const results = await runMap(await listAsItemReader());

    expect(total(results, 'skipped')).toBe(first.length);
    expect(total(results, 'embedded') + total(results, 'added_vectors') + total(results, 'updated')).toBe(0);
    expect(results.every((r) => Object.keys(r.outcomes).length === 0)).toBe(true);
    const after = await itemsOf(first);
    for (const n of first) expect(after.get(n)).toEqual(before.get(n));
  }, 300_000);

  it('refuses a model it has no manifest for, without touching an item', async () => {
    const [item] = await listAsItemReader();
    await expect(
      local.app.reembed({
        Items: [item as ListedItem],
        BatchInput: { models: ['no-such-model'], inventory: false },
      }),
    ).rejects.toThrow(/no manifest for model no-such-model/);
  });

  it('leaves each item in its latest state when uploads and deletes go on during a run', async () => {
    // A second part of the catalogue, in the bucket but not yet ingested: the run races the events.
    const second = range(300, 400);
    await local.app.withoutNotifications(async () => {
      for (const n of second) await local.upload(keyOf(n), png(n));
    });
    const listing = await listAsItemReader();
    expect(listing).toHaveLength(first.length + second.length);

    // Meanwhile, through the bucket and its queue: new images, replaced images, deleted images.
    const deleted = [...second.filter((n) => n % 5 === 0), ...first.filter((n) => n % 25 === 0)];
    const replaced = [...second.filter((n) => n % 5 === 1), ...first.filter((n) => n % 25 === 1)];
    const added = range(400, 420);
    const replacement = (n: number) => png(n + 700);
    const changes = (async () => {
      const client = s3();
      for (let i = 0; i < Math.max(deleted.length, replaced.length, added.length); i++) {
        const d = deleted[i];
        const r = replaced[i];
        const a = added[i];
        if (d !== undefined)
          await client.send(new DeleteObjectCommand({ Bucket: local.app.stack.bucket, Key: keyOf(d) }));
        if (r !== undefined) await local.upload(keyOf(r), replacement(r), { title: `replaced ${r}` });
        if (a !== undefined) await local.upload(keyOf(a), png(a));
        // Let the run and the queue interleave with the changes.
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
      client.destroy();
    })();
    const [results] = await Promise.all([runMap(listing), changes]);
    await local.app.queue.drain({ timeoutMs: 240_000 });

    expect(local.app.queue.dlq()).toEqual([]);
    expect(total(results, 'failed')).toBe(0);
    const everything = [...first, ...second, ...added];
    const stored = await itemsOf(everything);
    const client = s3();
    for (const n of everything) {
      const item = stored.get(n);
      if (deleted.includes(n)) {
        expect({ n, status: item?.status }).toEqual({ n, status: 'deleted' });
        continue;
      }
      const head = await client.send(
        new HeadObjectCommand({ Bucket: local.app.stack.bucket, Key: keyOf(n) }),
      );
      // The item holds the object's current content, embedded, whichever of the run and the event came first.
      expect({ n, status: item?.status, etag: item?.source.etag }).toEqual({
        n,
        status: 'ready',
        etag: head.ETag?.replace(/"/g, ''),
      });
      expect(item?.vectors[local.app.manifest.modelId]).toHaveLength(local.app.manifest.output.dim);
      if (replaced.includes(n)) expect(item?.title).toBe(`replaced ${n}`);
    }
    client.destroy();
    expect(local.app.iam.denials()).toEqual([]);
  }, 600_000);
});

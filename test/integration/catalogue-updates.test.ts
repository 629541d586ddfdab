/**
 * Which object an item follows when the catalogue changes under it, through the real path: s3rver
 * (AWS-format notifications) -> queue -> embed handler -> items table, read back through the API.
 * Deleting a superseded copy leaves the item alone; a corrupt replacement keeps the last good vector.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import type { CatalogueItem } from '../../functions/domain/catalogue-item';
import { Embedder } from '../../functions/embedding/embedder';
import { createLocalDynamoDbClient, createLocalS3Client } from '../../infra/local/aws-env';
import { catalogueJpeg, emojiImages } from '../support/images';
import { useLocalApp } from '../support/local-app';

const local = useLocalApp();
let repository: CatalogueRepository;
let reference: Embedder;

beforeAll(async () => {
  const { endpoints, tables } = local.app.stack;
  repository = new CatalogueRepository(createLocalDynamoDbClient(endpoints.dynamodb), tables.Items as string);
  reference = await Embedder.load();
});

const images = emojiImages();
const emojiFile = (n: number) => images[(n * 53) % images.length]?.file ?? '';
const png = (n: number) => readFile(emojiFile(n));
const jpeg = (n: number) => catalogueJpeg(emojiFile(n));
const md5 = (body: Buffer) => createHash('md5').update(body).digest('hex');
const bytesOf = (vector?: Float32Array) =>
  Buffer.from(vector?.buffer ?? new ArrayBuffer(0), vector?.byteOffset, vector?.byteLength);
const drain = () => local.app.queue.drain({ timeoutMs: 110_000 });

async function upload(key: string, body: Buffer): Promise<void> {
  await local.upload(key, body);
  await drain();
}

async function remove(key: string): Promise<void> {
  const s3 = createLocalS3Client(local.app.stack.endpoints.s3);
  await s3.send(new DeleteObjectCommand({ Bucket: local.app.stack.bucket, Key: key }));
  s3.destroy();
  await drain();
}

async function item(itemId: string): Promise<CatalogueItem> {
  const stored = await repository.get(itemId);
  if (!stored) throw new Error(`no item ${itemId}`);
  return stored;
}

const vectorOf = (stored: CatalogueItem) => bytesOf(stored.vectors[reference.modelId]);
const getItem = (itemId: string) =>
  local.call({ method: 'GET', path: `/items/${encodeURIComponent(itemId)}` }, { user: 'shopper' });
const similar = (itemId: string) =>
  local.call(
    { method: 'GET', path: `/items/${encodeURIComponent(itemId)}/similar?limit=3` },
    { user: 'shopper' },
  );

describe('deleting a copy that is not the item’s current image', () => {
  it.each([
    ['in another folder', 'catalogue/fa/copy-9a.png', 'catalogue/fb/copy-9a.png', 'copy-9a'],
    ['with another extension', 'catalogue/copy-9b.png', 'catalogue/copy-9b.jpg', 'copy-9b'],
  ])(
    'leaves the item on its current image (%s); deleting the current one removes it',
    async (_, older, newer, itemId) => {
      const newerBody = newer.endsWith('.jpg') ? await jpeg(2) : await png(2);
      await upload(older, await png(1));
      await upload(newer, newerBody);
      const current = await item(itemId);
      expect(current).toMatchObject({ status: 'ready', source: { key: newer, etag: md5(newerBody) } });

      await remove(older);

      const after = await item(itemId);
      expect(after).toMatchObject({ status: 'ready', source: { key: newer, etag: md5(newerBody) } });
      expect(vectorOf(after)).toEqual(bytesOf((await reference.embed(newerBody)).vector));
      expect((await getItem(itemId)).status).toBe(200);
      expect((await similar(itemId)).status).toBe(200);

      await remove(newer);

      expect(await item(itemId)).toMatchObject({ status: 'deleted', vectors: {}, source: { key: newer } });
      expect((await getItem(itemId)).status).toBe(404);
      expect(local.app.queue.dlq()).toEqual([]);
    },
    120_000,
  );
});

describe('a corrupt image replacing a good one', () => {
  it('keeps serving the last good vector, shows the failed update, and a good upload clears it', async () => {
    const key = 'catalogue/shoes/keep-good.jpg';
    const good = await jpeg(3);
    const corrupt = good.subarray(0, Math.floor(good.length / 2));
    await upload(key, good);
    const original = await item('keep-good');
    expect(original.status).toBe('ready');

    await upload(key, corrupt);

    const kept = await item('keep-good');
    expect(kept).toMatchObject({
      status: 'ready',
      source: { key, etag: md5(good) },
      lastUpdateError: { code: 'truncated_image', key, etag: md5(corrupt) },
    });
    expect(vectorOf(kept)).toEqual(vectorOf(original));
    const details = await getItem('keep-good');
    expect(details.status).toBe(200);
    expect(details.json()).toMatchObject({
      status: 'ready',
      servedByActiveModel: true,
      lastUpdateError: { code: 'truncated_image', key, at: expect.any(String) },
    });
    expect((await similar('keep-good')).status).toBe(200);

    const fixed = await jpeg(4);
    await upload(key, fixed);

    const replaced = await item('keep-good');
    expect(replaced).toMatchObject({ status: 'ready', source: { key, etag: md5(fixed) } });
    expect(replaced.lastUpdateError).toBeUndefined();
    expect(vectorOf(replaced)).toEqual(bytesOf((await reference.embed(fixed)).vector));
    expect((await getItem('keep-good')).json()).not.toHaveProperty('lastUpdateError');
    expect(local.app.queue.dlq()).toEqual([]);
  }, 120_000);

  it('keeps the good image of another extension when a corrupt copy arrives, and forgets the failure once that copy is deleted', async () => {
    const good = await png(6);
    await upload('catalogue/two-files.png', good);
    const original = await item('two-files');
    const corrupt = Buffer.from('a JPEG, it says');

    await upload('catalogue/two-files.jpg', corrupt);

    const kept = await item('two-files');
    expect(kept).toMatchObject({
      status: 'ready',
      source: { key: 'catalogue/two-files.png', etag: md5(good) },
      lastUpdateError: { code: 'not_an_image', key: 'catalogue/two-files.jpg', etag: md5(corrupt) },
    });
    expect(vectorOf(kept)).toEqual(vectorOf(original));

    await remove('catalogue/two-files.jpg');

    const cleared = await item('two-files');
    expect(cleared).toMatchObject({ status: 'ready', source: { key: 'catalogue/two-files.png' } });
    expect(cleared.lastUpdateError).toBeUndefined();
    expect(vectorOf(cleared)).toEqual(vectorOf(original));
  }, 120_000);

  it('still removes the item when the corrupt object is deleted, and rejects a corrupt first upload', async () => {
    const key = 'catalogue/keep-then-delete.png';
    await upload(key, await png(5));
    await upload(key, Buffer.from('not a png at all'));
    expect(await item('keep-then-delete')).toMatchObject({
      status: 'ready',
      lastUpdateError: { code: 'not_an_image', key },
    });

    await remove(key);

    expect(await item('keep-then-delete')).toMatchObject({ status: 'deleted', vectors: {} });
    expect((await getItem('keep-then-delete')).status).toBe(404);

    // With no good vector to keep, a corrupt image is rejected as before.
    await upload('catalogue/never-good.png', Buffer.from('not a png either'));
    expect(await item('never-good')).toMatchObject({
      status: 'rejected',
      vectors: {},
      rejection: { code: 'not_an_image' },
    });
    expect((await similar('never-good')).status).toBe(409);
  }, 120_000);
});

/**
 * A crash of the local twin loses its in-memory queue: uploads, overwrites and deletes that were
 * queued, or made while it was down, were never applied. After a restart every item must be in its
 * bucket's state: ready with the bucket's etag (and that image's vector) for present objects, deleted
 * for vanished ones.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import { catalogueObjectFromKey } from '../../functions/domain/catalogue-key';
import { Embedder } from '../../functions/embedding/embedder';
import { createLocalDynamoDbClient, createLocalS3Client } from '../../infra/local/aws-env';
import { startS3Local } from '../../infra/local/s3-local';
import { emojiImages } from '../support/images';
import { killHard, npmStartReady, printed, type RunningStart } from '../support/npm-start';

/** `npm start` names its tables `lookalike-<id>` (infra/local/harness.ts). */
const ITEMS_TABLE = 'lookalike-Items';
const BUCKET_PATTERN = /bucket: (\S+)/;

const images = emojiImages();
const png = (n: number) => readFile(images[(n * 29) % images.length]?.file ?? '');
const keyOf = (n: number) => `catalogue/crash/crash-${String(n).padStart(2, '0')}.png`;
const bytesOf = (vector: Float32Array) => Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Endpoints {
  api: string;
  s3: S3Client;
  repository: CatalogueRepository;
  bucket: string;
}

function endpointsOf(running: RunningStart): Endpoints {
  const { stdout } = running.output;
  return {
    api: printed(stdout, 'API'),
    s3: createLocalS3Client(printed(stdout, 'S3 endpoint')),
    repository: new CatalogueRepository(createLocalDynamoDbClient(printed(stdout, 'DynamoDB')), ITEMS_TABLE),
    bucket: BUCKET_PATTERN.exec(stdout)?.[1] ?? '',
  };
}

async function put(target: Endpoints, n: number, image: number) {
  await target.s3.send(
    new PutObjectCommand({ Bucket: target.bucket, Key: keyOf(n), Body: await png(image) }),
  );
}

const remove = (target: Endpoints, n: number) =>
  target.s3.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: keyOf(n) }));

/** The catalogue objects the bucket holds, by item id. */
async function bucketState(target: Endpoints): Promise<Map<string, { key: string; etag: string }>> {
  const state = new Map<string, { key: string; etag: string }>();
  for await (const page of paginateListObjectsV2(
    { client: target.s3 },
    { Bucket: target.bucket, Prefix: 'catalogue/crash/' },
  )) {
    for (const object of page.Contents ?? []) {
      const item = catalogueObjectFromKey(object.Key ?? '');
      if (item) state.set(item.itemId, { key: item.key, etag: (object.ETag ?? '').replace(/"/g, '') });
    }
  }
  return state;
}

describe('npm start after a crash', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'lookalike-crash-'));
  let running: RunningStart | undefined;

  afterAll(async () => {
    await killHard(running);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('ends with every item in its bucket state after SIGKILL during uploads, overwrites and deletes', async () => {
    running = await npmStartReady(dataDir);
    let target = endpointsOf(running);
    const first = Array.from({ length: 12 }, (_, n) => n);
    await Promise.all(first.map((n) => put(target, n, n)));
    const deadline = Date.now() + 90_000;
    const allReady = async () =>
      (
        await Promise.all(first.map((n) => target.repository.get(`crash-${String(n).padStart(2, '0')}`)))
      ).every((item) => item?.status === 'ready');
    while (!(await allReady())) {
      if (Date.now() > deadline)
        throw new Error(`uploads not embedded:\n${running.output.stderr.slice(-2000)}`);
      await sleep(200);
    }

    // A burst, and the crash right after it: most of its notifications are still queued in memory.
    await Promise.all([
      ...Array.from({ length: 12 }, (_, i) => put(target, 20 + i, 40 + i)),
      ...[0, 1, 2, 3].map((n) => put(target, n, 60 + n)),
      ...[4, 5, 6, 7].map((n) => remove(target, n)),
    ]);
    await killHard(running);
    target.s3.destroy();

    // While it is down, the bucket keeps changing: nobody is told at all.
    const s3 = await startS3Local({ directory: join(dataDir, 's3') });
    const offline = { ...target, s3: createLocalS3Client(s3.endpoint) };
    await Promise.all([put(offline, 8, 80), remove(offline, 9), put(offline, 32, 82)]);
    offline.s3.destroy();
    await s3.stop();

    running = await npmStartReady(dataDir);
    target = endpointsOf(running);

    const bucket = await bucketState(target);
    const embedder = await Embedder.load();
    // 12 first uploads, 5 of them deleted, 12 in the burst, 1 while down.
    expect(bucket.size).toBe(12 - 5 + 12 + 1);
    const mismatches: string[] = [];
    for (const [itemId, object] of bucket) {
      const item = await target.repository.get(itemId);
      const expected = (await embedder.embed(await readObject(target, object.key))).vector;
      const vector = item?.vectors[embedder.modelId];
      if (
        item?.status !== 'ready' ||
        item.source.key !== object.key ||
        item.source.etag !== object.etag ||
        !vector ||
        !bytesOf(vector).equals(bytesOf(expected))
      )
        mismatches.push(`${itemId}: ${item?.status} ${item?.source.etag} (bucket ${object.etag})`);
    }
    for (const n of [4, 5, 6, 7, 9]) {
      const itemId = `crash-${String(n).padStart(2, '0')}`;
      const item = await target.repository.get(itemId);
      if (item?.status !== 'deleted') mismatches.push(`${itemId}: ${item?.status} (deleted from the bucket)`);
    }
    expect(mismatches).toEqual([]);

    // And what a shopper sees: a deleted item is gone, an overwritten one is similar to others.
    const { token } = (await (await fetch(`${target.api}/local/token?userId=crash`)).json()) as {
      token: string;
    };
    const headers = { authorization: `Bearer ${token}` };
    expect((await fetch(`${target.api}/items/crash-09`, { headers })).status).toBe(404);
    expect((await fetch(`${target.api}/items/crash-08/similar?limit=3`, { headers })).status).toBe(200);
    target.s3.destroy();
  }, 300_000);
});

async function readObject(target: Endpoints, key: string): Promise<Uint8Array> {
  const object = await target.s3.send(new GetObjectCommand({ Bucket: target.bucket, Key: key }));
  return (await object.Body?.transformToByteArray()) ?? new Uint8Array(0);
}

/**
 * The rollout, end to end on the local twin with two real models: the default model and a MobileNetV2
 * variant of the same dimension (test/support/second-model.ts). The catalogue is ingested and users
 * like items under the default model; then both models are deployed (the second as an extra model),
 * the backfill brings the second space to 100% coverage, the switch writes its snapshot and the twin
 * restarts over the same tables and bucket with ACTIVE_MODEL_ID set to it (the configuration change
 * a deploy makes): every user's first list is personal and ranked in the new space. Then a rollback,
 * and the retire of the second space: refused within 7 days of its last activity, allowed after
 * (the clock injected).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { readPointer } from '../../functions/adapters/s3/snapshot-index';
import {
  type DeployedSpaces,
  RETIRE_AFTER_MS,
  RolloutRefused,
  retireSpace,
  rollbackSpace,
  rolloutStatus,
  switchSpace,
} from '../../functions/app/rollout';
import { ENV } from '../../functions/contract/environment';
import { DEFAULT_IMAGE_LIMITS, defaultManifestPath } from '../../functions/embedding/embedder';
import { loadManifest } from '../../functions/embedding/model-manifest';
import { createIngestDeps } from '../../functions/wiring/ingest';
import { createRolloutDeps } from '../../functions/wiring/rollout';
import { backfill, s3Listing } from '../../infra/cli/backfill';
import type { LocalApp } from '../../infra/local/app';
import { createLocalDynamoDbClient, createLocalS3Client } from '../../infra/local/aws-env';
import { emojiImages } from '../support/images';
import { itemVectors, postJson } from '../support/local-app';
import { ensureSecondModel } from '../support/second-model';
import { DYNAMODB_ENDPOINT_ENV } from '../support/shared-dynamodb';

const images = emojiImages('google').slice(40, 56);
const itemIdOf = (i: number) => `ro-${i}`;
/** Each user likes one item: their first list is that item's nearest neighbours in the served space. */
const USERS = [
  { userId: 'rollout-a', liked: itemIdOf(2) },
  { userId: 'rollout-b', liked: itemIdOf(7) },
  { userId: 'rollout-c', liked: itemIdOf(12) },
];

type List = { strategy: string; modelId: string; items: Array<{ itemId: string }> };
type Call = (
  request: { method: string; path: string; headers?: Record<string, string>; body?: string },
  as?: { user: string },
) => Promise<{ status: number; json<T>(): T }>;

interface Twin {
  app: LocalApp;
  call: Call;
}

const tablePrefix = `test-${randomBytes(4).toString('hex')}-`;
let dataDir: string;
let twin: Twin | undefined;

/**
 * The twin over the same tables and bucket with this function environment: what a deploy of another
 * configuration gives the functions (each handler loads again and parses its environment).
 */
async function deploy(environment: Record<string, string>, last = false): Promise<Twin> {
  await twin?.app.stop();
  jest.resetModules();
  const { startLocalApp } = await import('../../infra/local/app');
  const { invoke } = await import('../../infra/local/api-server');
  const app = await startLocalApp({
    dynamoEndpoint: process.env[DYNAMODB_ENDPOINT_ENV] || undefined,
    tablePrefix,
    dataDir,
    deleteTablesOnStop: last,
    apiPort: -1,
    quiet: true,
    environment: { INDEX_REFRESH_MS: '0', ...environment },
  });
  const call: Call = async (request, as) => {
    const token = as ? await app.issuer?.token(as.user) : await app.issuer?.token('admin', { admin: true });
    return invoke(
      app.handlers,
      { ...request, headers: { ...request.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) } },
      app.authorize ? { authorize: app.authorize } : {},
    );
  };
  twin = { app, call };
  return twin;
}

async function listOf(current: Twin, userId: string): Promise<List> {
  const response = await current.call(
    { method: 'GET', path: `/users/${userId}/recommendations?limit=5&exclude=seen` },
    { user: userId },
  );
  expect(response.status).toBe(200);
  return response.json<List>();
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((sum, x, i) => sum + x * (b[i] as number), 0);
/** The item nearest to `liked` in one space (cosine), `liked` left out. */
function nearest(vectors: Map<string, Float32Array>, liked: string): string | undefined {
  const at = vectors.get(liked) as Float32Array;
  const norm = (v: Float32Array) => Math.sqrt(dot(v, v));
  let best: { itemId: string; score: number } | undefined;
  for (const [itemId, vector] of vectors) {
    if (itemId === liked) continue;
    const score = dot(at, vector) / (norm(at) * norm(vector));
    if (!best || score > best.score) best = { itemId, score };
  }
  return best?.itemId;
}

const operatorClients: Array<{ destroy(): void }> = [];

/** The operator's view of the current twin (its stand-ins' endpoints change with each deploy). */
function operatorOf(current: Twin) {
  const { stack } = current.app;
  const clients = {
    dynamo: createLocalDynamoDbClient(stack.endpoints.dynamodb),
    s3: createLocalS3Client(stack.endpoints.s3),
  };
  operatorClients.push(clients.dynamo, clients.s3);
  const rollout = createRolloutDeps({
    ...clients,
    itemsTable: stack.tables.Items ?? '',
    bucket: stack.bucket,
  });
  return { clients, rollout, bucket: stack.bucket, itemsTable: stack.tables.Items ?? '' };
}

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => 'done',
    (error: unknown) => (error instanceof RolloutRefused ? error.code : error),
  );

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'lookalike-rollout-'));
});
afterAll(async () => {
  for (const client of operatorClients) client.destroy();
  await twin?.app.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a rollout of a second real model, and its rollback', () => {
  it('backfills, switches with every list personal in the new space, rolls back, retires after the window', async () => {
    const second = await ensureSecondModel();
    const defaultManifest = defaultManifestPath();
    const first = loadManifest(defaultManifest).manifest;
    const secondId = second.manifest.modelId;
    expect(second.manifest.output.dim).toBe(first.output.dim);
    expect(secondId).not.toBe(first.modelId);

    // Before the rollout: the default model only; the catalogue is ingested and users like items.
    let current = await deploy({});
    const s3 = createLocalS3Client(current.app.stack.endpoints.s3);
    for (const [i, image] of images.entries())
      await s3.send(
        new PutObjectCommand({
          Bucket: current.app.stack.bucket,
          Key: `catalogue/emoji/${itemIdOf(i)}.png`,
          Body: readFileSync(image.file),
          Metadata: { title: image.name },
        }),
      );
    await current.app.queue.drain({ timeoutMs: 180_000 });
    for (const { userId, liked } of USERS) {
      const like = { eventId: `like-${userId}`, userId, itemId: liked, type: 'like' };
      expect((await current.call(postJson('/events', { events: [like] }), { user: userId })).status).toBe(
        202,
      );
    }
    const inFirst = await itemVectors(current.app, first.modelId, { readyOnly: true });
    expect(inFirst.size).toBe(images.length);
    for (const { userId, liked } of USERS) {
      const list = await listOf(current, userId);
      expect(list).toMatchObject({ strategy: 'personal', modelId: first.modelId });
      expect(list.items[0]?.itemId).toBe(nearest(inFirst, liked));
    }

    // 1. Deploy both: the second model beside the active one (new uploads get both vectors).
    const both = { [ENV.EXTRA_MODEL_MANIFESTS]: second.manifestPath };
    s3.destroy();
    current = await deploy(both);
    let { clients, rollout, bucket, itemsTable } = operatorOf(current);
    const deployed: DeployedSpaces = {
      active: { modelId: first.modelId, dim: first.output.dim },
      extras: [{ modelId: secondId, dim: second.manifest.output.dim }],
    };
    const before = await rolloutStatus(rollout, deployed);
    expect(before.spaces.find((s) => s.space === secondId)).toMatchObject({
      covered: 0,
      coverage: 0,
      deployed: 'extra',
    });
    expect(await refusal(switchSpace(rollout, deployed, { to: secondId, now: Date.now() }))).toBe(
      'incomplete_coverage',
    );

    // 2. Backfill: every item gets the second model's vector; coverage reaches 100%.
    const ingest = await createIngestDeps({
      itemsTable,
      maxImageBytes: DEFAULT_IMAGE_LIMITS.maxBytes,
      activeManifest: defaultManifest,
      extraManifests: [second.manifestPath],
      clients,
    });
    const summary = await backfill({ ...ingest, listing: s3Listing(clients.s3) }, { bucket, concurrency: 2 });
    expect(summary).toMatchObject({ listed: images.length, added_vectors: images.length, failed: 0 });
    const covered = await rolloutStatus(rollout, deployed);
    expect(covered.spaces.find((s) => s.space === secondId)).toMatchObject({
      covered: images.length,
      coverage: 1,
    });
    const inSecond = await itemVectors(current.app, secondId, { readyOnly: true });
    // The spaces rank differently for at least one user: a list ranked in the old space would show.
    expect(USERS.some(({ liked }) => nearest(inSecond, liked) !== nearest(inFirst, liked))).toBe(true);

    // 3. Switch: the second space's snapshot is written before anything serves it, then the switch is
    // recorded and the configuration deployed (the twin restarts with ACTIVE_MODEL_ID set to it).
    const switchedAt = Date.now();
    const switched = await switchSpace(rollout, deployed, { to: secondId, now: switchedAt });
    expect(switched).toMatchObject({ from: first.modelId, to: secondId, coverage: 1 });
    expect(switched.deploy.context).toBe(`npm run deploy -- -c activeModelId=${secondId}`);
    expect(await readPointer(clients.s3, bucket, secondId)).toMatchObject({
      modelId: secondId,
      count: images.length,
    });
    current = await deploy({ ...both, [ENV.ACTIVE_MODEL_ID]: secondId });
    ({ clients, rollout, bucket } = operatorOf(current));
    // The deployed functions find the snapshot the switch wrote (the bucket outlives each deploy).
    expect(await readPointer(clients.s3, bucket, secondId)).toMatchObject({ count: images.length });

    // 4. Every user's first list after the switch is personal and ranked in the new space.
    for (const { userId, liked } of USERS) {
      const list = await listOf(current, userId);
      expect(list).toMatchObject({ strategy: 'personal', modelId: secondId });
      expect(list.items[0]?.itemId).toBe(nearest(inSecond, liked));
    }
    expect((await rolloutStatus(rollout, deployed)).active).toBe(secondId);

    // 5. Roll back: the previous space, by configuration again.
    const rolledBackAt = Date.now();
    const back = await rollbackSpace(rollout, deployed, { now: rolledBackAt });
    expect(back).toMatchObject({ from: secondId, to: first.modelId });
    current = await deploy(both, true);
    ({ clients, rollout, bucket } = operatorOf(current));
    for (const { userId, liked } of USERS) {
      const list = await listOf(current, userId);
      expect(list).toMatchObject({ strategy: 'personal', modelId: first.modelId });
      expect(list.items[0]?.itemId).toBe(nearest(inFirst, liked));
    }

    // 6. Retire the second space: refused within 7 days of its last activity, allowed after.
    expect(await refusal(retireSpace(rollout, deployed, { space: first.modelId, now: rolledBackAt }))).toBe(
      'active_space',
    );
    expect(
      await refusal(
        retireSpace(rollout, deployed, { space: secondId, now: rolledBackAt + RETIRE_AFTER_MS - 60_000 }),
      ),
    ).toBe('recently_active');
    expect((await itemVectors(current.app, secondId, { readyOnly: true })).size).toBe(images.length);
    expect(await readPointer(clients.s3, bucket, secondId)).toMatchObject({ count: images.length });
    const retired = await retireSpace(rollout, deployed, {
      space: secondId,
      now: rolledBackAt + RETIRE_AFTER_MS,
    });
    expect(retired).toEqual({ space: secondId, items: images.length });
    expect((await itemVectors(current.app, secondId, { readyOnly: true })).size).toBe(0);
    expect(await readPointer(clients.s3, bucket, secondId)).toBeUndefined();
    // The served space is untouched.
    for (const { userId } of USERS)
      expect(await listOf(current, userId)).toMatchObject({ strategy: 'personal', modelId: first.modelId });
  }, 600_000);
});

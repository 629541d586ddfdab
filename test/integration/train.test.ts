/**
 * `npm run train` against a running `npm start` (issue 18, step 4): on a fresh start it finds too
 * little data, says so and changes nothing; after the evaluation's tuning-run events (google, seed 1:
 * 368 emoji, 200 simulated users) it trains, gates and promotes, and the next lists are served from
 * the promoted space.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { TrainingRecord } from '../../functions/app/train-similarity';
import { SPACES_REGISTRY_KEY } from '../../functions/contract/storage';
import { buildCatalogue, PRESETS, simulateUsers } from '../eval/simulation';
import { killHard, npmRunTrain, npmStartReady, printed, type RunningStart } from '../support/npm-start';

const DAY_MS = 86_400_000;

const lastLine = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as TrainingRecord;

async function mapLimit<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let i = next++; i < items.length; i = next++) await work(items[i] as T);
    }),
  );
}

describe('npm run train', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'lookalike-train-'));
  let running: RunningStart | undefined;
  let api = '';
  let s3: S3Client;
  let bucket = '';
  const catalogue = buildCatalogue('google', PRESETS.full, 1);
  const users = simulateUsers(catalogue, PRESETS.full.users, 1);

  const token = async (userId: string, admin = false) => {
    const response = await fetch(
      `${api}/local/token?userId=${encodeURIComponent(userId)}${admin ? '&admin=true' : ''}`,
    );
    return ((await response.json()) as { token: string }).token;
  };
  const get = async (path: string, userId: string) => {
    const response = await fetch(`${api}${path}`, {
      headers: { authorization: `Bearer ${await token(userId)}` },
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const listOf = async (userId: string) =>
    (
      (await get(`/users/${userId}/recommendations?limit=10&exclude=seen`, userId)).body.items as Array<{
        itemId: string;
      }>
    ).map((item) => item.itemId);
  const registry = async () => {
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: SPACES_REGISTRY_KEY }));
      return JSON.parse((await object.Body?.transformToString()) ?? '{}') as Record<string, unknown>;
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  };

  beforeAll(async () => {
    running = await npmStartReady(dataDir, { LOOKALIKE_TRAIN_EVERY_MINUTES: '0' });
    api = printed(running.output.stdout, 'API');
    bucket = /bucket: (\S+)/.exec(running.output.stdout)?.[1] ?? '';
    s3 = new S3Client({
      endpoint: printed(running.output.stdout, 'S3 endpoint'),
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
  }, 120_000);

  afterAll(async () => {
    s3?.destroy();
    await killHard(running);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('on a fresh start finds too little data, says so, and changes nothing', async () => {
    const run = await npmRunTrain(['--api-port', new URL(api).port, '--data-dir', dataDir]);

    if (run.code !== 0)
      throw new Error(
        `npm run train exited with ${run.code}: ${run.stderr.slice(-3000)}\n${running?.output.stderr.slice(-3000)}`,
      );
    const record = lastLine(run.stdout);
    expect(record).toMatchObject({ trigger: 'manual', outcome: 'refused' });
    expect(record.gate.reasons.map((reason) => reason.code)).toEqual(['too_little_data']);
    expect(run.stderr).toMatch(/refused: not promoted: too little data to train and judge/);
    expect(record.reportKey).toMatch(/^index\/learned\/reports\//);
    expect(await registry()).toBeUndefined();
  }, 120_000);

  it("after the evaluation's events trains, gates and promotes; the next lists come from the new space", async () => {
    // The tuning run's catalogue, in one folder (the label never reaches the system) ...
    await mapLimit(catalogue.warm, 8, async (image) => {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: `catalogue/emoji/${image.itemId}.png`,
          Body: readFileSync(image.file),
          ContentType: 'image/png',
        }),
      );
    });
    const deadline = Date.now() + 240_000;
    for (;;) {
      const listing = (await (await fetch(`${api}/local/catalogue?limit=500`)).json()) as {
        items: unknown[];
      };
      if (listing.items.length >= catalogue.warm.length) break;
      if (Date.now() > deadline) throw new Error(`only ${listing.items.length} items ready`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    // ... and its users' events, as the evaluation replays them.
    const historyStart = Date.now() - 15 * DAY_MS;
    await mapLimit(users, 4, async (user) => {
      const response = await fetch(`${api}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await token(user.userId)}` },
        body: JSON.stringify({
          events: user.events.map((event) => ({
            eventId: event.eventId,
            userId: user.userId,
            itemId: event.itemId,
            type: event.type,
            timestamp: historyStart + event.offsetMs,
          })),
        }),
      });
      expect({ user: user.userId, status: response.status }).toEqual({ user: user.userId, status: 202 });
    });
    const probe = users.slice(0, 20).map((user) => user.userId);
    const before = await Promise.all(probe.map(listOf));
    const baseSpace = (await get(`/users/${probe[0]}/recommendations?limit=10`, probe[0] as string)).body
      .modelId;

    const run = await npmRunTrain(['--api-port', new URL(api).port, '--data-dir', dataDir]);

    if (run.code !== 0)
      throw new Error(
        `npm run train exited with ${run.code}: ${run.stderr.slice(-3000)}\n${running?.output.stderr.slice(-3000)}`,
      );
    const record = lastLine(run.stdout);
    expect(record.gate.reasons).toEqual([]);
    expect(record).toMatchObject({ trigger: 'manual', outcome: 'promoted' });
    expect(record.gate.data.evaluatedUsers).toBe(PRESETS.full.users);
    const space = record.space as string;
    expect(record.gate.baseModelId).toBe(baseSpace);
    expect(space.startsWith(`${baseSpace}~`)).toBe(true);
    expect(run.stderr).toMatch(/^promoted: promoted \S+: Recall@10 \+/m);
    const state = (await registry()) as { learned?: Record<string, { active?: string }> };
    expect(state.learned?.[record.gate.baseModelId]?.active).toBe(space);

    // The next lists: served from the projected space once the functions' read of the registry is
    // renewed (npm start: SPACE_REFRESH_MS 5 s), ranked by the projected vectors.
    const servedSpace = async () =>
      (await get(`/users/${probe[0]}/recommendations?limit=10`, probe[0] as string)).body.modelId;
    const until = Date.now() + 10_000;
    while ((await servedSpace()) !== space && Date.now() < until)
      await new Promise((r) => setTimeout(r, 500));
    expect(await servedSpace()).toBe(space);
    const after = await Promise.all(probe.map(listOf));
    expect(after.filter((list, i) => list.join() !== before[i]?.join()).length).toBeGreaterThan(0);
  }, 900_000);
});

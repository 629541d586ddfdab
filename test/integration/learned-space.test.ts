/**
 * A learned projection promoted on the local twin (IAM enforced, SPACE_REFRESH_MS=0 so the next
 * request sees the registry): real images are embedded, a KISSME projection is fitted on planted
 * co-engaged pairs, and `promoteProjection` stores its artefact, re-projects the items from their
 * base vectors and records the space. Then, without a restart: the next personal, similar and search
 * lists come from the projected space and rank as the projection predicts, the profile follows with
 * the user's next event, a new upload is embedded into the projected space and recommendable, and a
 * rollback returns the lists to the base space.
 */
import { readFileSync } from 'node:fs';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { promoteProjection } from '../../functions/app/learned-space';
import { projectionArtefactKey } from '../../functions/contract/storage';
import {
  DEFAULT_LEARNED_SIMILARITY_KNOBS,
  type EngagementEvent,
  fitProjection,
  projectVector,
} from '../../functions/domain/learned-similarity';
import type { ProjectionArtefact } from '../../functions/domain/learned-space';
import { createPromotionDeps } from '../../functions/wiring/learned-space';
import { rolloutProgram } from '../../infra/cli/rollout';
import { createLocalDynamoDbClient, createLocalS3Client } from '../../infra/local/aws-env';
import { emojiImages } from '../support/images';
import { itemVectors, postJson, profileStoreOf, useLocalApp } from '../support/local-app';

const local = useLocalApp({ environment: { INDEX_REFRESH_MS: '0', SPACE_REFRESH_MS: '0' } });

const images = emojiImages('google').slice(0, 28);
const CATALOGUE = 20;
const itemIdOf = (i: number) => `ls-${i}`;
const SHOPPER = 'shopper';
/** Predictions are asserted only where the runner-up is this far behind: the index scores in int8. */
const MARGIN = 0.01;

type List = {
  strategy: string;
  modelId: string;
  items: Array<{ itemId: string; score: number }>;
};

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += (a[i] as number) * (b[i] as number);
    na += (a[i] as number) ** 2;
    nb += (b[i] as number) ** 2;
  }
  return dot / Math.sqrt(na * nb);
};

/** Items by cosine to `query`, best first, with their scores; `leaveOut` left out. */
const ranked = (vectors: Map<string, Float32Array>, query: Float32Array, leaveOut: string[] = []) =>
  [...vectors]
    .filter(([id]) => !leaveOut.includes(id))
    .map(([id, v]) => ({ id, score: cosine(query, v) }))
    .sort((a, b) => b.score - a.score);

/** The nearest neighbour, when it leads the runner-up by MARGIN. */
const clearFirst = (list: Array<{ id: string; score: number }>) =>
  list[0] && list[1] && list[0].score - list[1].score > MARGIN ? list[0].id : undefined;

describe('a learned projection promoted, served and rolled back without a deploy', () => {
  it('serves every list from the projected space, embeds new uploads into it, and rolls back', async () => {
    const { app } = local;
    const base = { modelId: app.manifest.modelId, dim: app.manifest.output.dim };
    for (let i = 0; i < CATALOGUE; i++)
      await local.upload(
        `catalogue/learned/${itemIdOf(i)}.png`,
        readFileSync((images[i] as { file: string }).file),
      );
    await app.queue.drain({ timeoutMs: 180_000 });
    const inBase = await itemVectors(app, base.modelId, { readyOnly: true });
    expect(inBase.size).toBe(CATALOGUE);

    // Planted co-engagement: three shoppers each like item i and item i + 10 within an hour.
    const t0 = Date.UTC(2026, 9, 1);
    const events: EngagementEvent[] = [];
    for (let i = 0; i < CATALOGUE / 2; i++)
      for (let u = 0; u < 3; u++) {
        const userId = `planted-${i}-${u}`;
        events.push({ userId, itemId: itemIdOf(i), type: 'like', at: t0 + i * 86_400_000 });
        events.push({
          userId,
          itemId: itemIdOf(i + CATALOGUE / 2),
          type: 'like',
          at: t0 + i * 86_400_000 + 3_600_000,
        });
      }
    const projection = fitProjection({
      baseModelId: base.modelId,
      version: 'planted',
      dim: base.dim,
      events,
      vectors: inBase,
      trainedAt: t0 + 30 * 86_400_000,
      // All weight on the learned metric: the test needs lists that visibly change.
      knobs: { ...DEFAULT_LEARNED_SIMILARITY_KNOBS, shrinkage: 0, priorPairs: 0 },
    });
    expect(projection.data.similarPairs).toBe(CATALOGUE / 2);
    const inProjected = new Map([...inBase].map(([id, v]) => [id, projectVector(projection, v)]));

    // The liked item: one whose nearest neighbour the projection changes, clearly in both spaces.
    const liked = [...inBase.keys()].find((id) => {
      const before = clearFirst(ranked(inBase, inBase.get(id) as Float32Array, [id]));
      const after = clearFirst(ranked(inProjected, inProjected.get(id) as Float32Array, [id]));
      return before !== undefined && after !== undefined && before !== after;
    });
    expect(liked).toBeDefined();
    const likedId = liked as string;
    const baseTop = ranked(inBase, inBase.get(likedId) as Float32Array, [likedId])[0]?.id;
    const projectedTop = ranked(inProjected, inProjected.get(likedId) as Float32Array, [likedId])[0]?.id;

    const like = { eventId: 'like-1', userId: SHOPPER, itemId: likedId, type: 'like' };
    expect((await local.call(postJson('/events', { events: [like] }), { user: SHOPPER })).status).toBe(202);
    const personal = async () => {
      const response = await local.call(
        { method: 'GET', path: `/users/${SHOPPER}/recommendations?limit=5&exclude=seen` },
        { user: SHOPPER },
      );
      expect(response.status).toBe(200);
      return response.json<List>();
    };
    const similar = async (itemId: string) => {
      const response = await local.call({ method: 'GET', path: `/items/${itemId}/similar?limit=5` });
      expect(response.status).toBe(200);
      return response.json<List>();
    };
    expect(await personal()).toMatchObject({ strategy: 'personal', modelId: base.modelId });
    expect((await personal()).items[0]?.itemId).toBe(baseTop);
    expect((await similar(likedId)).items[0]?.itemId).toBe(baseTop);

    // Promote, as step 4's trainer will: the operator's credentials, no wait (the functions' TTL is 0).
    const clients = {
      dynamo: createLocalDynamoDbClient(app.stack.endpoints.dynamodb),
      s3: createLocalS3Client(app.stack.endpoints.s3),
    };
    try {
      const deps = createPromotionDeps({
        ...clients,
        itemsTable: app.stack.tables.Items as string,
        bucket: app.stack.bucket,
        settleMs: 0,
      });
      const promotion = await promoteProjection(deps, { base, projection });
      const { space } = promotion;
      expect(space).toMatch(new RegExp(`^${base.modelId.replace(/\./g, '\\.')}~p[0-9a-f]{10}$`));
      expect(promotion).toMatchObject({ from: base.modelId, projected: CATALOGUE, skipped: 0 });
      expect(promotion.snapshot.count).toBe(CATALOGUE);

      // The artefact: beside the snapshots, the matrix and sizes, no user id.
      const stored = await clients.s3.send(
        new GetObjectCommand({ Bucket: app.stack.bucket, Key: projectionArtefactKey(space) }),
      );
      const artefactText = (await stored.Body?.transformToString()) ?? '';
      const artefact = JSON.parse(artefactText) as ProjectionArtefact;
      expect(artefact).toMatchObject({ space, baseModelId: base.modelId, dim: base.dim });
      expect(artefact.matrix).toHaveLength(base.dim * base.dim);
      expect(artefactText).not.toContain('planted-');

      // The items hold the projected vectors, computed from their stored base vectors.
      const stored2 = await itemVectors(app, space, { readyOnly: true });
      expect(stored2.size).toBe(CATALOGUE);
      for (const [id, vector] of stored2)
        expect(cosine(vector, inProjected.get(id) as Float32Array)).toBeCloseTo(1, 5);

      // The next lists come from the projected space, ranked as the projection predicts.
      const afterPersonal = await personal();
      expect(afterPersonal).toMatchObject({ strategy: 'personal', modelId: space });
      expect(afterPersonal.items[0]?.itemId).toBe(projectedTop);
      const afterSimilar = await similar(likedId);
      expect(afterSimilar.modelId).toBe(space);
      expect(afterSimilar.items[0]?.itemId).toBe(projectedTop);
      const popular = await local.call({ method: 'GET', path: '/users/nobody-yet/recommendations?limit=3' });
      expect(popular.json<List>().modelId).toBe(space);

      // The profile follows: the shopper's next event persists it folded in the projected space.
      const view = { eventId: 'view-1', userId: SHOPPER, itemId: projectedTop, type: 'view' };
      expect((await local.call(postJson('/events', { events: [view] }), { user: SHOPPER })).status).toBe(202);
      expect((await profileStoreOf(app).getProfile(SHOPPER))?.space).toBe(space);

      // New uploads are embedded into the projected space at once, and served from it.
      // Every image left: the search below needs one whose nearest neighbour leads clearly.
      const newIds = Array.from({ length: images.length - CATALOGUE }, (_, k) => itemIdOf(CATALOGUE + k));
      for (const [k, id] of newIds.entries())
        await local.upload(
          `catalogue/learned/${id}.png`,
          readFileSync((images[CATALOGUE + k] as { file: string }).file),
        );
      await app.queue.drain({ timeoutMs: 120_000 });
      const baseNow = await itemVectors(app, base.modelId, { readyOnly: true });
      const projectedNow = await itemVectors(app, space, { readyOnly: true });
      expect(projectedNow.size).toBe(CATALOGUE + newIds.length);
      for (const id of newIds)
        expect(
          cosine(
            projectedNow.get(id) as Float32Array,
            projectVector(projection, baseNow.get(id) as Float32Array),
          ),
        ).toBeCloseTo(1, 5);
      const details = await local.call({ method: 'GET', path: `/items/${newIds[0]}` });
      expect(details.json<{ servedByActiveModel: boolean; modelIds: string[] }>()).toMatchObject({
        servedByActiveModel: true,
        modelIds: expect.arrayContaining([base.modelId, space]),
      });

      // Search by image: the query is embedded, then projected with the same matrix. The photo of
      // a new upload finds the upload first, then its nearest neighbour in the projected space, with
      // the score of the projected query (an unprojected one would score differently: the upload
      // where the two differ most is searched).
      const candidates = newIds.flatMap((id) => {
        const query = baseNow.get(id) as Float32Array;
        const inSpace = ranked(projectedNow, projectVector(projection, query), [id]);
        const predicted = clearFirst(inSpace);
        if (!predicted) return [];
        const baseScore = cosine(query, projectedNow.get(predicted) as Float32Array);
        return [{ id, predicted, score: inSpace[0]?.score as number, baseScore }];
      });
      const gap = (c: { score: number; baseScore: number }) => Math.abs(c.score - c.baseScore);
      const searched = candidates.sort((a, b) => gap(b) - gap(a))[0];
      expect(searched).toBeDefined();
      const { id: searchedId, predicted } = searched as { id: string; predicted: string };
      expect(gap(searched as { score: number; baseScore: number })).toBeGreaterThan(0.04);
      const search = await local.call({
        method: 'POST',
        path: '/search?limit=3',
        headers: { 'content-type': 'image/png' },
        body: readFileSync((images[CATALOGUE + newIds.indexOf(searchedId)] as { file: string }).file),
      });
      expect(search.status).toBe(200);
      const found = search.json<List>();
      expect(found.modelId).toBe(space);
      expect(found.items.map((i) => i.itemId).slice(0, 2)).toEqual([searchedId, predicted]);
      expect(Math.abs((found.items[1]?.score as number) - (searched?.score as number))).toBeLessThan(0.02);
      // ... and the new upload is recommendable: its own similar list is served from the space.
      expect((await similar(searchedId)).items[0]?.itemId).toBe(predicted);

      // Rollback, as an operator runs it (`npm run rollout -- rollback-learned`): the base space
      // serves the next lists again.
      const printed: string[] = [];
      const stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        printed.push(chunk.toString());
        return true;
      });
      const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
      try {
        await rolloutProgram().parseAsync([
          'node',
          'rollout',
          'rollback-learned',
          '--bucket',
          app.stack.bucket,
          '--items-table',
          app.stack.tables.Items as string,
          '--settle-ms',
          '0',
        ]);
      } finally {
        stdout.mockRestore();
        stderr.mockRestore();
      }
      expect(JSON.parse(printed.join('').trim().split('\n').at(-1) as string)).toEqual({
        from: space,
        to: base.modelId,
      });
      const rolledBack = await personal();
      expect(rolledBack.modelId).toBe(base.modelId);
      const baseNowTop = ranked(baseNow, baseNow.get(likedId) as Float32Array, [likedId])[0]?.id;
      expect((await similar(likedId)).items[0]?.itemId).toBe(baseNowTop);
      expect((await similar(likedId)).modelId).toBe(base.modelId);

      expect(app.iam.denials()).toEqual([]);
    } finally {
      clients.dynamo.destroy();
      clients.s3.destroy();
    }
  }, 400_000);
});

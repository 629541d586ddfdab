/**
 * A switch of the active model (ACTIVE_MODEL_ID) to another model of the same dimension, on the local
 * twin with IAM enforced. Profiles are folded under model A (the default model, real images); a second
 * space B is written beside it, each item's vector in B being another item's vector in A, so the two
 * spaces rank differently. Then the twin runs again with ACTIVE_MODEL_ID=B over the same tables: the
 * first list after the switch must be personal and ranked in B, refolded on read (its cost logged and
 * recorded as `profile_refold_ms`), and the next event persists the refold.
 */
import { readFileSync } from 'node:fs';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { vectorToBytes } from '../../functions/adapters/dynamodb/item-table';
import { ENV } from '../../functions/contract/environment';
import { createLocalDynamoDbClient } from '../../infra/local/aws-env';
import { emojiImages } from '../support/images';
import { itemVectors, postJson, profileStoreOf, useLocalApp } from '../support/local-app';
import { DYNAMODB_ENDPOINT_ENV } from '../support/shared-dynamodb';

const local = useLocalApp({ environment: { INDEX_REFRESH_MS: '0' } });

const MODEL_B = 'lookalike-model-b';
const images = emojiImages('google').slice(0, 16);
const itemIdOf = (i: number) => `ms-${i}`;
const USER = 'switcher';
const HEAVY_USER = 'long-history';
/** The heavy user's history: what a refold on read costs for a profile of many events. */
const HEAVY_EVENTS = 300;

type List = {
  strategy: string;
  modelId: string;
  items: Array<{ itemId: string; reason: { kind: string; itemId?: string } }>;
};

const unit = (v: Float32Array) => {
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
};
const cosine = (a: Float32Array, b: Float32Array) => {
  const [ua, ub] = [unit(a), unit(b)];
  return ua.reduce((sum, x, i) => sum + x * (ub[i] as number), 0);
};
/** Items by similarity to `liked` in one space, most similar first, `liked` itself left out. */
const neighbours = (vectors: Map<string, Float32Array>, liked: string) =>
  [...vectors.keys()]
    .filter((itemId) => itemId !== liked)
    .sort(
      (a, b) =>
        cosine(vectors.get(liked) as Float32Array, vectors.get(b) as Float32Array) -
        cosine(vectors.get(liked) as Float32Array, vectors.get(a) as Float32Array),
    );

async function recommendIn(app: { call: typeof local.call }, userId: string): Promise<List> {
  const response = await app.call(
    { method: 'GET', path: `/users/${userId}/recommendations?limit=5&exclude=seen` },
    { user: userId },
  );
  expect(response.status).toBe(200);
  return response.json<List>();
}

describe('a switch of the active model to another of the same dimension', () => {
  it('serves the first list after the switch personal and in the new space, and the next event persists the refold', async () => {
    // Model A: real images through ingestion; a user likes one item, another has a long history.
    for (const [i, image] of images.entries())
      await local.upload(`catalogue/emoji/${itemIdOf(i)}.png`, readFileSync(image.file), {
        title: image.name,
      });
    await local.app.queue.drain({ timeoutMs: 120_000 });
    const modelA = local.app.manifest.modelId;
    const inA = await itemVectors(local.app, modelA);
    expect(inA.size).toBe(images.length);

    const liked = itemIdOf(3);
    const like = { eventId: 'like-1', userId: USER, itemId: liked, type: 'like' };
    expect((await local.call(postJson('/events', { events: [like] }), { user: USER })).status).toBe(202);
    const now = Date.now();
    for (let start = 0; start < HEAVY_EVENTS; start += 100) {
      const batch = Array.from({ length: 100 }, (_, k) => ({
        eventId: `h-${start + k}`,
        userId: HEAVY_USER,
        itemId: itemIdOf((start + k) % images.length),
        type: (start + k) % 7 === 0 ? 'dislike' : (start + k) % 3 === 0 ? 'like' : 'view',
        timestamp: now - (HEAVY_EVENTS - start - k) * 60_000,
      }));
      const imported = await local.call(postJson('/events/import', { events: batch }));
      expect(imported.json<{ accepted: number }>().accepted).toBe(100);
    }
    const store = profileStoreOf(local.app);
    expect((await store.getProfile(USER))?.space).toBe(modelA);
    expect((await store.getProfile(HEAVY_USER))?.profile.eventCount).toBe(HEAVY_EVENTS);

    const beforeSwitch = await recommendIn(local, USER);
    expect(beforeSwitch).toMatchObject({ strategy: 'personal', modelId: modelA });
    expect(beforeSwitch.items[0]?.itemId).toBe(neighbours(inA, liked)[0]);

    // Model B, of the same dimension, written beside A: item i gets the A vector of item i + 5.
    const documents = DynamoDBDocumentClient.from(
      createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb),
    );
    const inB = new Map<string, Float32Array>();
    for (let i = 0; i < images.length; i++) {
      const vector = inA.get(itemIdOf((i + 5) % images.length)) as Float32Array;
      inB.set(itemIdOf(i), vector);
      await documents.send(
        new UpdateCommand({
          TableName: local.app.stack.tables.Items,
          Key: { itemId: itemIdOf(i) },
          UpdateExpression: 'SET vectors.#model = :vector, changedAt = :now',
          ExpressionAttributeNames: { '#model': MODEL_B },
          ExpressionAttributeValues: { ':vector': vectorToBytes(vector), ':now': Date.now() },
        }),
      );
    }
    const expectedTopInB = neighbours(inB, liked)[0];
    // The spaces disagree on the liked item's nearest neighbour, so a list ranked in A would show.
    expect(expectedTopInB).not.toBe(beforeSwitch.items[0]?.itemId);

    // The same tables, served with ACTIVE_MODEL_ID=B: the handlers load again with the new environment.
    const prefix = (local.app.stack.tables.Items as string).slice(0, -'Items'.length);
    jest.resetModules();
    const { startLocalApp } = await import('../../infra/local/app');
    const { invoke } = await import('../../infra/local/api-server');
    const switched = await startLocalApp({
      dynamoEndpoint: process.env[DYNAMODB_ENDPOINT_ENV] || undefined,
      tablePrefix: prefix,
      deleteTablesOnStop: false,
      apiPort: -1,
      quiet: false,
      environment: {
        [ENV.ACTIVE_MODEL_ID]: MODEL_B,
        INDEX_REFRESH_MS: '0',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        POWERTOOLS_METRICS_DISABLED: 'false',
        POWERTOOLS_METRICS_NAMESPACE: 'Lookalike',
      },
    });
    const printed: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(chunk.toString());
      return true;
    });
    try {
      const callB: typeof local.call = async (request, as) => {
        const token = as && 'user' in as ? await switched.issuer?.token(as.user) : undefined;
        return invoke(
          switched.handlers,
          {
            ...request,
            headers: { ...request.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
          },
          switched.authorize ? { authorize: switched.authorize } : {},
        );
      };

      const first = await recommendIn({ call: callB }, USER);
      const heavy = await recommendIn({ call: callB }, HEAVY_USER);

      write.mockRestore();
      expect(first).toMatchObject({ strategy: 'personal', modelId: MODEL_B });
      expect(first.items[0]?.itemId).toBe(expectedTopInB);
      // Every item is there for the liked item, ranked or (these items are all new) explored.
      expect(
        first.items.every(
          (item) =>
            (item.reason.kind === 'similar_to' || item.reason.kind === 'exploration') &&
            item.reason.itemId === liked,
        ),
      ).toBe(true);
      expect(heavy.strategy).toBe('personal');

      // The refold's cost: a log line per refold and the profile_refold_ms metric.
      const lines = printed
        .join('')
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const refolds = lines.filter((line) => line.message === 'profile refolded');
      expect(refolds.map((line) => [line.userId, line.fromSpace, line.toSpace, line.events])).toEqual([
        [USER, modelA, MODEL_B, 1],
        [HEAVY_USER, modelA, MODEL_B, HEAVY_EVENTS],
      ]);
      for (const line of refolds) expect(line.refoldMs).toEqual(expect.any(Number));
      const metric = lines.filter((line) => typeof line.profile_refold_ms === 'number');
      expect(metric).toHaveLength(2);
      console.log(
        refolds.map((line) => `refold on read: ${line.events} events in ${line.refoldMs} ms`).join('\n'),
      );

      // Recommend wrote nothing: the profile is still of space A until the user's next event.
      expect((await store.getProfile(USER))?.space).toBe(modelA);
      const next = { eventId: 'like-2', userId: USER, itemId: expectedTopInB, type: 'like' };
      expect((await callB(postJson('/events', { events: [next] }), { user: USER })).status).toBe(202);
      const persisted = await store.getProfile(USER);
      expect(persisted).toMatchObject({ space: MODEL_B, version: 2 });
      expect(persisted?.profile.eventCount).toBe(2);
      // Its centroid is B's: the liked items' vectors in B, not in A.
      const centroid = persisted?.profile.centroids[0]?.sum as Float64Array;
      const likedInB = inB.get(liked) as Float32Array;
      expect(cosine(Float32Array.from(centroid), likedInB)).toBeGreaterThan(
        cosine(Float32Array.from(centroid), inA.get(liked) as Float32Array),
      );

      expect(switched.iam.denials()).toEqual([]);
    } finally {
      write.mockRestore();
      documents.destroy();
      await switched.stop();
    }
    // The twin's operator view of the row: the space is an attribute of its own.
    const row = DynamoDBDocumentClient.from(createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb));
    const { Item } = await row.send(
      new GetCommand({ TableName: local.app.stack.tables.Profiles, Key: { userId: USER } }),
    );
    row.destroy();
    expect(Item?.space).toBe(MODEL_B);
  }, 300_000);
});

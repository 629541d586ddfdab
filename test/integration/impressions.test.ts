/**
 * Impressions through the local app (issue 21): every list served over the four list routes is
 * recorded exactly once, with its positions, strategy and placement, under its user (or its own
 * anonymous partition) and in the byDay index; the stream's consumer counts each list's items once,
 * however often a record is delivered; an erasure removes the user's impressions and nothing else;
 * a list whose impression cannot be written is still answered. Real DynamoDB Local, the real handlers,
 * IAM enforced.
 */
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { ImpressionCounters } from '../../functions/adapters/dynamodb/impression-counts';
import type { ImpressionRow } from '../../functions/adapters/dynamodb/impression-log';
import { DEFAULT_TRACKING_POLICY } from '../../functions/app/track-events';
import { IMPRESSION_DAY_SHARDS, IMPRESSIONS_DAY_INDEX } from '../../functions/contract/storage';
import { impressionFrameWeight, isUuidV7 } from '../../functions/domain/impressions';
import { invoke } from '../../infra/local/api-server';
import { createLocalDynamoDbClient } from '../../infra/local/aws-env';
import { catalogueJpeg, emojiImages } from '../support/images';
import { postJson, profileStoreOf, useLocalApp } from '../support/local-app';
import { seedSyntheticItems } from '../support/synthetic-items';

const local = useLocalApp({ environment: { INDEX_REFRESH_MS: '0', AGGREGATE_CACHE_MS: '1' } });
const itemIds = Array.from({ length: 30 }, (_, i) => `imp-item-${i}`);
const DAY_MS = 86_400_000;

type List = {
  recommendationId: string;
  strategy: string;
  placement: string;
  items: Array<{ itemId: string; reason: { kind: string } }>;
};
/** What each served list should have left in the table. */
const served: Array<List & { pk: string }> = [];

const documents = () =>
  DynamoDBDocumentClient.from(createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb));
const table = () => local.app.stack.tables.Impressions as string;

async function rowsOf(pk: string): Promise<ImpressionRow[]> {
  const client = documents();
  const { Items = [] } = await client.send(
    new QueryCommand({
      TableName: table(),
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk },
      ScanIndexForward: false,
      ConsistentRead: true,
    }),
  );
  client.destroy();
  return Items as ImpressionRow[];
}

async function allRows(): Promise<ImpressionRow[]> {
  const client = documents();
  const { Items = [] } = await client.send(new ScanCommand({ TableName: table(), ConsistentRead: true }));
  client.destroy();
  return Items as ImpressionRow[];
}

async function list(
  path: string,
  as: Parameters<typeof local.call>[1],
  pk: string,
  body?: Buffer,
): Promise<List> {
  const response = await local.call(
    body
      ? { method: 'POST', path, headers: { 'content-type': 'image/jpeg' }, body }
      : { method: 'GET', path },
    as,
  );
  expect(response.status).toBe(200);
  const answered = response.json<List>();
  served.push({ ...answered, pk });
  return answered;
}

beforeAll(async () => {
  await seedSyntheticItems(local.app, itemIds);
  await local.app.compact();
  const events = [0, 1, 2, 3].map((i) => ({
    eventId: `ann-${i}`,
    userId: 'imp-ann',
    itemId: itemIds[i],
    type: 'like',
  }));
  expect((await local.call(postJson('/events', { events }), { user: 'imp-ann' })).status).toBe(202);
}, 180_000);

describe('impressions of the lists served', () => {
  it('records n lists served over the four list routes as exactly n rows, each as answered', async () => {
    const ann = { user: 'imp-ann' };
    const personal = [
      await list('/users/imp-ann/recommendations?limit=5&placement=home', ann, 'imp-ann'),
      await list('/users/imp-ann/recommendations?limit=4', ann, 'imp-ann'),
      await list('/users/imp-ann/recommendations?limit=3&placement=email', ann, 'imp-ann'),
    ];
    const popular = await list('/users/imp-bob/recommendations?limit=4', { user: 'imp-bob' }, 'imp-bob');
    const similar = await list(`/items/${itemIds[5]}/similar?limit=3&placement=product`, ann, 'imp-ann');
    const image = emojiImages('google')[0]?.file as string;
    const search = await list('/search?limit=3', ann, 'imp-ann', await catalogueJpeg(image, 200));
    // A list served with no user behind it (no authorizer in front: a service's call) gets its own partition.
    const anonymous = await invoke(local.app.handlers, {
      method: 'GET',
      path: `/items/${itemIds[6]}/similar?limit=2`,
    });
    expect(anonymous.status).toBe(200);
    const anonymousList = anonymous.json<List>();
    served.push({ ...anonymousList, pk: `anonymous#${anonymousList.recommendationId}` });

    expect(personal.map((l) => [l.strategy, l.placement])).toEqual([
      ['personal', 'home'],
      ['personal', 'personal'],
      ['personal', 'email'],
    ]);
    expect([popular.strategy, popular.placement]).toEqual(['popular', 'popular']);
    expect([similar.strategy, similar.placement]).toEqual(['similar_item', 'product']);
    expect([search.strategy, search.placement]).toEqual(['similar_image', 'similar_image']);

    const rows = await allRows();
    expect(rows).toHaveLength(served.length);
    for (const answered of served) {
      const row = rows.find((r) => r.sk === answered.recommendationId);
      expect(isUuidV7(answered.recommendationId)).toBe(true);
      expect(row).toMatchObject({
        pk: answered.pk,
        strategy: answered.strategy,
        placement: answered.placement,
        modelId: local.app.manifest.modelId,
      });
      // These items are all new uploads: an item in an exploration slot is recorded as such.
      expect(row?.items).toEqual(
        answered.items.map((item, i) => ({
          itemId: item.itemId,
          position: i + 1,
          source: item.reason.kind === 'exploration' ? 'exploration' : 'organic',
        })),
      );
      // Kept 30 days.
      expect((row?.expiresAt ?? 0) * 1000 - (row?.servedAt ?? 0)).toBeGreaterThanOrEqual(30 * DAY_MS - 1000);
      expect((row?.expiresAt ?? 0) * 1000 - (row?.servedAt ?? 0)).toBeLessThanOrEqual(30 * DAY_MS + 1000);
    }
    // The user's partition read backwards is the latest lists first (UUIDv7 ids sort by time).
    const annRows = await rowsOf('imp-ann');
    expect(annRows.map((r) => r.sk)).toEqual(
      served
        .filter((l) => l.pk === 'imp-ann')
        .map((l) => l.recommendationId)
        .reverse(),
    );
  }, 120_000);

  it("finds every list of the day in the byDay index's 16 shards", async () => {
    const client = documents();
    const found: string[] = [];
    const days = new Set((await allRows()).map((row) => row.day.split('#')[0]));
    for (const day of days)
      for (let shard = 0; shard < IMPRESSION_DAY_SHARDS; shard++) {
        const { Items = [] } = await client.send(
          new QueryCommand({
            TableName: table(),
            IndexName: IMPRESSIONS_DAY_INDEX,
            KeyConditionExpression: '#day = :day',
            ExpressionAttributeNames: { '#day': 'day' },
            ExpressionAttributeValues: { ':day': `${day}#${shard}` },
          }),
        );
        found.push(...Items.map((item) => item.sk as string));
      }
    client.destroy();
    expect(found.sort()).toEqual(served.map((l) => l.recommendationId).sort());
  });

  it('counts each item once per list it was shown in, after the stream drains', async () => {
    await local.app.impressionsStream.drain();
    const rows = await allRows();
    const expected = new Map<string, number>();
    for (const row of rows)
      for (const item of row.items)
        expected.set(
          item.itemId,
          (expected.get(item.itemId) ?? 0) +
            impressionFrameWeight(row.servedAt, DEFAULT_TRACKING_POLICY.popularityEpoch),
        );
    const counted = await profileStoreOf(local.app).impressions();
    expect([...counted.keys()].sort()).toEqual([...expected.keys()].sort());
    // Frame weights are large numbers (2^(days since the epoch / 30)): compare them relative to their size.
    for (const [itemId, weight] of expected) expect((counted.get(itemId) ?? 0) / weight).toBeCloseTo(1, 9);
    expect(local.app.impressionsStream.deadLetters).toEqual([]);
  });

  it('counts a redelivered record once, however the batch around it is cut', async () => {
    const counters = new ImpressionCounters(
      createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb),
      local.app.stack.tables.Stats as string,
      DEFAULT_TRACKING_POLICY.popularityEpoch,
    );
    const servedAt = Date.now();
    const records: DynamoDBRecord[] = Array.from({ length: 12 }, (_, k) => ({
      eventID: `redelivery-${k}`,
      eventName: 'INSERT',
      dynamodb: {
        SequenceNumber: String(5000 + k),
        NewImage: marshall({
          pk: `redelivery-user-${k}`,
          sk: `redelivery-${k}`,
          servedAt,
          items: [
            { itemId: 'redelivered-a', position: 1, source: 'organic' },
            { itemId: `redelivered-${k % 3}`, position: 2, source: 'organic' },
          ],
        }) as never,
      },
    }));
    const first = await counters.countBatch(records.slice(0, 8));
    const second = await counters.countBatch(records.slice(4, 12));
    const third = await counters.countBatch(records);
    expect([first.impressions, second.impressions, third.impressions]).toEqual([16, 8, 0]);
    expect([first.failed, second.failed, third.failed]).toEqual([[], [], []]);
    const weight = impressionFrameWeight(servedAt, DEFAULT_TRACKING_POLICY.popularityEpoch);
    const counted = await profileStoreOf(local.app).impressions();
    expect((counted.get('redelivered-a') ?? 0) / weight).toBeCloseTo(12, 9);
    for (const k of [0, 1, 2]) expect((counted.get(`redelivered-${k}`) ?? 0) / weight).toBeCloseTo(4, 9);
  });

  it("erases the user's impressions with the user, and leaves everyone else's", async () => {
    const before = await allRows();
    const annLists = served.filter((l) => l.pk === 'imp-ann').length;
    const erased = await local.call({ method: 'DELETE', path: '/users/imp-ann' }, { user: 'imp-ann' });
    expect(erased.status).toBe(200);
    expect(erased.json()).toMatchObject({ userId: 'imp-ann', erased: true, impressions: annLists });
    expect(await rowsOf('imp-ann')).toEqual([]);
    const after = await allRows();
    expect(after.map((r) => r.sk).sort()).toEqual(
      before
        .filter((r) => r.pk !== 'imp-ann')
        .map((r) => r.sk)
        .sort(),
    );
    expect(after.length).toBeGreaterThan(0);
  });

  it('answers a list whose impression cannot be written (the table gone)', async () => {
    await local.app.impressionsStream.stop();
    const operator = createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb);
    await operator.send(new DeleteTableCommand({ TableName: table() }));
    operator.destroy();
    const response = await local.call(
      { method: 'GET', path: '/users/imp-bob/recommendations?limit=3' },
      { user: 'imp-bob' },
    );
    expect(response.status).toBe(200);
    expect(response.json<List>().items).toHaveLength(3);
  });
});

/**
 * The co-engagement consumer merges a stream batch's increments per counter and writes them in few
 * transactions, and still counts each record exactly once: a redelivered record, in a batch cut
 * differently (as a partial-batch retry or a timed-out invocation redelivers), adds nothing again.
 * An item's counters are spread over its partition keys (issue 24) and read together with the
 * rows written before, all in `co#<item>`. Real DynamoDB Local (the Stats table of a local stack),
 * stream records as Lambda receives them.
 */
import { DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import {
  acceptedEvent,
  CoEngagementCounters,
  coEngagementPartition,
  coEngagementPartitions,
  countBatch,
  pairsOfEvent,
} from '../../functions/adapters/dynamodb/co-engagement-counters';
import type { StoredEvent } from '../../functions/app/ports';
import { dynamoClient } from '../../functions/platform/clients';
import { recordDynamoCalls } from '../support/dynamo-calls';
import { profileStoreOf, useLocalApp } from '../support/local-app';

const local = useLocalApp();
const items = Array.from({ length: 12 }, (_, i) => `batch-co-${i}`);

/** Event k pairs its item with the (up to) 10 items before it, as the tracker's fan-out does. */
function recordOf(k: number): DynamoDBRecord {
  const itemId = items[k % items.length] as string;
  const coItems = Array.from(
    { length: Math.min(k, 10) },
    (_, j) => items[(k - 1 - j) % items.length] as string,
  );
  const event: StoredEvent = {
    userId: `batch-user-${k % 3}`,
    eventId: `e${k}`,
    itemId,
    type: 'like',
    at: 1_700_000_000_000 + k,
    payloadHash: `h${k}`,
    receivedAt: 1_700_000_000_000,
    expiresAt: 2_000_000_000,
    epoch: 1,
    ...(coItems.length > 0 ? { coItems, coWeight: 1 + k / 10 } : {}),
  };
  return {
    eventID: `record-${k}`,
    eventName: 'INSERT',
    dynamodb: {
      SequenceNumber: String(1000 + k),
      NewImage: marshall(event, { removeUndefinedValues: true }) as never,
    },
  };
}

/** Counter values the records should add up to, each counted once. */
function expectedCounts(records: DynamoDBRecord[]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const record of records) {
    for (const pair of pairsOf(record)) {
      const key = `${pair.from}>${pair.to}`;
      totals.set(key, (totals.get(key) ?? 0) + pair.weight);
    }
  }
  return totals;
}

async function storedCounts(): Promise<Map<string, number>> {
  const store = profileStoreOf(local.app);
  const totals = new Map<string, number>();
  for (const from of items)
    for (const row of await store.coEngagementFrom(from)) totals.set(`${from}>${row.itemId}`, row.weight);
  return totals;
}

it('writes a batch in few merged transactions and counts a redelivered record once, however the batch is cut', async () => {
  const counters = new CoEngagementCounters(dynamoClient(), local.app.stack.tables.Stats as string);
  const records = Array.from({ length: 40 }, (_, k) => recordOf(k));

  const recorder = recordDynamoCalls(
    dynamoClient(),
    ({ command }) => command === 'TransactWriteItemsCommand',
  );
  const first = await countBatch(counters, records.slice(0, 25));
  recorder.stop();
  expect(first.failed).toEqual([]);
  // 24 records with pairs (the first has none) over 12 items: far fewer transactions than records.
  process.stdout.write(`[co-engagement] 25 records: ${recorder.calls.length} transaction(s)\n`);
  expect(recorder.calls.length).toBeLessThan(24);
  const once = expectedCounts(records.slice(0, 25));
  const afterFirst = await storedCounts();
  expect([...afterFirst.keys()].sort()).toEqual([...once.keys()].sort());
  for (const [key, weight] of once) expect(afterFirst.get(key)).toBeCloseTo(weight, 9);

  // A retry from record 10 with the records that arrived since: 10..24 were applied, 25..39 are new.
  const second = await countBatch(counters, records.slice(10, 40));
  expect(second.failed).toEqual([]);
  expect(second.pairs).toBe(records.slice(25).reduce((sum, r) => sum + pairsOf(r).length, 0));
  const all = expectedCounts(records);
  const afterSecond = await storedCounts();
  for (const [key, weight] of all) expect(afterSecond.get(key)).toBeCloseTo(weight, 9);

  // The same batch again, as a redelivery of a whole invocation: nothing changes.
  const third = await countBatch(counters, records.slice(10, 40));
  expect(third).toEqual({ pairs: 0, failed: [], errors: [] });
  expect(await storedCounts()).toEqual(afterSecond);
});

function pairsOf(record: DynamoDBRecord) {
  const event = acceptedEvent(record);
  return event ? pairsOfEvent(event) : [];
}

it("spreads an item's counters over its partition keys and reads them with the rows written before (all in co#<item>)", async () => {
  const client = dynamoClient();
  const documents = DynamoDBDocumentClient.from(client);
  const stats = local.app.stack.tables.Stats as string;
  const from = 'legacy-co-viral';
  const partners = Array.from({ length: 16 }, (_, i) => `legacy-co-${i}`);
  // The layout before issue 24: every counter of an item in one partition key, co#<item>.
  for (const to of partners)
    await documents.send(
      new UpdateCommand({
        TableName: stats,
        Key: { pk: `co#${from}`, sk: to },
        UpdateExpression: 'ADD weight :w',
        ExpressionAttributeValues: { ':w': 2 },
      }),
    );
  const counters = new CoEngagementCounters(client, stats);
  // One stream record pairs the item with the first 10 partners (both directions).
  const record = recordOf(0);
  const event = {
    ...(acceptedEvent(record) as StoredEvent),
    itemId: from,
    coItems: partners.slice(0, 10),
    coWeight: 3,
  };
  const result = await countBatch(counters, [
    { ...record, eventID: 'legacy-co-record', dynamodb: { NewImage: marshall(event) as never } },
  ]);
  expect(result).toEqual({ pairs: 20, failed: [], errors: [] });

  // Each partition key holds exactly the partners its hash names (shard 0 also the old rows).
  const partitionRows = await Promise.all(
    coEngagementPartitions(from).map(async (pk) => {
      const page = await documents.send(
        new QueryCommand({
          TableName: stats,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
        }),
      );
      return (page.Items ?? []).map((row) => row.sk as string);
    }),
  );
  expect(partitionRows.filter((rows) => rows.length > 0).length).toBeGreaterThan(1);
  for (const [shard, rows] of partitionRows.entries())
    for (const to of rows)
      if (shard > 0) expect(coEngagementPartition(from, to)).toBe(coEngagementPartitions(from)[shard]);

  const store = profileStoreOf(local.app);
  const read = new Map((await store.coEngagementFrom(from)).map((row) => [row.itemId, row.weight]));
  expect(read).toEqual(new Map(partners.map((to, i) => [to, i < 10 ? 5 : 2])));
  // And the other direction, written by the same record, in each partner's partitions.
  expect(
    (await store.coEngagementFrom(partners[3] as string)).find((row) => row.itemId === from)?.weight,
  ).toBe(3);
});

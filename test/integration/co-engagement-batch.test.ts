/**
 * The co-engagement consumer merges a stream batch's increments per counter and writes them in few
 * transactions, and still counts each record exactly once: a redelivered record, in a batch cut
 * differently (as a partial-batch retry or a timed-out invocation redelivers), adds nothing again.
 * Real DynamoDB Local (the Stats table of a local stack), stream records as Lambda receives them.
 */
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import {
  acceptedEvent,
  CoEngagementCounters,
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

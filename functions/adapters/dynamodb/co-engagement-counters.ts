import { type DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import type { StoredEvent } from '../../app/ports';

/**
 * Item-to-item co-engagement counters, fed by the Events table's stream: the tracker stores, on
 * each accepted event, the partners it pairs with (see `coEngagementPartners`); this adds the pairs
 * to the counters after the request has answered. A 100-event request thus costs three
 * transactions, not the ~2,000 counter updates its pairs need; those run here, in batches the
 * stream paces: a batch's increments are merged per counter and written in transactions of up to
 * 100 actions, each record counted exactly once thanks to a marker written in the same transaction.
 */
export interface CoEngagementPair {
  from: string;
  to: string;
  weight: number;
}

/** The pairs one stored event forms, both directions, merged per (from, to). */
export function pairsOfEvent(
  event: Pick<StoredEvent, 'itemId' | 'coItems' | 'coWeight'>,
): CoEngagementPair[] {
  const weight = event.coWeight;
  if (!event.coItems?.length || weight === undefined || !(weight > 0)) return [];
  const merged = new Map<string, CoEngagementPair>();
  const add = (from: string, to: string) => {
    const key = `${from}\u0000${to}`;
    const existing = merged.get(key);
    if (existing) existing.weight += weight;
    else merged.set(key, { from, to, weight });
  };
  for (const other of event.coItems) {
    if (other === event.itemId) continue;
    add(event.itemId, other);
    add(other, event.itemId);
  }
  return [...merged.values()];
}

/**
 * The event a stream record accepted, if it forms pairs: an insert, or the replacement of an event
 * an erasure had left stale (a modify). Removals (erasure, TTL) take nothing back: the counters
 * are aggregates without user ids.
 */
export function acceptedEvent(record: DynamoDBRecord): StoredEvent | undefined {
  if (record.eventName !== 'INSERT' && record.eventName !== 'MODIFY') return undefined;
  const image = record.dynamodb?.NewImage;
  if (!image) return undefined;
  return unmarshall(image as Parameters<typeof unmarshall>[0]) as StoredEvent;
}

/** A concurrent update of one of the same counters cancelled the transaction: retry later. */
export class CounterConflict extends Error {
  readonly code = 'counter_conflict';
}

/** TransactWriteItems takes at most 100 actions. */
const MAX_ACTIONS = 100;
/**
 * How long a record's "applied" marker is kept: longer than a stream keeps a record (24 hours) plus
 * its retries, so any redelivery of an applied record finds it.
 */
const MARKER_TTL_SECONDS = 3 * 86_400;

/** A stream record's pairs, and the id that marks it applied. */
export interface RecordPairs {
  recordId: string;
  pairs: CoEngagementPair[];
}

/** Stats key of the marker that a stream record's pairs were counted (no user id: the stream's record id). */
const markerKey = (recordId: string) => ({ pk: `applied#${recordId}`, sk: 'co-engagement' });

export class CoEngagementCounters {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly statsTable: string,
  ) {
    this.documents = DynamoDBDocumentClient.from(client);
  }

  /**
   * Adds the pairs of several records, each record's once: one transaction holds, per record, a
   * conditional marker that it has been applied, and the records' increments merged per counter
   * (one update per counter, however many records add to it). A record applied before (a stream
   * redelivery, whatever the batch around it) fails its marker's condition: it is left out and the
   * rest is written again. Returns the ids of the records this call applied.
   */
  async addOnce(records: readonly RecordPairs[], now = Date.now()): Promise<Set<string>> {
    let pending = records.filter((record) => record.pairs.length > 0);
    while (pending.length > 0) {
      const merged = new Map<string, CoEngagementPair>();
      for (const { pairs } of pending)
        for (const pair of pairs) {
          const key = `${pair.from}\u0000${pair.to}`;
          const existing = merged.get(key);
          if (existing) existing.weight += pair.weight;
          else merged.set(key, { ...pair });
        }
      const expiresAt = Math.ceil(now / 1000) + MARKER_TTL_SECONDS;
      try {
        await this.documents.send(
          new TransactWriteCommand({
            TransactItems: [
              ...pending.map(({ recordId }) => ({
                Update: {
                  TableName: this.statsTable,
                  Key: markerKey(recordId),
                  UpdateExpression: 'SET expiresAt = :expires',
                  ConditionExpression: 'attribute_not_exists(pk)',
                  ExpressionAttributeValues: { ':expires': expiresAt },
                },
              })),
              ...[...merged.values()].map(({ from, to, weight }) => ({
                Update: {
                  TableName: this.statsTable,
                  Key: { pk: `co#${from}`, sk: to },
                  UpdateExpression: 'ADD weight :w',
                  ExpressionAttributeValues: { ':w': weight },
                },
              })),
            ],
          }),
        );
        return new Set(pending.map((record) => record.recordId));
      } catch (error) {
        if (!isCancelled(error)) throw error;
        const reasons =
          (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
        const applied = new Set(
          pending.filter((_, i) => reasons[i]?.Code === 'ConditionalCheckFailed').map((r) => r.recordId),
        );
        if (applied.size === 0)
          throw new CounterConflict('a concurrent update of the same co-engagement counters');
        pending = pending.filter((record) => !applied.has(record.recordId));
      }
    }
    return new Set();
  }
}

const isCancelled = (error: unknown) =>
  error instanceof TransactionCanceledException ||
  (error as { name?: string }).name === 'TransactionCanceledException';

/**
 * Groups records, in stream order, into transactions of at most 100 actions: a marker per record
 * and an update per distinct counter. A record's pairs are never split (one event forms at most
 * 2 x 49 pairs, see `coEngagementFanout`), so it is applied all at once or not at all.
 */
export function transactionsOf(records: readonly RecordPairs[]): RecordPairs[][] {
  const groups: RecordPairs[][] = [];
  let group: RecordPairs[] = [];
  let counters = new Set<string>();
  for (const record of records) {
    if (record.pairs.length === 0) continue;
    const keys = record.pairs.map((pair) => `${pair.from}\u0000${pair.to}`);
    const grown = new Set([...counters, ...keys]);
    if (group.length > 0 && group.length + 1 + grown.size > MAX_ACTIONS) {
      groups.push(group);
      group = [];
      counters = new Set(keys);
    } else counters = grown;
    group.push(record);
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

const MAX_CONFLICT_ATTEMPTS = 5;

/**
 * Applies a batch of stream records' pairs in as few transactions as fit (see `transactionsOf`),
 * each retried a few times on conflicts. Returns the pairs counted and the records that still
 * failed (to report as the batch's failures: the stream retries from the first of them, and the
 * markers make the records after it that were applied count once).
 */
export async function countBatch(
  counters: CoEngagementCounters,
  records: readonly DynamoDBRecord[],
): Promise<{ pairs: number; failed: DynamoDBRecord[]; errors: unknown[] }> {
  const byId = new Map<string, DynamoDBRecord>();
  const withPairs: RecordPairs[] = [];
  for (const record of records) {
    const event = acceptedEvent(record);
    const pairs = event ? pairsOfEvent(event) : [];
    const recordId = record.eventID ?? record.dynamodb?.SequenceNumber ?? '';
    byId.set(recordId, record);
    withPairs.push({ recordId, pairs });
  }
  let counted = 0;
  const failed: DynamoDBRecord[] = [];
  const errors: unknown[] = [];
  for (const group of transactionsOf(withPairs)) {
    for (let attempt = 1; ; attempt++) {
      try {
        const applied = await counters.addOnce(group);
        for (const record of group) if (applied.has(record.recordId)) counted += record.pairs.length;
        break;
      } catch (error) {
        if (!(error instanceof CounterConflict) || attempt >= MAX_CONFLICT_ATTEMPTS) {
          errors.push(error);
          for (const { recordId } of group) failed.push(byId.get(recordId) as DynamoDBRecord);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt * (0.5 + Math.random())));
      }
    }
  }
  return { pairs: counted, failed, errors };
}

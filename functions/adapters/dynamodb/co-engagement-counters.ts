import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { isItemEvent, type StoredEvent } from '../../app/ports';
import type { EventType } from '../../domain/interest-profile';
import type { BasketHistory } from './co-purchases';
import { type CounterIncrement, countStreamBatch, OnceCounters, transactionGroups } from './stats-counters';

export { CounterConflict } from './stats-counters';

/**
 * Item-to-item co-engagement counters, fed by the Events table's stream: the tracker stores, on
 * each accepted event, the partners it pairs with (see `coEngagementPartners`); this adds the pairs
 * to the counters after the request has answered. A 100-event request thus costs three
 * transactions, not the ~2,000 counter updates its pairs need; those run here, in batches the
 * stream paces: a batch's increments are merged per counter and written in transactions of up to
 * 100 actions, each record counted exactly once thanks to a marker written in the same transaction
 * (see stats-counters.ts).
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
export function acceptedEvent(record: DynamoDBRecord): (StoredEvent & { type: EventType }) | undefined {
  if (record.eventName !== 'INSERT' && record.eventName !== 'MODIFY') return undefined;
  const image = record.dynamodb?.NewImage;
  if (!image) return undefined;
  const event = unmarshall(image as Parameters<typeof unmarshall>[0]) as StoredEvent;
  // A shopper's interest edit (issue 23) is no item event: no counter reads it.
  return isItemEvent(event) ? event : undefined;
}

/** A stream record's pairs, and the id that marks it applied. */
export interface RecordPairs {
  recordId: string;
  pairs: CoEngagementPair[];
}

const incrementOf = ({ from, to, weight }: CoEngagementPair): CounterIncrement => ({
  pk: `co#${from}`,
  sk: to,
  weight,
});

export class CoEngagementCounters {
  readonly counters: OnceCounters;

  constructor(
    client: DynamoDBClient,
    statsTable: string,
    /** The users' basket events, for the co-purchase counters (issue 22); absent: none are counted. */
    readonly baskets?: BasketHistory,
  ) {
    this.counters = new OnceCounters(client, statsTable, 'co-engagement');
  }

  /** Adds the pairs of several records, each record's once (see OnceCounters.addOnce). */
  addOnce(records: readonly RecordPairs[], now = Date.now()): Promise<Set<string>> {
    return this.counters.addOnce(
      records.map(({ recordId, pairs }) => ({ recordId, increments: pairs.map(incrementOf) })),
      now,
    );
  }
}

/**
 * Groups records, in stream order, into transactions of at most 100 actions: a marker per record
 * and an update per distinct counter. A record's pairs are never split (one event forms at most
 * 2 x 49 pairs, see `coEngagementFanout`), so it is applied all at once or not at all.
 */
export function transactionsOf(records: readonly RecordPairs[]): RecordPairs[][] {
  return transactionGroups(records, (record) => record.pairs.map((pair) => `${pair.from}\u0000${pair.to}`));
}

/** The pairs a stream record's event forms, as counter increments. */
const incrementsOfRecord = (record: DynamoDBRecord): CounterIncrement[] => {
  const event = acceptedEvent(record);
  return event ? pairsOfEvent(event).map(incrementOf) : [];
};

const recordKey = (record: DynamoDBRecord) => record.eventID ?? record.dynamodb?.SequenceNumber ?? '';

/**
 * Applies a batch of stream records' pairs in as few transactions as fit (see `countStreamBatch`),
 * with, for each basket event, its co-purchase increments (read from the user's earlier basket
 * events first: one Query per user in the batch), in the same transaction as its co-engagement.
 * Returns the pairs counted and the records that still failed.
 */
export async function countBatch(
  counters: CoEngagementCounters,
  records: readonly DynamoDBRecord[],
): Promise<{ pairs: number; failed: DynamoDBRecord[]; errors: unknown[] }> {
  const coPurchases = counters.baskets
    ? await counters.baskets.incrementsOf(
        records.flatMap((record) => {
          const event = acceptedEvent(record);
          return event ? [{ key: recordKey(record), event }] : [];
        }),
      )
    : new Map<string, CounterIncrement[]>();
  const { counted, failed, errors } = await countStreamBatch(counters.counters, records, (record) => [
    ...incrementsOfRecord(record),
    ...(coPurchases.get(recordKey(record)) ?? []),
  ]);
  return { pairs: counted, failed, errors };
}

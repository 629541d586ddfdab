import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { isItemEvent, type StoredEvent } from '../../app/ports';
import type { EventType } from '../../domain/interest-profile';
import type { BasketHistory } from './co-purchases';
import { mix32, stringHash } from './key-hash';
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

/**
 * Partitions one item's co-engagement counters are spread over (issue 24): the counter from `from`
 * to `to` lives in partition `hash(to) mod CO_ENGAGEMENT_SHARDS` of `from`, so a flash-sale item
 * whose partners all gain at once writes to 4 partition keys, not one (each of its rows was already
 * under the bound; their sum on one partition key was not). The reader queries all of them at once.
 */
export const CO_ENGAGEMENT_SHARDS = 4;

/**
 * The partition key of shard `shard` of `from`'s counters. Shard 0 is `co#<from>`, the one partition
 * an item had before: rows written then are read as they are (a partner in another shard since is
 * summed over both). The others are `co<shard>#<from>`: the shard stands before the `#`, as an
 * item id may hold `#` (`co#<from>#1` would be item `<from>#1`'s first partition).
 */
export const coEngagementShardKey = (from: string, shard: number): string =>
  shard === 0 ? `co#${from}` : `co${shard}#${from}`;

/** The partition key of the counter from `from` to `to` (a stable hash of `to`: always the same). */
export const coEngagementPartition = (from: string, to: string, shards = CO_ENGAGEMENT_SHARDS): string =>
  coEngagementShardKey(from, mix32(stringHash(to)) % shards);

/** Every partition key of `from`'s counters, the reader's queries. */
export const coEngagementPartitions = (from: string): string[] =>
  Array.from({ length: CO_ENGAGEMENT_SHARDS }, (_, shard) => coEngagementShardKey(from, shard));

export class CoEngagementCounters {
  readonly counters: OnceCounters;

  constructor(
    client: DynamoDBClient,
    statsTable: string,
    /** The users' basket events, for the co-purchase counters (issue 22); absent: none are counted. */
    readonly baskets?: BasketHistory,
    /**
     * Partitions written per item (at most CO_ENGAGEMENT_SHARDS, which the reader reads): 1 writes
     * every counter to `co#<from>`, the layout before issue 24 (the simulation's "before").
     */
    readonly shards = CO_ENGAGEMENT_SHARDS,
  ) {
    if (!Number.isInteger(shards) || shards < 1 || shards > CO_ENGAGEMENT_SHARDS)
      throw new Error(`shards must be an integer in 1..${CO_ENGAGEMENT_SHARDS}`);
    this.counters = new OnceCounters(client, statsTable, 'co-engagement');
  }

  /** A pair's counter increment, in its partition. */
  incrementOf({ from, to, weight }: CoEngagementPair): CounterIncrement {
    return { pk: coEngagementPartition(from, to, this.shards), sk: to, weight };
  }

  /** Adds the pairs of several records, each record's once (see OnceCounters.addOnce). */
  addOnce(records: readonly RecordPairs[], now = Date.now()): Promise<Set<string>> {
    return this.counters.addOnce(
      records.map(({ recordId, pairs }) => ({
        recordId,
        increments: pairs.map((pair) => this.incrementOf(pair)),
      })),
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
const incrementsOfRecord = (counters: CoEngagementCounters, record: DynamoDBRecord): CounterIncrement[] => {
  const event = acceptedEvent(record);
  return event ? pairsOfEvent(event).map((pair) => counters.incrementOf(pair)) : [];
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
    ...incrementsOfRecord(counters, record),
    ...(coPurchases.get(recordKey(record)) ?? []),
  ]);
  return { pairs: counted, failed, errors };
}

import { createHash } from 'node:crypto';
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
 * stream paces.
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

/** DynamoDB's client tokens are at most 36 characters; the stream record's id is unique per record. */
export const idempotencyToken = (recordId: string) =>
  createHash('sha256').update(recordId).digest('hex').slice(0, 36);

/** A concurrent update of one of the same counters cancelled the transaction: retry later. */
export class CounterConflict extends Error {
  readonly code = 'counter_conflict';
}

export class CoEngagementCounters {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly statsTable: string,
  ) {
    this.documents = DynamoDBDocumentClient.from(client);
  }

  /**
   * Adds one event's pairs, once: all in one transaction whose client token names the stream
   * record, so a redelivery within DynamoDB's 10-minute idempotency window changes nothing.
   */
  async addOnce(pairs: CoEngagementPair[], token: string): Promise<void> {
    if (pairs.length === 0) return;
    try {
      await this.documents.send(
        new TransactWriteCommand({
          ClientRequestToken: token,
          TransactItems: pairs.map(({ from, to, weight }) => ({
            Update: {
              TableName: this.statsTable,
              Key: { pk: `co#${from}`, sk: to },
              UpdateExpression: 'ADD weight :w',
              ExpressionAttributeValues: { ':w': weight },
            },
          })),
        }),
      );
    } catch (error) {
      if (
        error instanceof TransactionCanceledException ||
        (error as { name?: string }).name === 'TransactionCanceledException'
      )
        throw new CounterConflict('a concurrent update of the same co-engagement counters');
      throw error;
    }
  }
}

const MAX_CONFLICT_ATTEMPTS = 5;

/** Applies one stream record's pairs; retries a few conflicts itself before reporting a failure. */
export async function countRecord(counters: CoEngagementCounters, record: DynamoDBRecord): Promise<number> {
  const event = acceptedEvent(record);
  const pairs = event ? pairsOfEvent(event) : [];
  if (pairs.length === 0) return 0;
  const token = idempotencyToken(record.eventID ?? record.dynamodb?.SequenceNumber ?? '');
  for (let attempt = 1; ; attempt++) {
    try {
      await counters.addOnce(pairs, token);
      return pairs.length;
    } catch (error) {
      if (!(error instanceof CounterConflict) || attempt >= MAX_CONFLICT_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt * (0.5 + Math.random())));
    }
  }
}

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { appliedBefore } from './transaction-cancel';

/**
 * Counters in the Stats table fed by a stream consumer, each stream record counted exactly once: a
 * batch's increments are merged per counter and written in transactions of up to 100 actions, each
 * holding a conditional marker per record (pk `applied#<record id>`, sk the consumer) that the
 * record was counted. The co-engagement counters (Events stream) and the impression counts
 * (Impressions stream) both count this way.
 */
export interface CounterIncrement {
  pk: string;
  sk: string;
  weight: number;
}

/** A stream record's increments, and the id that marks it applied. */
export interface RecordIncrements {
  recordId: string;
  increments: CounterIncrement[];
}

/** A concurrent update of one of the same counters cancelled the transaction: retry later. */
export class CounterConflict extends Error {
  readonly code = 'counter_conflict';
}

/** TransactWriteItems takes at most 100 actions. */
export const MAX_TRANSACTION_ACTIONS = 100;
/**
 * How long a record's "applied" marker is kept: longer than a stream keeps a record (24 hours) plus
 * its retries, so any redelivery of an applied record finds it.
 */
const MARKER_TTL_SECONDS = 3 * 86_400;

const counterKey = ({ pk, sk }: Pick<CounterIncrement, 'pk' | 'sk'>) => `${pk}\u0000${sk}`;

export class OnceCounters {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly statsTable: string,
    /** The marker's sort key: which consumer counted the record. */
    private readonly consumer: string,
  ) {
    this.documents = DynamoDBDocumentClient.from(client);
  }

  /**
   * Adds the increments of several records, each record's once: one transaction holds, per record, a
   * conditional marker that it has been applied, and the records' increments merged per counter
   * (one update per counter, however many records add to it). A record applied before (a stream
   * redelivery, whatever the batch around it) fails its marker's condition: it is left out and the
   * rest is written again. Returns the ids of the records this call applied.
   */
  async addOnce(records: readonly RecordIncrements[], now = Date.now()): Promise<Set<string>> {
    let pending = records.filter((record) => record.increments.length > 0);
    while (pending.length > 0) {
      const merged = new Map<string, CounterIncrement>();
      for (const { increments } of pending)
        for (const increment of increments) {
          const key = counterKey(increment);
          const existing = merged.get(key);
          if (existing) existing.weight += increment.weight;
          else merged.set(key, { ...increment });
        }
      const expiresAt = Math.ceil(now / 1000) + MARKER_TTL_SECONDS;
      try {
        await this.documents.send(
          new TransactWriteCommand({
            TransactItems: [
              ...pending.map(({ recordId }) => ({
                Update: {
                  TableName: this.statsTable,
                  Key: { pk: `applied#${recordId}`, sk: this.consumer },
                  UpdateExpression: 'SET expiresAt = :expires',
                  ConditionExpression: 'attribute_not_exists(pk)',
                  ExpressionAttributeValues: { ':expires': expiresAt },
                },
              })),
              ...[...merged.values()].map(({ pk, sk, weight }) => ({
                Update: {
                  TableName: this.statsTable,
                  Key: { pk, sk },
                  UpdateExpression: 'ADD weight :w',
                  ExpressionAttributeValues: { ':w': weight },
                },
              })),
            ],
          }),
        );
        return new Set(pending.map((record) => record.recordId));
      } catch (error) {
        const applied = appliedBefore(error, pending);
        if (applied.size === 0)
          throw new CounterConflict(`a concurrent update of the same ${this.consumer} counters`);
        pending = pending.filter((record) => !applied.has(record.recordId));
      }
    }
    return new Set();
  }
}

/**
 * Groups records, in stream order, into transactions of at most 100 actions: a marker per record
 * and an update per distinct counter (`counters` names a record's). A record is never split, so it
 * is applied all at once or not at all; records without counters are left out.
 */
export function transactionGroups<T>(records: readonly T[], counters: (record: T) => string[]): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let inGroup = new Set<string>();
  for (const record of records) {
    const keys = counters(record);
    if (keys.length === 0) continue;
    const grown = new Set([...inGroup, ...keys]);
    if (group.length > 0 && group.length + 1 + grown.size > MAX_TRANSACTION_ACTIONS) {
      groups.push(group);
      group = [];
      inGroup = new Set(keys);
    } else inGroup = grown;
    group.push(record);
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

const MAX_CONFLICT_ATTEMPTS = 5;

/**
 * Applies a batch of stream records' increments in as few transactions as fit, each retried a few
 * times on conflicts. Returns the increments counted and the records that still failed (to report
 * as the batch's failures: the stream retries from the first of them, and the markers make the
 * records after it that were applied count once).
 */
export async function countStreamBatch(
  counters: OnceCounters,
  records: readonly DynamoDBRecord[],
  incrementsOf: (record: DynamoDBRecord) => CounterIncrement[],
): Promise<{ counted: number; failed: DynamoDBRecord[]; errors: unknown[] }> {
  const byId = new Map<string, DynamoDBRecord>();
  const withIncrements: RecordIncrements[] = [];
  for (const record of records) {
    const recordId = record.eventID ?? record.dynamodb?.SequenceNumber ?? '';
    byId.set(recordId, record);
    withIncrements.push({ recordId, increments: incrementsOf(record) });
  }
  let counted = 0;
  const failed: DynamoDBRecord[] = [];
  const errors: unknown[] = [];
  for (const group of transactionGroups(withIncrements, (r) => r.increments.map(counterKey))) {
    for (let attempt = 1; ; attempt++) {
      try {
        const applied = await counters.addOnce(group);
        for (const record of group) if (applied.has(record.recordId)) counted += record.increments.length;
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
  return { counted, failed, errors };
}

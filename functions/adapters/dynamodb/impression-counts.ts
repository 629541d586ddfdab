import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { impressionFrameWeight } from '../../domain/impressions';
import type { ImpressionRow } from './impression-log';
import { type CounterIncrement, countStreamBatch, OnceCounters } from './stats-counters';

/**
 * Per-item impression counts, fed by the Impressions table's stream: each list served adds, to each
 * of its items, the impression's weight in the frame popularity uses (`impressionFrameWeight`), in
 * Stats rows `imp#<shard>` / itemId. Ranking reads them all at once (`ProfileStoreReader.impressions`,
 * cached by AggregateCache) and decays them to now. Each stream record is counted once (see
 * stats-counters.ts); removals (erasure, TTL) take nothing back: the counts hold no user id.
 */
export const IMPRESSION_SHARDS = 16;

export const impressionShard = (itemId: string): string => {
  let hash = 0;
  for (const char of itemId) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) >>> 0;
  return `imp#${hash % IMPRESSION_SHARDS}`;
};

/** The increments one stream record adds: an inserted impression's items, each its frame weight. */
export function impressionIncrements(record: DynamoDBRecord, epoch: number): CounterIncrement[] {
  // A put of a list is an INSERT; the same put again (an SDK retry) would be a MODIFY of the same list.
  if (record.eventName !== 'INSERT') return [];
  const image = record.dynamodb?.NewImage;
  if (!image) return [];
  const row = unmarshall(image as Parameters<typeof unmarshall>[0]) as Partial<ImpressionRow>;
  if (typeof row.servedAt !== 'number' || !Array.isArray(row.items)) return [];
  const weight = impressionFrameWeight(row.servedAt, epoch);
  return row.items.map((item) => ({ pk: impressionShard(item.itemId), sk: item.itemId, weight }));
}

export class ImpressionCounters {
  readonly counters: OnceCounters;

  constructor(
    client: DynamoDBClient,
    statsTable: string,
    /** The frame's epoch: the one popularity is weighed from. */
    readonly epoch: number,
  ) {
    this.counters = new OnceCounters(client, statsTable, 'impressions');
  }

  /**
   * Counts a batch of Impressions stream records, each once; returns the item impressions counted
   * and the records that failed (to report as the batch's failures).
   */
  async countBatch(
    records: readonly DynamoDBRecord[],
  ): Promise<{ impressions: number; failed: DynamoDBRecord[]; errors: unknown[] }> {
    const { counted, failed, errors } = await countStreamBatch(this.counters, records, (record) =>
      impressionIncrements(record, this.epoch),
    );
    return { impressions: counted, failed, errors };
  }
}

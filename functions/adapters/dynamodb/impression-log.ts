import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ImpressionEraser, ImpressionHistory, ImpressionLog } from '../../app/ports';
import {
  anonymousImpressionKey,
  DEFAULT_IMPRESSION_TTL_DAYS,
  type Impression,
  type ImpressionItem,
  impressionDayKey,
  type Strategy,
} from '../../domain/impressions';
import type { StoredPage } from '../../domain/paging';
import { erasePartition } from './erase-partition';

/** One list served, as the Impressions table holds it (see IMPRESSIONS_TABLE). */
export interface ImpressionRow {
  /** The user id, or `anonymous#<recommendationId>`. */
  pk: string;
  /** The recommendationId (a UUIDv7). */
  sk: string;
  /** `<YYYY-MM-DD>#<shard>`, the `byDay` index's key. */
  day: string;
  placement: string;
  strategy: Strategy;
  modelId: string;
  servedAt: number;
  items: ImpressionItem[];
  /** When the list has a next page: its nonce, binding and the items shown so far (see functions/domain/paging.ts). */
  paging?: StoredPage;
  /** TTL, epoch seconds. */
  expiresAt: number;
}

/** The row of an impression, kept `ttlDays`. */
export function impressionRow(impression: Impression, ttlDays: number): ImpressionRow {
  return {
    pk: impression.userId ?? anonymousImpressionKey(impression.recommendationId),
    sk: impression.recommendationId,
    day: impressionDayKey(impression.recommendationId, impression.servedAt),
    placement: impression.placement,
    strategy: impression.strategy,
    modelId: impression.modelId,
    servedAt: impression.servedAt,
    items: impression.items,
    ...(impression.paging ? { paging: impression.paging } : {}),
    expiresAt: Math.ceil(impression.servedAt / 1000 + ttlDays * 86_400),
  };
}

/**
 * The Impressions table: recommend puts one row per list (PutItem) and reads a list's paging record
 * back for its next page (GetItem); the track function's erasure reads a user's partition and deletes it.
 */
export class DynamoImpressionLog implements ImpressionLog, ImpressionEraser, ImpressionHistory {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
    /** Days a row is kept (its TTL). */
    private readonly ttlDays: number = DEFAULT_IMPRESSION_TTL_DAYS,
  ) {
    this.documents = DynamoDBDocumentClient.from(client);
  }

  async record(impression: Impression): Promise<void> {
    await this.documents.send(
      new PutCommand({ TableName: this.table, Item: impressionRow(impression, this.ttlDays) }),
    );
  }

  /**
   * The paging record of a list served to `viewer` (none: a service's list), strongly consistent (a
   * page asked for right after the one before it finds it); undefined when the row is gone (erased
   * with the user, past its TTL) or was never written.
   */
  async page(viewer: string | undefined, recommendationId: string): Promise<StoredPage | undefined> {
    const { Item } = await this.documents.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: viewer ?? anonymousImpressionKey(recommendationId), sk: recommendationId },
        ProjectionExpression: 'paging',
        ConsistentRead: true,
      }),
    );
    return (Item as { paging?: StoredPage } | undefined)?.paging;
  }

  /**
   * Items of the user's last `lists` lists: one Query of the user's partition, newest first (ids are
   * UUIDv7, so the sort key orders by time), eventually consistent (rotation can miss a list served
   * a moment ago).
   */
  async recentItems(userId: string, lists: number): Promise<Set<string>> {
    if (lists <= 0) return new Set();
    const page = await this.documents.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': userId },
        ExpressionAttributeNames: { '#items': 'items' },
        ProjectionExpression: '#items',
        ScanIndexForward: false,
        Limit: lists,
      }),
    );
    const shown = new Set<string>();
    for (const row of (page.Items ?? []) as Array<{ items?: Array<{ itemId: string }> }>)
      for (const item of row.items ?? []) shown.add(item.itemId);
    return shown;
  }

  /**
   * Deletes every impression of the user: the partition read with strong consistency (a list
   * recorded just before the erasure is seen), deleted 25 rows a BatchWriteItem, unprocessed
   * deletes retried with backoff. A list served while the erasure runs may be recorded after it.
   */
  async eraseUser(userId: string): Promise<number> {
    return erasePartition(this.documents, this.table, userId, 'impression');
  }
}

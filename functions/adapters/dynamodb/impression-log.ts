import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
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

/** Deletes a BatchWriteItem takes at once. */
const BATCH_WRITE_LIMIT = 25;
const MAX_UNPROCESSED_ATTEMPTS = 8;

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
    let deleted = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': userId },
          ProjectionExpression: 'pk, sk',
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      const keys = (page.Items ?? []) as Array<{ pk: string; sk: string }>;
      for (let i = 0; i < keys.length; i += BATCH_WRITE_LIMIT)
        await this.deleteAll(keys.slice(i, i + BATCH_WRITE_LIMIT));
      deleted += keys.length;
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return deleted;
  }

  private async deleteAll(keys: Array<{ pk: string; sk: string }>): Promise<void> {
    let requests = keys.map((key) => ({ DeleteRequest: { Key: { pk: key.pk, sk: key.sk } } }));
    for (let attempt = 1; requests.length > 0; attempt++) {
      if (attempt > MAX_UNPROCESSED_ATTEMPTS)
        throw new Error(`${requests.length} impression deletes stayed unprocessed; erase again to finish`);
      if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** attempt * Math.random()));
      const { UnprocessedItems } = await this.documents.send(
        new BatchWriteCommand({ RequestItems: { [this.table]: requests } }),
      );
      requests = (UnprocessedItems?.[this.table] ?? []) as typeof requests;
    }
  }
}

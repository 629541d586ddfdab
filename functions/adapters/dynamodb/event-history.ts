import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { CatalogueSnapshots, EventHistory, ItemSnapshot, StoredEvent } from '../../app/ports';
import { batchGetAll } from './batch-get';
import { type ItemRow, itemProjection, rowVector } from './item-table';

/**
 * What a profile is folded from, read only: a user's raw events (a Query on the Events table) and
 * the items' state and vector in one space (BatchGetItem on Items). The event write path reads them
 * through ProfileStore, recommend's refold on read directly.
 */
export class EventHistoryReader implements EventHistory, CatalogueSnapshots {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    readonly tables: { readonly events: string; readonly items: string },
    /** The space whose vectors `getItems` hands out. */
    readonly activeModelId: string,
  ) {
    this.documents = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  /** Every stored event of a user (for a rebuild, a refold or an erasure). */
  async allEvents(userId: string): Promise<StoredEvent[]> {
    const events: StoredEvent[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(
        new QueryCommand({
          TableName: this.tables.events,
          KeyConditionExpression: 'userId = :u',
          ExpressionAttributeValues: { ':u': userId },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      events.push(...((page.Items ?? []) as StoredEvent[]));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return events;
  }

  /** Items by id with the active model's vector; missing ids are absent from the map. */
  async getItems(itemIds: string[]): Promise<Map<string, ItemSnapshot>> {
    const rows = await batchGetAll<SnapshotRow>(
      this.documents,
      this.tables.items,
      [...new Set(itemIds)].map((itemId) => ({ itemId })),
      snapshotProjection(this.activeModelId),
    );
    return itemSnapshots(rows, this.activeModelId);
  }
}

/** What an item snapshot reads of an item row. */
export type SnapshotRow = Pick<ItemRow, 'itemId' | 'status' | 'available' | 'vectors' | 'category' | 'price'>;

/** The projection of an item row a snapshot needs: its state and the vector of `modelId` only. */
export const snapshotProjection = (modelId: string) =>
  itemProjection(['itemId', 'status', 'available', 'category', 'price'], modelId);

/** Item snapshots by id, with the vector of `modelId`. */
export function itemSnapshots(rows: SnapshotRow[], modelId: string): Map<string, ItemSnapshot> {
  const found = new Map<string, ItemSnapshot>();
  for (const row of rows) {
    const vector = rowVector(row, modelId);
    found.set(row.itemId, {
      itemId: row.itemId,
      status: row.status,
      available: row.available !== false,
      ...(vector ? { vector } : {}),
      ...(typeof row.category === 'string' ? { category: row.category } : {}),
      ...(typeof row.price === 'number' ? { price: row.price } : {}),
    });
  }
  return found;
}

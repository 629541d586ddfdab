import {
  type DynamoDBClient,
  TransactionCanceledException,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { batchGetAll } from './batch-get';
import { bytesToVector } from './catalogue-repository';
import { requiredEnv } from './config';
import type { EventType, InterestCentroid, InterestProfile } from './interest-profile';

/** A raw event as stored: the source of truth a profile can be rebuilt from. */
export interface StoredEvent {
  userId: string;
  eventId: string;
  itemId: string;
  type: EventType;
  /** Event time, ms. */
  at: number;
  /** Hash of the payload as sent: a repeat with another payload is a conflict, not a duplicate. */
  payloadHash: string;
  recommendationId?: string;
  receivedAt: number;
  /** TTL, epoch seconds. */
  expiresAt: number;
}

export interface StoredProfile {
  profile: InterestProfile;
  version: number;
  /** Hash of the settings the profile was folded with; another hash means "rebuild from the events". */
  settingsId: string;
}

/** What the ranking needs of an item, read in bulk. */
export interface ItemSnapshot {
  itemId: string;
  status: string;
  available: boolean;
  vector?: Float32Array;
}

export interface StoreTables {
  events: string;
  profiles: string;
  stats: string;
  items: string;
}

/** The store's tables from a map of table names by logical id (`Events`, `Profiles`...), as the local stack has them. */
export function storeTablesOf(tables: Readonly<Record<string, string | undefined>>): StoreTables {
  const name = (id: string) => {
    const table = tables[id];
    if (!table) throw new Error(`no ${id} table`);
    return table;
  };
  return { events: name('Events'), profiles: name('Profiles'), stats: name('Stats'), items: name('Items') };
}

/** The tables the stack passes to the track and recommend functions. */
export function storeTablesFromEnv(): StoreTables {
  return {
    events: requiredEnv('EVENTS_TABLE'),
    profiles: requiredEnv('PROFILES_TABLE'),
    stats: requiredEnv('STATS_TABLE'),
    items: requiredEnv('ITEMS_TABLE'),
  };
}

export const POPULARITY_SHARDS = 8;
export const popularityShard = (itemId: string) => {
  let hash = 0;
  for (const char of itemId) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) >>> 0;
  return `popularity#${hash % POPULARITY_SHARDS}`;
};

interface ProfileRow {
  userId: string;
  version: number;
  settingsId: string;
  updatedAt: number;
  state: string;
}

/** A profile as JSON, with float64 centroid sums as base64. */
export function serialiseProfile(profile: InterestProfile): string {
  return JSON.stringify({
    ...profile,
    centroids: profile.centroids.map((c) => ({
      ...c,
      sum: Buffer.from(c.sum.buffer, c.sum.byteOffset, c.sum.byteLength).toString('base64'),
    })),
  });
}

export function deserialiseProfile(state: string): InterestProfile {
  const parsed = JSON.parse(state) as Omit<InterestProfile, 'centroids'> & {
    centroids: Array<Omit<InterestCentroid, 'sum'> & { sum: string }>;
  };
  return {
    ...parsed,
    centroids: parsed.centroids.map((c) => {
      const bytes = Buffer.from(c.sum, 'base64');
      return {
        ...c,
        sum: new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)),
      };
    }),
  };
}

const chunks = <T>(values: T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(values.length / size) }, (_, i) => values.slice(i * size, (i + 1) * size));

/** The commit lost a race (a concurrent writer, or an event stored meanwhile): re-read and retry. */
export class CommitConflict extends Error {
  readonly code = 'commit_conflict';
}

export class ProfileStore {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    readonly tables: StoreTables,
    private readonly activeModelId: string,
  ) {
    this.documents = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  async getProfile(userId: string): Promise<StoredProfile | undefined> {
    const { Item } = await this.documents.send(
      new GetCommand({ TableName: this.tables.profiles, Key: { userId }, ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const row = Item as ProfileRow;
    return { profile: deserialiseProfile(row.state), version: row.version, settingsId: row.settingsId };
  }

  /** Stored events of one user among `eventIds`. */
  async getEvents(userId: string, eventIds: string[]): Promise<Map<string, StoredEvent>> {
    const keys = [...new Set(eventIds)].map((eventId) => ({ userId, eventId }));
    const events = await batchGetAll<StoredEvent>(this.documents, this.tables.events, keys, {
      ConsistentRead: true,
    });
    return new Map(events.map((event) => [event.eventId, event]));
  }

  /** Every stored event of a user (for a rebuild or an erasure). */
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
    const rows = await batchGetAll<{
      itemId: string;
      status: string;
      available?: boolean;
      vectors?: Record<string, Uint8Array>;
    }>(
      this.documents,
      this.tables.items,
      [...new Set(itemIds)].map((itemId) => ({ itemId })),
      {
        ProjectionExpression: 'itemId, #status, available, #vectors.#model',
        ExpressionAttributeNames: {
          '#status': 'status',
          '#vectors': 'vectors',
          '#model': this.activeModelId,
        },
      },
    );
    const found = new Map<string, ItemSnapshot>();
    for (const row of rows) {
      const bytes = row.vectors?.[this.activeModelId];
      found.set(row.itemId, {
        itemId: row.itemId,
        status: row.status,
        available: row.available !== false,
        ...(bytes ? { vector: bytesToVector(bytes) } : {}),
      });
    }
    return found;
  }

  /**
   * Stores new events and the profile folded from them in one transaction: either all of it lands
   * or none, so an event is never lost from the profile nor counted twice.
   */
  async commit(
    userId: string,
    events: StoredEvent[],
    next: StoredProfile,
    expectedVersion: number | undefined,
    popularity: Array<{ itemId: string; weight: number }>,
    now: number,
  ): Promise<void> {
    const items: NonNullable<TransactWriteCommandInput['TransactItems']> = [];
    for (const event of events) {
      items.push({
        Put: {
          TableName: this.tables.events,
          Item: event,
          ConditionExpression: 'attribute_not_exists(eventId)',
        },
      });
    }
    items.push({
      Put: {
        TableName: this.tables.profiles,
        Item: {
          userId,
          version: next.version,
          settingsId: next.settingsId,
          updatedAt: now,
          state: serialiseProfile(next.profile),
        },
        ...(expectedVersion === undefined
          ? { ConditionExpression: 'attribute_not_exists(userId)' }
          : { ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': expectedVersion } }),
      },
    });
    const merged = new Map<string, number>();
    for (const { itemId, weight } of popularity) merged.set(itemId, (merged.get(itemId) ?? 0) + weight);
    for (const [itemId, weight] of merged) {
      items.push({
        Update: {
          TableName: this.tables.stats,
          Key: { pk: popularityShard(itemId), sk: itemId },
          UpdateExpression: 'ADD weight :w',
          ExpressionAttributeValues: { ':w': weight },
        },
      });
    }
    try {
      await this.documents.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (error) {
      if (
        error instanceof TransactionCanceledException ||
        (error as { name?: string }).name === 'TransactionCanceledException'
      ) {
        throw new CommitConflict('a concurrent write changed the profile or stored one of the events');
      }
      throw error;
    }
  }

  /** Best-effort co-engagement counts; aggregates only, no user ids. */
  async addCoEngagement(pairs: Array<{ from: string; to: string; weight: number }>): Promise<void> {
    await Promise.all(
      pairs.map(({ from, to, weight }) =>
        this.documents.send(
          new UpdateCommand({
            TableName: this.tables.stats,
            Key: { pk: `co#${from}`, sk: to },
            UpdateExpression: 'ADD weight :w',
            ExpressionAttributeValues: { ':w': weight },
          }),
        ),
      ),
    );
  }

  /** Frame-weighted popularity of every item with any (see `popularityWeight`). */
  async popularity(): Promise<Map<string, number>> {
    const popularity = new Map<string, number>();
    await Promise.all(
      Array.from({ length: POPULARITY_SHARDS }, async (_, shard) => {
        for (const row of await this.queryAll(`popularity#${shard}`)) popularity.set(row.sk, row.weight);
      }),
    );
    return popularity;
  }

  /** Frame-weighted co-engagement from each of `itemIds` to other items, summed per target. */
  async coEngagement(itemIds: string[]): Promise<Map<string, number>> {
    const sources = [...new Set(itemIds)];
    return sumCoEngagement(
      sources,
      await Promise.all(sources.map((itemId) => this.coEngagementFrom(itemId))),
    );
  }

  /** Frame-weighted co-engagement from one item to others (at most the first 200 rows). */
  async coEngagementFrom(itemId: string): Promise<Array<{ itemId: string; weight: number }>> {
    return (await this.queryAll(`co#${itemId}`, 200)).map((row) => ({ itemId: row.sk, weight: row.weight }));
  }

  private async queryAll(
    pk: string,
    limit = Number.POSITIVE_INFINITY,
  ): Promise<Array<{ sk: string; weight: number }>> {
    const rows: Array<{ sk: string; weight: number }> = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(
        new QueryCommand({
          TableName: this.tables.stats,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
          ExclusiveStartKey: startKey,
        }),
      );
      rows.push(...((page.Items ?? []) as Array<{ sk: string; weight: number }>));
      startKey = page.LastEvaluatedKey;
    } while (startKey && rows.length < limit);
    return rows;
  }

  /** Erases the profile (with its exclusion, seen and penalty sets) and every raw event of the user. */
  async deleteUser(userId: string): Promise<{ events: number }> {
    const events = await this.allEvents(userId);
    for (const batch of chunks(events, 25)) {
      let requests: Record<string, unknown>[] | undefined = batch.map((e) => ({
        DeleteRequest: { Key: { userId, eventId: e.eventId } },
      }));
      while (requests && requests.length > 0) {
        const result = await this.documents.send(
          new BatchWriteCommand({ RequestItems: { [this.tables.events]: requests as never } }),
        );
        requests = result.UnprocessedItems?.[this.tables.events] as Record<string, unknown>[] | undefined;
      }
    }
    await this.documents.send(new DeleteCommand({ TableName: this.tables.profiles, Key: { userId } }));
    return { events: events.length };
  }
}

export type { TransactWriteItem };

/** Co-engagement from `sources` (one row list each) summed per target, the sources themselves left out. */
export function sumCoEngagement(
  sources: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<{ itemId: string; weight: number }>>,
): Map<string, number> {
  const excluded = new Set(sources);
  const totals = new Map<string, number>();
  for (const row of rows.flat())
    if (!excluded.has(row.itemId)) totals.set(row.itemId, (totals.get(row.itemId) ?? 0) + row.weight);
  return totals;
}

import type { DynamoDBClient, TransactWriteItem } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { CommitConflict } from '../../app/errors';
import {
  type Aggregates,
  type EventWriteStore,
  type ItemSnapshot,
  isStale,
  type PopularityIncrement,
  type ProfileHead,
  type ProfileReader,
  type StoredEvent,
  type StoredProfile,
  type UserWriteState,
} from '../../app/ports';
import type { InterestCentroid, InterestProfile } from '../../domain/interest-profile';
import type { RecentWeight } from '../../domain/trending';
import { batchGetAll, batchGetTables, type TableKeys } from './batch-get';
import { coEngagementPartition, coEngagementPartitions } from './co-engagement-counters';
import { EventHistoryReader, itemSnapshots, type SnapshotRow, snapshotProjection } from './event-history';
import { IMPRESSION_SHARDS } from './impression-counts';
import { mix32, stringHash } from './key-hash';
import { isCancelled } from './transaction-cancel';

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

/** The tables the reading side reads (see ProfileStoreReader). */
export type ReaderTables = Pick<StoreTables, 'profiles' | 'stats'>;

/**
 * The most a profile row may take: DynamoDB refuses items over 400 KB (names and values in UTF-8),
 * and the row's key, version and timestamps need a little room beside the profile's state.
 */
export const MAX_PROFILE_ROW_BYTES = 380 * 1024;

/** Co-engagement rows read per source item, across its partitions (`coEngagementFrom`). */
const CO_ENGAGEMENT_ROWS = 200;

/** Partition keys of the popularity rows (`popularity#0` .. `popularity#7`): the reader queries each. */
export const POPULARITY_SHARDS = 8;
/**
 * Rows one item's popularity is spread over (issue 24): an event adds to the row of its item's home
 * shard plus `spread(eventId)` (mod POPULARITY_SHARDS), so a viral item is 4 keys on 4 partition
 * keys, each taking a quarter of its writes, and the reader sums them. Spread 0 is the home shard:
 * the one row an item had before, so rows written then are read as they are.
 */
export const POPULARITY_SPREAD = 4;

/**
 * The partition key of one popularity row of `itemId`: its home shard, moved by the event's spread
 * (a hash of its id, so a retried commit writes the same row; without one, the home shard).
 */
export const popularityShard = (itemId: string, eventId?: string) => {
  const spread = eventId === undefined ? 0 : mix32(stringHash(eventId)) % POPULARITY_SPREAD;
  return `popularity#${(stringHash(itemId) + spread) % POPULARITY_SHARDS}`;
};

/** A Stats row: a counter (`weight`); popularity rows also carry short-term frames (`t<frameStart>`). */
type StatsRow = { sk: string; weight: number } & Record<string, unknown>;

/** Popularity's two counters as the Stats rows hold them. */
export interface PopularityCounters {
  popularity: Map<string, number>;
  recent: Map<string, RecentWeight[]>;
}

/** The attribute of a short-term frame: `t` and the frame's start (epoch ms). */
const RECENT_FRAME = /^t(\d+)$/;
const recentAttribute = (frameStart: number) => `t${frameStart}`;

function recentFramesOf(row: Record<string, unknown>): RecentWeight[] {
  const frames: RecentWeight[] = [];
  for (const [name, value] of Object.entries(row)) {
    const match = RECENT_FRAME.exec(name);
    if (match?.[1] && typeof value === 'number') frames.push({ frameStart: Number(match[1]), weight: value });
  }
  return frames.sort((a, b) => a.frameStart - b.frameStart);
}

interface MergedPopularity {
  itemId: string;
  /** The row's partition key (see `popularityShard`). */
  pk: string;
  weight: number;
  recent: Map<number, number>;
  /** The frame the newest increment says to drop (two frames back). */
  stale?: number;
}

/** A commit's increments per row: one update each (a transaction touches a row once). */
function mergedPopularity(increments: readonly PopularityIncrement[]): Map<string, MergedPopularity> {
  const merged = new Map<string, MergedPopularity>();
  for (const { itemId, weight, recent, eventId } of increments) {
    const pk = popularityShard(itemId, eventId);
    const key = `${pk}\u0000${itemId}`;
    const counters = merged.get(key) ?? { itemId, pk, weight: 0, recent: new Map<number, number>() };
    counters.weight += weight;
    if (recent) {
      counters.recent.set(recent.frameStart, (counters.recent.get(recent.frameStart) ?? 0) + recent.weight);
      counters.stale = Math.max(counters.stale ?? recent.staleFrameStart, recent.staleFrameStart);
    }
    merged.set(key, counters);
  }
  return merged;
}

/**
 * One item's popularity update: the long-term weight and the short-term frames added on the same row
 * (no extra transaction action), and the frame two back from the newest removed: it holds under
 * 2^-16 of a fresh event's weight (functions/domain/trending.ts).
 */
function popularityUpdate(counters: MergedPopularity) {
  const names: Record<string, string> = {};
  const values: Record<string, number> = { ':w': counters.weight };
  const adds = ['weight :w'];
  [...counters.recent].forEach(([frameStart, weight], i) => {
    names[`#t${i}`] = recentAttribute(frameStart);
    values[`:t${i}`] = weight;
    adds.push(`#t${i} :t${i}`);
  });
  // Both in one expression would overlap (ValidationException): a frame written now is not dropped.
  const stale =
    counters.stale !== undefined && !counters.recent.has(counters.stale) ? counters.stale : undefined;
  if (stale !== undefined) names['#stale'] = recentAttribute(stale);
  return {
    Key: { pk: counters.pk, sk: counters.itemId },
    UpdateExpression: `ADD ${adds.join(', ')}${stale !== undefined ? ' REMOVE #stale' : ''}`,
    ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
    ExpressionAttributeValues: values,
  };
}

interface ProfileRow {
  userId: string;
  version: number;
  /** Bumped by each erasure; absent on rows written before epochs existed (0). */
  epoch?: number;
  updatedAt: number;
  /** Absent on an erasure's tombstone. */
  settingsId?: string;
  /** The space (model id) the profile was folded in; absent on legacy rows and tombstones. */
  space?: string;
  state?: string;
  erasedAt?: number;
}

/** The head of a profile row (no row: `{ epoch: 0 }`). */
function profileHead(row: ProfileRow | undefined): ProfileHead {
  if (!row) return { epoch: 0 };
  const epoch = row.epoch ?? 0;
  return {
    version: row.version,
    epoch,
    ...(row.state !== undefined && row.settingsId !== undefined
      ? {
          stored: {
            profile: deserialiseProfile(row.state),
            version: row.version,
            settingsId: row.settingsId,
            ...(row.space !== undefined ? { space: row.space } : {}),
            epoch,
          },
        }
      : {}),
  };
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
  const parsed = JSON.parse(state) as Omit<InterestProfile, 'centroids' | 'viewed' | 'purchased'> & {
    centroids: Array<Omit<InterestCentroid, 'sum'> & { sum: string }>;
    viewed?: InterestProfile['viewed'];
    purchased?: InterestProfile['purchased'];
  };
  return {
    ...parsed,
    // A profile of fold 1 has no typed lists; its settingsId makes the next event refold it.
    viewed: parsed.viewed ?? [],
    purchased: parsed.purchased ?? [],
    centroids: parsed.centroids.map((c) => {
      const bytes = Buffer.from(c.sum, 'base64');
      return {
        ...c,
        sum: new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)),
      };
    }),
  };
}

/**
 * The reading side of the interest store, on the Profiles and Stats tables only: a user's profile,
 * popularity and co-engagement. The recommend function reads through it, with grants on those tables.
 */
export class ProfileStoreReader implements ProfileReader, Aggregates {
  protected readonly documents: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    readonly tables: ReaderTables,
  ) {
    this.documents = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  /** The user's profile; undefined when there is none (or only an erasure in progress). */
  async getProfile(userId: string): Promise<StoredProfile | undefined> {
    return (await this.getProfileHead(userId)).stored;
  }

  async getProfileHead(userId: string): Promise<ProfileHead> {
    const { Item } = await this.documents.send(
      new GetCommand({ TableName: this.tables.profiles, Key: { userId }, ConsistentRead: true }),
    );
    return profileHead(Item as ProfileRow | undefined);
  }

  /** Frame-weighted popularity of every item with any (see `popularityWeight`). */
  async popularity(): Promise<Map<string, number>> {
    return (await this.popularityCounters()).popularity;
  }

  /** Short-term popularity per item, by frame (see functions/domain/trending.ts). */
  async recentPopularity(): Promise<Map<string, RecentWeight[]>> {
    return (await this.popularityCounters()).recent;
  }

  /**
   * Both popularity counters, from one read of the popularity rows (one query per shard): an item's
   * rows (up to POPULARITY_SPREAD, see `popularityShard`) summed, its short-term frames per frame.
   */
  async popularityCounters(): Promise<PopularityCounters> {
    const shards = await Promise.all(
      Array.from({ length: POPULARITY_SHARDS }, (_, shard) => this.queryAll(`popularity#${shard}`)),
    );
    const popularity = new Map<string, number>();
    const frames = new Map<string, Map<number, number>>();
    for (const row of shards.flat()) {
      popularity.set(row.sk, (popularity.get(row.sk) ?? 0) + (row.weight ?? 0));
      for (const { frameStart, weight } of recentFramesOf(row)) {
        const item = frames.get(row.sk) ?? new Map<number, number>();
        item.set(frameStart, (item.get(frameStart) ?? 0) + weight);
        frames.set(row.sk, item);
      }
    }
    const recent = new Map<string, RecentWeight[]>();
    for (const [itemId, item] of frames)
      recent.set(
        itemId,
        [...item]
          .map(([frameStart, weight]) => ({ frameStart, weight }))
          .sort((a, b) => a.frameStart - b.frameStart),
      );
    return { popularity, recent };
  }

  /** Frame-weighted impressions of every item shown (see impression-counts.ts): one query per shard. */
  async impressions(): Promise<Map<string, number>> {
    const impressions = new Map<string, number>();
    await Promise.all(
      Array.from({ length: IMPRESSION_SHARDS }, async (_, shard) => {
        for (const row of await this.queryAll(`imp#${shard}`)) impressions.set(row.sk, row.weight);
      }),
    );
    return impressions;
  }

  /** Frame-weighted co-engagement from each of `itemIds` to other items, summed per target. */
  async coEngagement(itemIds: string[]): Promise<Map<string, number>> {
    const sources = [...new Set(itemIds)];
    return sumCoEngagement(
      sources,
      await Promise.all(sources.map((itemId) => this.coEngagementFrom(itemId))),
    );
  }

  /**
   * Frame-weighted co-engagement from one item to others: one query per partition of its counters
   * (CO_ENGAGEMENT_SHARDS, issued together, see `coEngagementPartition`), each stopping after the
   * page that passes 200 / CO_ENGAGEMENT_SHARDS rows (about 200 rows an item, as one partition
   * gave before). A partner counted both in the item's first partition (written before the
   * partitions) and in its own is summed.
   */
  async coEngagementFrom(itemId: string): Promise<Array<{ itemId: string; weight: number }>> {
    const partitions = coEngagementPartitions(itemId);
    const limit = Math.ceil(CO_ENGAGEMENT_ROWS / partitions.length);
    const shards = await Promise.all(partitions.map((pk) => this.queryAll(pk, limit)));
    const weights = new Map<string, number>();
    for (const row of shards.flat()) weights.set(row.sk, (weights.get(row.sk) ?? 0) + row.weight);
    return [...weights].map(([partner, weight]) => ({ itemId: partner, weight }));
  }

  private async queryAll(pk: string, limit = Number.POSITIVE_INFINITY): Promise<StatsRow[]> {
    const rows: StatsRow[] = [];
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
      rows.push(...((page.Items ?? []) as StatsRow[]));
      startKey = page.LastEvaluatedKey;
    } while (startKey && rows.length < limit);
    return rows;
  }
}

/** The DynamoDB adapter of the event write path's ports (Events, Profiles, Stats and Items tables). */
export class ProfileStore extends ProfileStoreReader implements EventWriteStore {
  private readonly history: EventHistoryReader;

  constructor(
    client: DynamoDBClient,
    override readonly tables: StoreTables,
    /** The space whose vectors `getItems` hands out. */
    readonly activeModelId: string,
  ) {
    super(client, tables);
    this.history = new EventHistoryReader(client, tables, activeModelId);
  }

  /** Stored events of one user among `eventIds`. */
  async getEvents(userId: string, eventIds: string[]): Promise<Map<string, StoredEvent>> {
    const keys = [...new Set(eventIds)].map((eventId) => ({ userId, eventId }));
    const events = await batchGetAll<StoredEvent>(this.documents, this.tables.events, keys, {
      ConsistentRead: true,
    });
    return new Map(events.map((event) => [event.eventId, event]));
  }

  /**
   * The items, and each user's profile head and stored events among `eventIds`, in one BatchGetItem
   * over the three tables (more than 100 keys: requests of 100 sent together). Profiles and events
   * are read strongly consistent, as `getProfileHead` and `getEvents` read them.
   */
  async readForCommit(
    itemIds: string[],
    users: ReadonlyArray<{ userId: string; eventIds: string[] }>,
  ): Promise<{ items: Map<string, ItemSnapshot>; users: Map<string, UserWriteState> }> {
    const userIds = [...new Set(users.map((u) => u.userId))];
    const eventKeys = new Map<string, { userId: string; eventId: string }>();
    for (const { userId, eventIds } of users)
      for (const eventId of eventIds) eventKeys.set(`${userId}\u0000${eventId}`, { userId, eventId });
    const reads: TableKeys[] = [
      {
        table: this.tables.items,
        keys: [...new Set(itemIds)].map((itemId) => ({ itemId })),
        ...snapshotProjection(this.activeModelId),
      },
      { table: this.tables.events, keys: [...eventKeys.values()], ConsistentRead: true },
      { table: this.tables.profiles, keys: userIds.map((userId) => ({ userId })), ConsistentRead: true },
    ].filter((read) => read.keys.length > 0);
    const rows = await batchGetTables(this.documents, reads);
    const states = new Map<string, UserWriteState>();
    for (const userId of userIds) states.set(userId, { head: { epoch: 0 }, events: new Map() });
    for (const row of (rows.get(this.tables.profiles) ?? []) as unknown as ProfileRow[]) {
      const state = states.get(row.userId);
      if (state) state.head = profileHead(row);
    }
    for (const event of (rows.get(this.tables.events) ?? []) as unknown as StoredEvent[])
      states.get(event.userId)?.events.set(event.eventId, event);
    return {
      items: itemSnapshots(
        (rows.get(this.tables.items) ?? []) as unknown as SnapshotRow[],
        this.activeModelId,
      ),
      users: states,
    };
  }

  /** Every stored event of a user (for a rebuild or an erasure). */
  allEvents(userId: string): Promise<StoredEvent[]> {
    return this.history.allEvents(userId);
  }

  /** Items by id with the active model's vector; missing ids are absent from the map. */
  getItems(itemIds: string[]): Promise<Map<string, ItemSnapshot>> {
    return this.history.getItems(itemIds);
  }

  /**
   * Stores new events and the profile folded from them in one transaction: either all of it lands
   * or none, so an event is never lost from the profile nor counted twice. The profile row must
   * still be at `expected` (version and epoch; undefined: no row): an erasure or another writer in
   * between makes the transaction fail with CommitConflict, and the caller re-reads.
   */
  async commit(
    userId: string,
    events: StoredEvent[],
    next: StoredProfile,
    expected: { version: number; epoch: number } | undefined,
    popularity: PopularityIncrement[],
    now: number,
  ): Promise<void> {
    const items: NonNullable<TransactWriteCommandInput['TransactItems']> = [];
    for (const event of events) {
      items.push({
        Put: {
          TableName: this.tables.events,
          Item: { ...event, epoch: next.epoch },
          // An event of an earlier epoch is being erased: the same id is a new event now.
          ...(next.epoch > 0
            ? {
                ConditionExpression:
                  'attribute_not_exists(eventId) OR attribute_not_exists(epoch) OR epoch < :epoch',
                ExpressionAttributeValues: { ':epoch': next.epoch },
              }
            : { ConditionExpression: 'attribute_not_exists(eventId)' }),
        },
      });
    }
    const row: ProfileRow = {
      userId,
      version: next.version,
      epoch: next.epoch,
      settingsId: next.settingsId,
      ...(next.space !== undefined ? { space: next.space } : {}),
      updatedAt: now,
      state: serialiseProfile(next.profile),
    };
    items.push({
      Put: {
        TableName: this.tables.profiles,
        Item: row,
        ...(expected === undefined
          ? { ConditionExpression: 'attribute_not_exists(userId)' }
          : {
              // The epoch too: after an erasure has removed its tombstone, a new row starts again
              // at version 1, and a writer that read the erased row must not mistake it for its own.
              ConditionExpression:
                expected.epoch === 0
                  ? 'version = :v AND (attribute_not_exists(epoch) OR epoch = :e)'
                  : 'version = :v AND epoch = :e',
              ExpressionAttributeValues: { ':v': expected.version, ':e': expected.epoch },
            }),
      },
    });
    for (const counters of mergedPopularity(popularity).values()) {
      items.push({ Update: { TableName: this.tables.stats, ...popularityUpdate(counters) } });
    }
    try {
      await this.documents.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (error) {
      if (isCancelled(error)) {
        throw new CommitConflict('a concurrent write changed the profile or stored one of the events');
      }
      throw error;
    }
  }

  /** Co-engagement counts added directly (tests and tools); events add theirs through the stream. */
  async addCoEngagement(pairs: Array<{ from: string; to: string; weight: number }>): Promise<void> {
    await Promise.all(
      pairs.map(({ from, to, weight }) =>
        this.documents.send(
          new UpdateCommand({
            TableName: this.tables.stats,
            Key: { pk: coEngagementPartition(from, to), sk: to },
            UpdateExpression: 'ADD weight :w',
            ExpressionAttributeValues: { ':w': weight },
          }),
        ),
      ),
    );
  }

  /**
   * Erases the profile (with its exclusion, seen and penalty sets) and every raw event of the user,
   * in this order:
   *
   * 1. The profile row becomes a tombstone of a new epoch (no profile, version + 1). This is the
   *    erasure's point in time: a writer that read the row before it fails its transaction and
   *    re-reads, so from here on every event is accepted into the new epoch and a new profile.
   * 2. Every event of an earlier epoch is deleted, each only if it is still of an earlier epoch (an
   *    event id sent again after step 1 may have replaced one).
   * 3. The tombstone is deleted unless a writer has already put a new profile over it.
   *
   * An erasure that fails part-way leaves the tombstone, and stale events that no read counts;
   * calling it again finishes the work.
   */
  async deleteUser(userId: string, now = Date.now()): Promise<{ events: number }> {
    const epoch = await this.openEpoch(userId, now);
    let deleted = 0;
    const stale = (await this.allEvents(userId)).filter((event) => isStale(event, epoch.epoch));
    await forEachLimited(stale, ERASE_CONCURRENCY, async (event) => {
      try {
        await this.documents.send(
          new DeleteCommand({
            TableName: this.tables.events,
            Key: { userId, eventId: event.eventId },
            ConditionExpression: 'attribute_not_exists(epoch) OR epoch < :e',
            ExpressionAttributeValues: { ':e': epoch.epoch },
          }),
        );
        deleted += 1;
      } catch (error) {
        if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') throw error;
      }
    });
    try {
      await this.documents.send(
        new DeleteCommand({
          TableName: this.tables.profiles,
          Key: { userId },
          ConditionExpression: 'version = :v AND epoch = :e AND attribute_not_exists(#state)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':v': epoch.version, ':e': epoch.epoch },
        }),
      );
    } catch (error) {
      // A new profile (events after the erasure) or a later erasure owns the row now.
      if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') throw error;
    }
    return { events: deleted };
  }

  /** Step 1 of `deleteUser`: the tombstone of a new epoch, later than every earlier one. */
  private async openEpoch(userId: string, now: number): Promise<{ epoch: number; version: number }> {
    for (;;) {
      const head = await this.getProfileHead(userId);
      const epoch = Math.max(now, head.epoch + 1);
      try {
        const { Attributes } = await this.documents.send(
          new UpdateCommand({
            TableName: this.tables.profiles,
            Key: { userId },
            UpdateExpression:
              'SET epoch = :e, version = if_not_exists(version, :zero) + :one, erasedAt = :now, updatedAt = :now REMOVE #state, settingsId, #space',
            ConditionExpression: 'attribute_not_exists(epoch) OR epoch < :e',
            ExpressionAttributeNames: { '#state': 'state', '#space': 'space' },
            ExpressionAttributeValues: { ':e': epoch, ':zero': 0, ':one': 1, ':now': now },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return { epoch, version: (Attributes as ProfileRow).version };
      } catch (error) {
        // A concurrent erasure took this epoch (or a later one): take the next.
        if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') throw error;
      }
    }
  }
}

/** Events an erasure deletes at once (each is a conditional DeleteItem). */
const ERASE_CONCURRENCY = 16;

async function forEachLimited<T>(
  values: T[],
  limit: number,
  work: (value: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, values.length) }, async () => {
      while (next < values.length) await work(values[next++] as T);
    }),
  );
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

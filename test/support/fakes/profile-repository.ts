/**
 * An in-memory ProfileRepository and CatalogueSnapshots that behaves like the DynamoDB adapter
 * (functions/adapters/dynamodb/profile-store.ts): optimistic versions, one stored event per (userId, eventId),
 * erasure epochs, all-or-nothing commits. It is also the recommender's ProfileReader and Aggregates,
 * as the adapter's reading side is. test/support/contracts/ holds the suites both pass
 * (profile-repository.ts, profile-reader.ts, aggregates.ts), so the two cannot drift apart.
 */
import { CommitConflict } from '../../../functions/app/errors';
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
} from '../../../functions/app/ports';
import type { InterestProfile } from '../../../functions/domain/interest-profile';
import type { RecentWeight } from '../../../functions/domain/trending';

interface ProfileRow {
  version: number;
  epoch: number;
  /** Absent on an erasure's tombstone. */
  settingsId?: string;
  /** Absent on legacy rows (folded before spaces were recorded) and tombstones. */
  space?: string;
  profile?: InterestProfile;
}

/** DynamoDB orders a partition by its sort key's UTF-8 bytes. */
const byEventId = (a: StoredEvent, b: StoredEvent) =>
  Buffer.compare(Buffer.from(a.eventId), Buffer.from(b.eventId));

/** What DynamoDB would hand back: a copy, without attributes that were undefined when written. */
function copyOf<T extends object>(value: T): T {
  return structuredClone(
    Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)),
  ) as T;
}

export class InMemoryProfileRepository implements EventWriteStore, ProfileReader, Aggregates {
  private readonly items = new Map<string, ItemSnapshot>();
  private readonly profiles = new Map<string, ProfileRow>();
  /** Events by user, then by eventId. */
  private readonly events = new Map<string, Map<string, StoredEvent>>();
  private readonly popularityWeights = new Map<string, number>();
  /** Short-term popularity per item and frame start (what the adapter's `t<frameStart>` attributes hold). */
  private readonly recentWeights = new Map<string, Map<number, number>>();
  private readonly impressionWeights = new Map<string, number>();
  /** Co-engagement weight by source item, then by target item. */
  private readonly coEngagementWeights = new Map<string, Map<string, number>>();

  /** Adds or replaces a catalogue item (the Items table is written by ingestion, not by this port). */
  putItem(item: ItemSnapshot): void {
    this.items.set(item.itemId, copyOf(item));
  }

  async getItems(itemIds: string[]): Promise<Map<string, ItemSnapshot>> {
    const found = new Map<string, ItemSnapshot>();
    for (const itemId of new Set(itemIds)) {
      const item = this.items.get(itemId);
      if (item) found.set(itemId, copyOf(item));
    }
    return found;
  }

  async readForCommit(
    itemIds: string[],
    users: ReadonlyArray<{ userId: string; eventIds: string[] }>,
  ): Promise<{ items: Map<string, ItemSnapshot>; users: Map<string, UserWriteState> }> {
    const states = new Map<string, UserWriteState>();
    for (const { userId, eventIds } of users) {
      const events = states.get(userId)?.events ?? new Map<string, StoredEvent>();
      for (const [eventId, event] of await this.getEvents(userId, eventIds)) events.set(eventId, event);
      states.set(userId, { head: await this.getProfileHead(userId), events });
    }
    return { items: await this.getItems(itemIds), users: states };
  }

  async getProfileHead(userId: string): Promise<ProfileHead> {
    const row = this.profiles.get(userId);
    if (!row) return { epoch: 0 };
    return {
      version: row.version,
      epoch: row.epoch,
      ...(row.profile && row.settingsId !== undefined
        ? {
            stored: {
              profile: structuredClone(row.profile),
              version: row.version,
              settingsId: row.settingsId,
              ...(row.space !== undefined ? { space: row.space } : {}),
              epoch: row.epoch,
            },
          }
        : {}),
    };
  }

  async getProfile(userId: string): Promise<StoredProfile | undefined> {
    return (await this.getProfileHead(userId)).stored;
  }

  async getEvents(userId: string, eventIds: string[]): Promise<Map<string, StoredEvent>> {
    const stored = this.events.get(userId);
    const found = new Map<string, StoredEvent>();
    for (const eventId of new Set(eventIds)) {
      const event = stored?.get(eventId);
      if (event) found.set(eventId, copyOf(event));
    }
    return found;
  }

  async allEvents(userId: string): Promise<StoredEvent[]> {
    return [...(this.events.get(userId)?.values() ?? [])].sort(byEventId).map(copyOf);
  }

  async commit(
    userId: string,
    events: StoredEvent[],
    next: StoredProfile,
    expected: { version: number; epoch: number } | undefined,
    popularity: PopularityIncrement[],
    _now: number,
  ): Promise<void> {
    // A transaction may touch each item once (DynamoDB answers ValidationException otherwise).
    if (new Set(events.map((event) => event.eventId)).size !== events.length)
      throw new Error('ValidationException: transaction has more than one operation on one item');
    const stored = this.events.get(userId) ?? new Map<string, StoredEvent>();
    for (const event of events) {
      const existing = stored.get(event.eventId);
      // An event of an earlier epoch is being erased: the same id is a new event now.
      if (existing && !(next.epoch > 0 && isStale(existing, next.epoch)))
        throw new CommitConflict('a concurrent write changed the profile or stored one of the events');
    }
    const row = this.profiles.get(userId);
    const rowAsExpected =
      expected === undefined
        ? row === undefined
        : row !== undefined && row.version === expected.version && row.epoch === expected.epoch;
    if (!rowAsExpected)
      throw new CommitConflict('a concurrent write changed the profile or stored one of the events');

    for (const event of events) stored.set(event.eventId, copyOf({ ...event, epoch: next.epoch }));
    this.events.set(userId, stored);
    this.profiles.set(userId, {
      version: next.version,
      epoch: next.epoch,
      settingsId: next.settingsId,
      ...(next.space !== undefined ? { space: next.space } : {}),
      profile: structuredClone(next.profile),
    });
    for (const { itemId, weight, recent } of popularity) {
      this.popularityWeights.set(itemId, (this.popularityWeights.get(itemId) ?? 0) + weight);
      if (!recent) continue;
      const frames = this.recentWeights.get(itemId) ?? new Map<number, number>();
      frames.set(recent.frameStart, (frames.get(recent.frameStart) ?? 0) + recent.weight);
      frames.delete(recent.staleFrameStart);
      this.recentWeights.set(itemId, frames);
    }
  }

  /** Short-term popularity per item, by frame (see functions/domain/trending.ts). */
  async recentPopularity(): Promise<Map<string, RecentWeight[]>> {
    return new Map(
      [...this.recentWeights].map(([itemId, frames]) => [
        itemId,
        [...frames].sort((a, b) => a[0] - b[0]).map(([frameStart, weight]) => ({ frameStart, weight })),
      ]),
    );
  }

  /** Same steps as the adapter's; in memory nothing interleaves, so an erasure always finishes. */
  async deleteUser(userId: string, now = Date.now()): Promise<{ events: number }> {
    const row = this.profiles.get(userId);
    const epoch = Math.max(now, (row?.epoch ?? 0) + 1);
    const tombstone: ProfileRow = { version: (row?.version ?? 0) + 1, epoch };
    this.profiles.set(userId, tombstone);
    let deleted = 0;
    const stored = this.events.get(userId);
    for (const [eventId, event] of stored ?? []) {
      if (!isStale(event, epoch)) continue;
      stored?.delete(eventId);
      deleted += 1;
    }
    if (stored?.size === 0) this.events.delete(userId);
    if (this.profiles.get(userId) === tombstone) this.profiles.delete(userId);
    return { events: deleted };
  }

  /** Popularity weight per item, summed over commits (what the adapter's Stats rows hold). */
  async popularity(): Promise<Map<string, number>> {
    return new Map(this.popularityWeights);
  }

  /** Frame-weighted impressions per item, summed (what the adapter's `imp#` Stats rows hold). */
  async impressions(): Promise<Map<string, number>> {
    return new Map(this.impressionWeights);
  }

  /** Adds impressions of items (the Impressions stream's consumer does it in production). */
  async addImpressions(weights: Array<{ itemId: string; weight: number }>): Promise<void> {
    for (const { itemId, weight } of weights)
      this.impressionWeights.set(itemId, (this.impressionWeights.get(itemId) ?? 0) + weight);
  }

  /** Adds co-engagement from one item to another (the Events stream's consumer does it in production). */
  async addCoEngagement(pairs: Array<{ from: string; to: string; weight: number }>): Promise<void> {
    for (const { from, to, weight } of pairs) {
      const targets = this.coEngagementWeights.get(from) ?? new Map<string, number>();
      targets.set(to, (targets.get(to) ?? 0) + weight);
      this.coEngagementWeights.set(from, targets);
    }
  }

  async coEngagement(itemIds: string[]): Promise<Map<string, number>> {
    const sources = new Set(itemIds);
    const totals = new Map<string, number>();
    for (const source of sources)
      for (const [target, weight] of this.coEngagementWeights.get(source) ?? [])
        if (!sources.has(target)) totals.set(target, (totals.get(target) ?? 0) + weight);
    return totals;
  }
}

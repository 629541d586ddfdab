/**
 * The hot-key simulation (issue 24): a deterministic stream of events (Zipf item popularity, users in
 * bursty sessions, a flash sale) driven through the real event write path (`recordEvents` with the
 * real `ProfileStore`) and the real Events-stream consumer (`countBatch`: co-engagement and
 * co-purchases), both on one RecordingDynamo (test/support/recording-dynamo.ts). Every written key
 * is counted per simulated second; the result is the most writes one key (table, partition key,
 * sort key) and one partition key (all its sort keys) took in one second, per key family; and the
 * same for the layout before issue 24 (one popularity row per item, one co-engagement partition key
 * per item), read off the same writes: with one event per request and the consumer merging per
 * counter, each write there maps to exactly one write in the old layout (`unshardedKey`).
 *
 * The stream is delivered as Lambda delivers it to the consumer (CO_ENGAGEMENT_STREAM): per stream
 * shard (a user's records all in one, in order), a batch when `batchSize` records wait or the
 * oldest has waited the batching window; the consumer is taken to answer at once, the worst case
 * (a slower one gets larger batches, whose increments merge into fewer writes).
 */
import { createHash } from 'node:crypto';
import type { DynamoDBRecord } from 'aws-lambda';
import {
  acceptedEvent,
  CO_ENGAGEMENT_SHARDS,
  CoEngagementCounters,
  countBatch,
  pairsOfEvent,
} from '../../functions/adapters/dynamodb/co-engagement-counters';
import { BasketHistory } from '../../functions/adapters/dynamodb/co-purchases';
import { vectorToBytes } from '../../functions/adapters/dynamodb/item-table';
import {
  POPULARITY_SHARDS,
  ProfileStore,
  popularityShard,
} from '../../functions/adapters/dynamodb/profile-store';
import {
  DEFAULT_TRACKING_POLICY,
  popularityWeight,
  recordEvents,
  type TrackDeps,
  UserWriteQueue,
} from '../../functions/app/track-events';
import { CO_ENGAGEMENT_STREAM } from '../../functions/contract/storage';
import { DEFAULT_PROFILE_SETTINGS, type EventType } from '../../functions/domain/interest-profile';
import { SeededRandom } from '../eval/prng';
import { EVENTS_PATH_TABLES, eventsPathDynamo, type Row, type WrittenKey } from './recording-dynamo';

export interface HotKeyOptions {
  seconds: number;
  eventsPerSecond: number;
  items: number;
  /** Zipf exponent of item popularity. */
  zipf: number;
  /** One item takes `share` of all events from `start` for `seconds`. */
  flash: { start: number; seconds: number; share: number; itemRank: number };
  seed: number;
  /** Stream shards of the Events table (one per table partition; 1,000 transactional writes/s need several). */
  streamShards: number;
  /** Events per session: uniform in [min, max]; gap between a session's events (ms): uniform in [min, max]. */
  sessionEvents: [number, number];
  sessionGapMs: [number, number];
  /** Partition keys the consumer spreads an item's co-engagement counters over (1: the layout before). */
  coEngagementShards: number;
}

export const DEFAULT_HOT_KEY_OPTIONS: HotKeyOptions = {
  seconds: 120,
  eventsPerSecond: 1000,
  items: 100_000,
  zipf: 1.1,
  flash: { start: 40, seconds: 60, share: 0.4, itemRank: 500 },
  seed: 24,
  streamShards: 4,
  sessionEvents: [2, 12],
  sessionGapMs: [200, 1500],
  coEngagementShards: CO_ENGAGEMENT_SHARDS,
};

/** The most writes seen in one second on one key, and on one partition key, of a family. */
export interface FamilyMaximum {
  family: string;
  /** Most writes to one key (pk + sk) in one simulated second, and which. */
  keyMax: number;
  key: string;
  /** Most writes to one partition key (all its sort keys) in one simulated second, and which. */
  partitionMax: number;
  partition: string;
  writes: number;
  /** The same in the layout before issue 24 (see `unshardedKey`): the "before" of the shards. */
  unshardedKeyMax: number;
  unshardedPartitionMax: number;
  unshardedPartition: string;
}

export interface HotKeyResult {
  events: number;
  accepted: number;
  families: FamilyMaximum[];
  /** The largest of the families' key maxima, and of their partition key maxima. */
  keyMax: number;
  partitionMax: number;
  /** Popularity as read back (summed over its rows) and as the accepted events should have added it. */
  popularityCheck: { items: number; largestRelativeError: number };
  /** Popularity rows the reader reads (all of the `popularity#<shard>` partitions): its cost. */
  popularityRows: number;
  /**
   * Co-engagement read back through the reader (`coEngagementFrom`, every partition of an item)
   * against the pairs the delivered events formed, for the flash item and the 20 most popular.
   */
  coEngagementCheck: { items: number; pairs: number; largestRelativeError: number };
  streamBatches: number;
}

const TYPES: Array<[EventType, number]> = [
  ['view', 0.55],
  ['click', 0.25],
  ['like', 0.05],
  ['add_to_cart', 0.1],
  ['purchase', 0.05],
];
const CATEGORIES = 40;
const SPACE = 'sim-model';
const DIM = 8;
const T0 = Date.UTC(2026, 5, 1);

/** The co-engagement shards 1.. (`co<s>#<item>`); shard 0 is `co#<item>`. */
const CO_SHARD = /^co\d+#/;

/**
 * A key's family: the table, and for Stats the partition key's prefix (`popularity#`, `co#`...;
 * every co-engagement shard is `co#`).
 */
function familyOf({ table, pk }: WrittenKey): string {
  if (table !== 'Stats') return table;
  if (CO_SHARD.test(pk)) return 'Stats co#*';
  const hash = pk.indexOf('#');
  return `Stats ${hash >= 0 ? pk.slice(0, hash + 1) : pk}*`;
}

/**
 * The key a write would have had before issue 24: an item's popularity on its home row (spread 0),
 * its co-engagement counters all in `co#<item>`. Each event is its own request and the consumer
 * merges per counter, so the writes map one to one.
 */
export function unshardedKey(key: WrittenKey): WrittenKey {
  if (key.table !== 'Stats' || key.sk === undefined) return key;
  if (key.pk.startsWith('popularity#')) return { ...key, pk: popularityShard(key.sk) };
  if (CO_SHARD.test(key.pk)) return { ...key, pk: `co#${key.pk.slice(key.pk.indexOf('#') + 1)}` };
  return key;
}

/** Per-second writes per key and per partition key. */
class SecondCounts {
  keys = new Map<string, { family: string; count: number }>();
  partitions = new Map<string, { family: string; count: number }>();

  add(key: WrittenKey, family: string): void {
    const partition = `${key.table} ${key.pk}`;
    const whole = key.sk === undefined ? partition : `${partition} | ${key.sk}`;
    const k = this.keys.get(whole) ?? { family, count: 0 };
    k.count += 1;
    this.keys.set(whole, k);
    const p = this.partitions.get(partition) ?? { family, count: 0 };
    p.count += 1;
    this.partitions.set(partition, p);
  }
}

/** Per-second counts per key and per partition key, folded into each family's maxima. */
class WriteCounter {
  private second = 0;
  private now = new SecondCounts();
  private before = new SecondCounts();
  readonly families = new Map<string, FamilyMaximum>();

  add(key: WrittenKey, second: number): void {
    if (second !== this.second) this.flush(second);
    const family = familyOf(key);
    this.now.add(key, family);
    this.before.add(unshardedKey(key), family);
    this.familyMax(family).writes += 1;
  }

  private familyMax(family: string): FamilyMaximum {
    let f = this.families.get(family);
    if (!f) {
      f = {
        family,
        keyMax: 0,
        key: '',
        partitionMax: 0,
        partition: '',
        writes: 0,
        unshardedKeyMax: 0,
        unshardedPartitionMax: 0,
        unshardedPartition: '',
      };
      this.families.set(family, f);
    }
    return f;
  }

  flush(next = this.second): void {
    const at = ` @${this.second}s`;
    for (const [key, { family, count }] of this.now.keys) {
      const f = this.familyMax(family);
      if (count > f.keyMax) Object.assign(f, { keyMax: count, key: key + at });
    }
    for (const [partition, { family, count }] of this.now.partitions) {
      const f = this.familyMax(family);
      if (count > f.partitionMax) Object.assign(f, { partitionMax: count, partition: partition + at });
    }
    for (const { family, count } of this.before.keys.values()) {
      const f = this.familyMax(family);
      f.unshardedKeyMax = Math.max(f.unshardedKeyMax, count);
    }
    for (const [partition, { family, count }] of this.before.partitions) {
      const f = this.familyMax(family);
      if (count > f.unshardedPartitionMax)
        Object.assign(f, { unshardedPartitionMax: count, unshardedPartition: partition + at });
    }
    this.now = new SecondCounts();
    this.before = new SecondCounts();
    this.second = next;
  }
}

interface SimEvent {
  at: number;
  userId: string;
  itemId: string;
  type: EventType;
  eventId: string;
}

/** Item popularity ranks drawn by Zipf(s) over n items (inverse CDF, binary search). */
function zipfSampler(n: number, s: number, random: SeededRandom): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    total += 1 / (k + 1) ** s;
    cdf[k] = total;
  }
  return () => {
    const u = random.next() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

const itemId = (rank: number) => `item-${rank}`;

/** The events of the simulation, in time order: sessions started uniformly, some before t = 0. */
export function simulatedEvents(options: HotKeyOptions): SimEvent[] {
  const random = new SeededRandom(options.seed);
  const zipf = zipfSampler(options.items, options.zipf, random);
  const [minEvents, maxEvents] = options.sessionEvents;
  const [minGap, maxGap] = options.sessionGapMs;
  const meanEvents = (minEvents + maxEvents) / 2;
  const lead = Math.ceil((maxEvents * maxGap) / 1000);
  const sessions = Math.round(((options.seconds + lead) * options.eventsPerSecond) / meanEvents);
  const events: SimEvent[] = [];
  const { flash } = options;
  for (let s = 0; s < sessions; s++) {
    let at = T0 + (random.next() * (options.seconds + lead) - lead) * 1000;
    // One user in ten comes back: their sessions share a profile (and its recent positives).
    const userId = random.next() < 0.1 ? `user-r${random.int(Math.max(1, sessions / 50))}` : `user-${s}`;
    const count = minEvents + random.int(maxEvents - minEvents + 1);
    for (let e = 0; e < count; e++) {
      at += minGap + random.next() * (maxGap - minGap);
      const second = (at - T0) / 1000;
      if (second >= options.seconds) break;
      let pick = random.next();
      let type: EventType = 'view';
      for (const [t, p] of TYPES) {
        if (pick < p) {
          type = t;
          break;
        }
        pick -= p;
      }
      const inFlash = second >= flash.start && second < flash.start + flash.seconds;
      const rank = inFlash && random.next() < flash.share ? flash.itemRank : zipf();
      if (second >= 0)
        events.push({ at: Math.floor(at), userId, itemId: itemId(rank), type, eventId: `ev-${s}-${e}` });
    }
  }
  return events.sort((a, b) => a.at - b.at || (a.eventId < b.eventId ? -1 : 1));
}

/** An item's row as the catalogue stores it: ready, with a vector of the active space and a category. */
function itemRow(id: string): Row | undefined {
  const rank = Number(id.slice('item-'.length));
  if (!id.startsWith('item-') || !Number.isInteger(rank)) return undefined;
  const random = new SeededRandom(rank, 7);
  const vector = Float32Array.from({ length: DIM }, () => random.next() - 0.5);
  return {
    itemId: { S: id },
    status: { S: 'ready' },
    available: { BOOL: true },
    category: { S: `cat-${rank % CATEGORIES}` },
    vectors: { M: { [SPACE]: { B: Buffer.from(vectorToBytes(vector)).toString('base64') } } },
  };
}

const shardOf = (userId: string, shards: number) =>
  createHash('sha256').update(userId).digest().readUInt32BE(0) % shards;

/**
 * Runs the simulation: each event as one request (`recordEvents`, the worst case for merging) at
 * its simulated time, the Events stream delivered in batches to the consumer as they fill.
 */
export async function simulateHotKeys(
  options: HotKeyOptions = DEFAULT_HOT_KEY_OPTIONS,
  log: (line: string) => void = () => undefined,
): Promise<HotKeyResult> {
  const dynamo = eventsPathDynamo((table, pk) =>
    table === EVENTS_PATH_TABLES.items ? itemRow(pk) : undefined,
  );
  let clock = T0;
  const counter = new WriteCounter();
  dynamo.onWrite = (key) => counter.add(key, Math.floor((clock - T0) / 1000));
  const client = dynamo.client();
  const store = new ProfileStore(client, EVENTS_PATH_TABLES, SPACE);
  const policy = { ...DEFAULT_TRACKING_POLICY, settings: DEFAULT_PROFILE_SETTINGS };
  const deps: TrackDeps = {
    store,
    policy,
    space: SPACE,
    dim: DIM,
    now: () => clock,
    queue: new UserWriteQueue(),
  };
  const consumer = new CoEngagementCounters(
    client,
    EVENTS_PATH_TABLES.stats,
    new BasketHistory(client, EVENTS_PATH_TABLES.events),
    options.coEngagementShards,
  );

  const events = simulatedEvents(options);
  log(`${events.length} events over ${options.seconds} s`);
  const shards: Array<Array<{ at: number; record: DynamoDBRecord }>> = Array.from(
    { length: options.streamShards },
    () => [],
  );
  let streamRead = 0;
  let batches = 0;
  /** The pairs the delivered records formed: from -> to -> weight. */
  const pairs = new Map<string, Map<string, number>>();
  const { batchSize } = CO_ENGAGEMENT_STREAM;
  const windowMs = 1000;
  /** Moves new stream records to their shards, and runs every batch that is due at `clock`. */
  const deliver = async (flushAll = false) => {
    const records = dynamo.streams.get(EVENTS_PATH_TABLES.events) ?? [];
    for (; streamRead < records.length; streamRead++) {
      const record = records[streamRead] as DynamoDBRecord & { dynamodb: { Keys: Row } };
      const userId = String(record.dynamodb.Keys.userId?.S);
      shards[shardOf(userId, options.streamShards)]?.push({ at: clock, record });
    }
    for (const shard of shards) {
      while (
        shard.length >= batchSize ||
        (shard.length > 0 && (flushAll || clock - (shard[0]?.at ?? clock) >= windowMs))
      ) {
        const batch = shard.splice(0, batchSize).map((s) => s.record);
        batches += 1;
        const { failed } = await countBatch(consumer, batch);
        if (failed.length > 0) throw new Error(`${failed.length} stream records failed`);
        for (const record of batch) {
          const event = acceptedEvent(record);
          for (const { from, to, weight } of event ? pairsOfEvent(event) : []) {
            const partners = pairs.get(from) ?? new Map<string, number>();
            partners.set(to, (partners.get(to) ?? 0) + weight);
            pairs.set(from, partners);
          }
        }
      }
    }
  };

  let accepted = 0;
  const expected = new Map<string, number>();
  let lastLog = 0;
  for (const event of events) {
    clock = event.at;
    await deliver();
    const [result] = await recordEvents(deps, [
      { eventId: event.eventId, userId: event.userId, itemId: event.itemId, type: event.type },
    ]);
    if (result?.status === 'accepted') {
      accepted += 1;
      expected.set(
        event.itemId,
        (expected.get(event.itemId) ?? 0) + popularityWeight(policy, { type: event.type, at: event.at }),
      );
    }
    if (clock - lastLog >= 10_000) {
      lastLog = clock;
      log(`t=${Math.floor((clock - T0) / 1000)} s, ${accepted} accepted`);
    }
  }
  clock += windowMs;
  await deliver(true);
  counter.flush();

  // Popularity read back through the real reader equals what the accepted events added (exactly once).
  const popularity = await store.popularity();
  let largestRelativeError = 0;
  for (const [id, weight] of expected)
    largestRelativeError = Math.max(
      largestRelativeError,
      Math.abs((popularity.get(id) ?? 0) - weight) / weight,
    );
  if (popularity.size !== expected.size) largestRelativeError = Number.POSITIVE_INFINITY;

  // Co-engagement read back (every partition of each item) equals what the delivered events paired.
  let coPairs = 0;
  let coError = 0;
  const sources = [itemId(options.flash.itemRank), ...Array.from({ length: 20 }, (_, rank) => itemId(rank))];
  for (const source of sources) {
    const read = new Map(
      (await store.coEngagementFrom(source)).map(({ itemId: to, weight }) => [to, weight] as const),
    );
    const partners = pairs.get(source) ?? new Map<string, number>();
    if (read.size !== partners.size) coError = Number.POSITIVE_INFINITY;
    for (const [to, weight] of partners) {
      coPairs += 1;
      coError = Math.max(coError, Math.abs((read.get(to) ?? 0) - weight) / weight);
    }
  }

  const families = [...counter.families.values()].sort((a, b) => a.family.localeCompare(b.family));
  return {
    events: events.length,
    accepted,
    families,
    keyMax: Math.max(...families.map((f) => f.keyMax)),
    partitionMax: Math.max(...families.map((f) => f.partitionMax)),
    popularityCheck: { items: expected.size, largestRelativeError },
    popularityRows: Array.from({ length: POPULARITY_SHARDS }, (_, shard) =>
      dynamo.rows(EVENTS_PATH_TABLES.stats, `popularity#${shard}`),
    ).flat().length,
    coEngagementCheck: { items: sources.length, pairs: coPairs, largestRelativeError: coError },
    streamBatches: batches,
  };
}

/** The result as a table, one family a line. */
export function formatHotKeys(result: HotKeyResult): string {
  const change = (before: number, after: number) =>
    (before === after ? String(after) : `${before} -> ${after}`).padStart(15);
  const lines = [
    `family                 key max/s (before -> now)  partition key max/s (before -> now)  writes`,
    ...result.families.map(
      (f) =>
        `${f.family.padEnd(22)} ${change(f.unshardedKeyMax, f.keyMax).padStart(26)}  ${change(f.unshardedPartitionMax, f.partitionMax).padStart(35)}  ${String(f.writes).padStart(7)}`,
    ),
    'busiest key, and partition key, per family (now; before if it differs):',
    ...result.families.flatMap((f) => [
      `  ${f.family}: key ${f.key}; partition key ${f.partition}`,
      ...(f.unshardedPartitionMax !== f.partitionMax
        ? [`    before: partition key ${f.unshardedPartition}`]
        : []),
    ]),
  ];
  return lines.join('\n');
}

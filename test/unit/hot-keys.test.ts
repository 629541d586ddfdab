/**
 * No hot keys (issue 24): a reduced run of the hot-key simulation (test/support/hot-keys.ts, the
 * full one is `npm run bench:hot-keys`) through the real event write path and the real Events-stream
 * consumer on an in-memory DynamoDB that counts every written key: no key, and no partition key,
 * takes 300 writes in one second, with a flash sale (one item taking 40% of 1,000 events/s) in the
 * window. And popularity, now spread over several rows per item, still counts each event exactly
 * once: a redelivered event adds nothing, a row written before the spread (one row per item) is read
 * with the new ones. Co-engagement, spread over 4 partition keys per item, reads back whole, rows
 * written before the spread (all in `co#<item>`) included.
 */
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CO_ENGAGEMENT_SHARDS,
  coEngagementPartition,
  coEngagementPartitions,
} from '../../functions/adapters/dynamodb/co-engagement-counters';
import { vectorToBytes } from '../../functions/adapters/dynamodb/item-table';
import {
  POPULARITY_SHARDS,
  POPULARITY_SPREAD,
  ProfileStore,
  popularityShard,
} from '../../functions/adapters/dynamodb/profile-store';
import { DEFAULT_TRACKING_POLICY, popularityWeight, recordEvents } from '../../functions/app/track-events';
import { DEFAULT_PROFILE_SETTINGS } from '../../functions/domain/interest-profile';
import {
  DEFAULT_HOT_KEY_OPTIONS,
  formatHotKeys,
  type HotKeyResult,
  simulateHotKeys,
} from '../support/hot-keys';
import { EVENTS_PATH_TABLES, eventsPathDynamo, type WrittenKey } from '../support/recording-dynamo';

const BOUND = 300;

/**
 * 4 s (sessions need a few seconds to gather the recent positives co-engagement pairs with: in the
 * first 2 the flash item's partition key takes under 200 writes/s even unsharded), 10k items, the
 * flash item at 40% throughout.
 */
const REDUCED = {
  ...DEFAULT_HOT_KEY_OPTIONS,
  seconds: 4,
  items: 10_000,
  flash: { start: 0, seconds: 4, share: 0.4, itemRank: 500 },
};

describe('the reduced simulation', () => {
  let sharded: HotKeyResult;
  let unsharded: HotKeyResult;
  const family = (result: HotKeyResult, name: string) => {
    const found = result.families.find((f) => f.family === name);
    if (!found) throw new Error(`no writes of ${name}`);
    return found;
  };

  beforeAll(async () => {
    sharded = await simulateHotKeys(REDUCED);
    process.stdout.write(`[hot-keys] reduced run (4 s):\n${formatHotKeys(sharded)}\n`);
    // The same events with every co-engagement counter of an item in one partition key, as before.
    unsharded = await simulateHotKeys({ ...REDUCED, coEngagementShards: 1 });
  }, 240_000);

  it('keeps every key and every partition key under 300 writes/s, popularity summing exactly', () => {
    expect(sharded.events).toBeGreaterThan(3_000);
    expect(sharded.accepted).toBe(sharded.events);
    // The flash item alone takes ~400 events/s: the simulation does exercise a key that one row could not hold.
    expect(family(sharded, 'Stats popularity#*').writes).toBe(sharded.accepted);
    expect(family(sharded, 'Stats popularity#*').unshardedKeyMax).toBeGreaterThanOrEqual(BOUND);
    expect(family(sharded, 'Stats co#*').writes).toBeGreaterThan(0);
    expect(family(sharded, 'Stats cp#*').writes).toBeGreaterThan(0);
    expect(sharded.keyMax).toBeLessThan(BOUND);
    expect(sharded.partitionMax).toBeLessThan(BOUND);
    expect(sharded.popularityCheck.items).toBeGreaterThan(300);
    expect(sharded.popularityCheck.largestRelativeError).toBeLessThan(1e-9);
  });

  it("spreads the flash item's co-engagement partition key, which one partition key per item could not hold", () => {
    const co = family(sharded, 'Stats co#*');
    const before = family(unsharded, 'Stats co#*');
    // With one partition key per item (the layout before), the flash item's passes the bound.
    expect(before.partitionMax).toBeGreaterThanOrEqual(BOUND);
    expect(before.partition).toMatch(/^Stats co#item-500 @/);
    expect(co.partitionMax).toBeLessThan(BOUND);
    expect(co.partitionMax).toBeLessThan(before.partitionMax / 2);
    // The same writes, only in other partitions: what the sharded run reports as its "before" is
    // what the unsharded run wrote (so the bench's before column is measured, not estimated).
    expect(co.writes).toBe(before.writes);
    expect(co.unshardedPartitionMax).toBe(before.partitionMax);
    expect(co.keyMax).toBe(before.keyMax);
    // Read back through the reader's 4 queries an item, the counters equal the pairs delivered.
    for (const result of [sharded, unsharded]) {
      expect(result.coEngagementCheck.pairs).toBeGreaterThan(500);
      expect(result.coEngagementCheck.largestRelativeError).toBeLessThan(1e-9);
    }
  });
});

describe('popularity spread over rows', () => {
  const SPACE = 'm';
  const NOW = Date.UTC(2026, 5, 1, 12);
  const policy = { ...DEFAULT_TRACKING_POLICY, settings: DEFAULT_PROFILE_SETTINGS };

  function setUp() {
    const dynamo = eventsPathDynamo((table, pk) =>
      table === EVENTS_PATH_TABLES.items
        ? {
            itemId: { S: pk },
            status: { S: 'ready' },
            available: { BOOL: true },
            vectors: {
              M: { [SPACE]: { B: Buffer.from(vectorToBytes(Float32Array.of(1, 0))).toString('base64') } },
            },
          }
        : undefined,
    );
    const written: WrittenKey[] = [];
    dynamo.onWrite = (key) => written.push(key);
    const client = dynamo.client();
    const store = new ProfileStore(client, EVENTS_PATH_TABLES, SPACE);
    const deps = { store, policy, space: SPACE, dim: 2, now: () => NOW };
    return { dynamo, store, deps, written, client };
  }

  const click = (eventId: string, userId: string) => ({ eventId, userId, itemId: 'viral', type: 'click' });
  const clickWeight = popularityWeight(policy, { type: 'click', at: NOW });

  it("spreads one item's events over POPULARITY_SPREAD partition keys, the same event always to the same", () => {
    const rows = new Set(Array.from({ length: 200 }, (_, i) => popularityShard('viral', `e-${i}`)));
    expect(rows.size).toBe(POPULARITY_SPREAD);
    expect(popularityShard('viral', 'e-7')).toBe(popularityShard('viral', 'e-7'));
    // Without an event id: the item's home shard, the one row an item had before the spread.
    const home = Number(popularityShard('viral').split('#')[1]);
    expect(
      [...rows].map((pk) => (Number(pk.split('#')[1]) - home + POPULARITY_SHARDS) % POPULARITY_SHARDS).sort(),
    ).toEqual(Array.from({ length: POPULARITY_SPREAD }, (_, k) => k));
  });

  it('counts a redelivered event once, whichever request carries it', async () => {
    const { store, deps, written } = setUp();
    const events = Array.from({ length: 40 }, (_, i) => click(`e-${i}`, `user-${i % 5}`));

    const first = await recordEvents(deps, events);
    const again = await recordEvents(deps, [...events].reverse());
    const oneByOne = await Promise.all(events.slice(0, 10).map((event) => recordEvents(deps, [event])));

    expect(first.every((r) => r.status === 'accepted')).toBe(true);
    expect(again.every((r) => r.status === 'duplicate')).toBe(true);
    expect(oneByOne.flat().every((r) => r.status === 'duplicate')).toBe(true);
    expect((await store.popularity()).get('viral')).toBeCloseTo(40 * clickWeight, 9);
    const popularityRows = new Set(
      written.filter((k) => k.pk.startsWith('popularity#')).map((k) => `${k.pk}|${k.sk}`),
    );
    expect(popularityRows.size).toBe(POPULARITY_SPREAD);
    // Trending's short-term counter is summed over the same rows.
    const recent = (await store.recentPopularity()).get('viral') ?? [];
    expect(recent).toHaveLength(1);
    expect(recent[0]?.weight).toBeGreaterThan(0);
  });

  it('reads a row written before the spread (home shard, sk the item) together with the new rows', async () => {
    const { store, deps, client } = setUp();
    // The layout before issue 24: one row per item, in its home shard.
    await client.send(
      new UpdateItemCommand({
        TableName: EVENTS_PATH_TABLES.stats,
        Key: { pk: { S: popularityShard('viral') }, sk: { S: 'viral' } },
        UpdateExpression: 'ADD weight :w',
        ExpressionAttributeValues: { ':w': { N: '5' } },
      }),
    );
    expect((await store.popularity()).get('viral')).toBe(5);
    await recordEvents(deps, [click('n-1', 'ada'), click('n-2', 'ada'), click('n-3', 'bob')]);

    expect((await store.popularity()).get('viral')).toBeCloseTo(5 + 3 * clickWeight, 9);
  });
});

describe('co-engagement spread over partition keys', () => {
  it("spreads one item's partners over CO_ENGAGEMENT_SHARDS partition keys, each partner always to the same", () => {
    const partitions = new Set(
      Array.from({ length: 200 }, (_, i) => coEngagementPartition('viral', `p-${i}`)),
    );
    expect([...partitions].sort()).toEqual([...coEngagementPartitions('viral')].sort());
    expect(partitions.size).toBe(CO_ENGAGEMENT_SHARDS);
    expect(coEngagementPartition('viral', 'p-7')).toBe(coEngagementPartition('viral', 'p-7'));
    // Shard 0 is the one partition key an item had; one shard is that layout.
    expect(coEngagementPartitions('viral')[0]).toBe('co#viral');
    expect(
      new Set(Array.from({ length: 50 }, (_, i) => coEngagementPartition('viral', `p-${i}`, 1))),
    ).toEqual(new Set(['co#viral']));
  });

  it('gives items whose ids hold # or digits partition keys of their own', () => {
    const ids = ['a', 'a#1', '1#a', 'a#0', '#', '1', 'co1#a', '#a', 'a#'];
    const owners = new Map<string, string>();
    for (const id of ids)
      for (const pk of coEngagementPartitions(id)) {
        expect(owners.get(pk) ?? id).toBe(id);
        owners.set(pk, id);
      }
    expect(owners.size).toBe(ids.length * CO_ENGAGEMENT_SHARDS);
  });

  it('reads counters written before the spread (all in co#<item>) with the new ones, summing a partner in both', async () => {
    const dynamo = eventsPathDynamo();
    const client = dynamo.client();
    const store = new ProfileStore(client, EVENTS_PATH_TABLES, 'm');
    const partners = Array.from({ length: 12 }, (_, i) => `partner-${i}`);
    // The layout before issue 24: every counter of the item in its one partition key.
    for (const to of partners)
      await client.send(
        new UpdateItemCommand({
          TableName: EVENTS_PATH_TABLES.stats,
          Key: { pk: { S: 'co#viral' }, sk: { S: to } },
          UpdateExpression: 'ADD weight :w',
          ExpressionAttributeValues: { ':w': { N: '2' } },
        }),
      );
    const written: WrittenKey[] = [];
    dynamo.onWrite = (key) => written.push(key);
    await store.addCoEngagement(partners.slice(0, 8).map((to) => ({ from: 'viral', to, weight: 3 })));

    // Most of the new writes went to the other partitions: those partners are in two rows now.
    expect(new Set(written.map((k) => k.pk)).size).toBeGreaterThan(1);
    expect(written.every((k) => k.pk === coEngagementPartition('viral', k.sk as string))).toBe(true);
    const read = new Map((await store.coEngagementFrom('viral')).map((r) => [r.itemId, r.weight]));
    expect(read).toEqual(new Map(partners.map((to, i) => [to, i < 8 ? 5 : 2])));
    expect((await store.coEngagement(['viral'])).get('partner-3')).toBe(5);
  });
});

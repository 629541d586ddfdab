/**
 * No hot keys (issue 24): a reduced run of the hot-key simulation (test/support/hot-keys.ts, the
 * full one is `npm run bench:hot-keys`) through the real event write path and the real Events-stream
 * consumer on an in-memory DynamoDB that counts every written key: no key takes 300 writes in one
 * second, with a flash sale (one item taking 40% of 1,000 events/s) in the window. And popularity,
 * now spread over several rows per item, still counts each event exactly once: a redelivered event
 * adds nothing, a row written before the spread (one row per item) is read with the new ones.
 */
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { vectorToBytes } from '../../functions/adapters/dynamodb/item-table';
import {
  POPULARITY_SHARDS,
  POPULARITY_SPREAD,
  ProfileStore,
  popularityShard,
} from '../../functions/adapters/dynamodb/profile-store';
import { DEFAULT_TRACKING_POLICY, popularityWeight, recordEvents } from '../../functions/app/track-events';
import { DEFAULT_PROFILE_SETTINGS } from '../../functions/domain/interest-profile';
import { DEFAULT_HOT_KEY_OPTIONS, formatHotKeys, simulateHotKeys } from '../support/hot-keys';
import { EVENTS_PATH_TABLES, eventsPathDynamo, type WrittenKey } from '../support/recording-dynamo';

const BOUND = 300;

it('keeps every key under 300 writes/s at 1,000 events/s with a flash sale, popularity summing exactly', async () => {
  const result = await simulateHotKeys({
    ...DEFAULT_HOT_KEY_OPTIONS,
    seconds: 2,
    items: 10_000,
    flash: { start: 0, seconds: 2, share: 0.4, itemRank: 500 },
  });
  process.stdout.write(`[hot-keys] reduced run (2 s):\n${formatHotKeys(result)}\n`);

  expect(result.events).toBeGreaterThan(1_500);
  expect(result.accepted).toBe(result.events);
  // The flash item alone takes ~400 events/s: the simulation does exercise a key that one row could not hold.
  const families = new Map(result.families.map((f) => [f.family, f]));
  expect(families.get('Stats popularity#*')?.writes).toBe(result.accepted);
  expect(families.get('Stats co#*')?.writes).toBeGreaterThan(0);
  expect(families.get('Stats cp#*')?.writes).toBeGreaterThan(0);
  expect(result.keyMax).toBeLessThan(BOUND);
  expect(result.popularityCheck.items).toBeGreaterThan(300);
  expect(result.popularityCheck.largestRelativeError).toBeLessThan(1e-9);
}, 120_000);

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

/**
 * Event batches must not flood DynamoDB (issue 14, finding 4): a 100-like batch commits its events
 * and profile in a bounded number of transactions, its co-engagement pairs are counted off the
 * request path (the Events stream's consumer), and 10 such batches at once all answer 202 within
 * the API's timeout with exact counts. Latencies are printed, never asserted (the box is shared).
 */

import type { ProfileStore } from '../../functions/adapters/dynamodb/profile-store';
import { dynamoClient } from '../../functions/platform/clients';
import { postJson, profileStoreOf, useLocalApp } from '../support/local-app';
import { seedSyntheticItems } from '../support/synthetic-items';

const DAY = 86_400_000;
const local = useLocalApp();
const itemIds = Array.from({ length: 1100 }, (_, i) => `flood-item-${i}`);
let store: ProfileStore;

beforeAll(async () => {
  await seedSyntheticItems(local.app, itemIds);
  store = profileStoreOf(local.app);
}, 120_000);

const base = Date.now() - 3_600_000;
/** 100 likes of 100 distinct items, one second apart. */
const likes = (userId: string, firstItem: number) =>
  Array.from({ length: 100 }, (_, k) => ({
    eventId: `like-${k}`,
    userId,
    itemId: itemIds[firstItem + k] as string,
    type: 'like',
    timestamp: base + k * 1000,
  }));
const post = async (userId: string, events: unknown[]) => {
  const started = performance.now();
  const response = await local.call(postJson('/events', { events }), { user: userId });
  return { response, ms: Math.round(performance.now() - started) };
};

/** DynamoDB writes made on behalf of requests: everything but the stream consumer's counter transactions. */
function countRequestWrites() {
  const writes: string[] = [];
  const name = `count-writes-${Math.random()}`;
  const events = local.app.stack.tables.Events as string;
  dynamoClient().middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { TransactItems?: Array<{ Put?: { TableName?: string } }> };
      const command = context.commandName ?? '';
      const isCommit = input.TransactItems?.some((item) => item.Put?.TableName === events);
      if (/^(PutItem|UpdateItem|DeleteItem|BatchWriteItem)Command$/.test(command) || isCommit)
        writes.push(command);
      return next(args);
    },
    { step: 'initialize', name },
  );
  return { writes, stop: () => dynamoClient().middlewareStack.remove(name) };
}

it('commits a 100-like batch in at most three transactions, with no counter updates on the request path', async () => {
  const counter = countRequestWrites();
  const { response } = await post('flood-probe', likes('flood-probe', 1000));
  counter.stop();
  expect(response.status).toBe(202);
  expect(response.json<{ accepted: number }>().accepted).toBe(100);
  const byCommand = new Map<string, number>();
  for (const command of counter.writes) byCommand.set(command, (byCommand.get(command) ?? 0) + 1);
  process.stdout.write(
    `[flood] one 100-like batch: write calls ${JSON.stringify(Object.fromEntries(byCommand))}\n`,
  );
  // 100 events in commits of at most 40 events: three transactions, and nothing else.
  expect(counter.writes).toEqual([
    'TransactWriteItemsCommand',
    'TransactWriteItemsCommand',
    'TransactWriteItemsCommand',
  ]);
});

it('answers 202 to ten concurrent 100-like batches with exact counts, while another user gets recommendations', async () => {
  const other = 'flood-bystander';
  const warm = await post(
    other,
    [1000, 1010, 1020].map((i, k) => ({
      eventId: `o-${k}`,
      userId: other,
      itemId: itemIds[i],
      type: 'like',
    })),
  );
  expect(warm.response.status).toBe(202);
  const recommend = async () => {
    const started = performance.now();
    const response = await local.call(
      { method: 'GET', path: `/users/${other}/recommendations?limit=10` },
      { user: other },
    );
    return { status: response.status, ms: Math.round(performance.now() - started) };
  };
  expect((await recommend()).status).toBe(200); // loads the index first
  const idle = [await recommend(), await recommend(), await recommend()];

  const users = Array.from({ length: 10 }, (_, u) => `flood-user-${u}`);
  let flooding = true;
  const bystander: Array<{ status: number; ms: number }> = [];
  const reads = (async () => {
    while (flooding) bystander.push(await recommend());
  })();
  const batches = await Promise.all(users.map((userId, u) => post(userId, likes(userId, u * 100))));
  flooding = false;
  await reads;

  const ms = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return `p50 ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted[sorted.length - 1]} ms`;
  };
  process.stdout.write(
    `[flood] 10 x 100 likes: statuses ${batches.map((b) => b.response.status).join(',')}; ` +
      `latencies ${batches.map((b) => b.ms).join(', ')} ms\n` +
      `[flood] bystander recommendations during it: ${bystander.length} requests, statuses ` +
      `${[...new Set(bystander.map((r) => r.status))].join(',')}, ${ms(bystander.map((r) => r.ms))} ` +
      `(before it: ${ms(idle.map((r) => r.ms))})\n`,
  );
  for (const batch of batches) {
    expect(batch.response.status).toBe(202);
    expect(batch.response.json()).toMatchObject({ accepted: 100, duplicate: 0, rejected: 0 });
  }
  expect(bystander.every((r) => r.status === 200)).toBe(true);
  for (const userId of users) {
    expect((await store.getProfile(userId))?.profile.eventCount).toBe(100);
    expect(await store.allEvents(userId)).toHaveLength(100);
  }

  // Co-engagement, once the stream is consumed: each like pairs with the ten likes before it, both
  // ways, at the later like's frame weight (like = 2, half-life 30 days, frame from 2025-01-01).
  const drainStarted = performance.now();
  await local.app.eventsStream.drain({ timeoutMs: 110_000 });
  process.stdout.write(
    `[flood] stream consumer caught up ${Math.round(performance.now() - drainStarted)} ms after the batches\n`,
  );
  expect(local.app.eventsStream.deadLetters).toEqual([]);
  const weightAt = (k: number) => 2 * 2 ** ((base + k * 1000 - Date.UTC(2025, 0, 1)) / (30 * DAY));
  const expected = new Map<string, number>();
  const actual = new Map<string, number>();
  for (let u = 0; u < users.length; u++) {
    const item = (k: number) => itemIds[u * 100 + k] as string;
    for (let k = 1; k < 100; k++)
      for (let j = Math.max(0, k - 10); j < k; j++) {
        expected.set(`${item(k)}>${item(j)}`, weightAt(k));
        expected.set(`${item(j)}>${item(k)}`, weightAt(k));
      }
    for (let k = 0; k < 100; k++)
      for (const row of await store.coEngagementFrom(item(k)))
        actual.set(`${item(k)}>${row.itemId}`, row.weight);
  }
  expect(actual.size).toBe(10 * 2 * (45 + 10 * 90));
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  const off = [...expected].filter(([key, weight]) => Math.abs((actual.get(key) ?? 0) / weight - 1) > 1e-9);
  expect(off).toEqual([]);
}, 120_000);

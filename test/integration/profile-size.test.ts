/**
 * Profile rows stay under DynamoDB's 400 KB item limit whatever the ids (issue 14, finding 7):
 * counts bound the lists, bytes did not (512-byte item ids, characters JSON escapes). And the twin
 * refuses what AWS refuses: DynamoDB Local's own item-size check is measured here at the boundary.
 */
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { ProfileStore } from '../../functions/adapters/dynamodb/profile-store';
import { createLocalDynamoDbClient } from '../../infra/local/aws-env';
import { postJson, profileStoreOf, useLocalApp } from '../support/local-app';
import { seedSyntheticItems } from '../support/synthetic-items';

const LIMIT = 400 * 1024;
const local = useLocalApp();
/** As long as ingestion allows (512 bytes of UTF-8), each character doubled by JSON escaping. */
const longId = (prefix: string, i: number) => {
  const head = `${prefix}-${i}-`;
  return head + '\\"'.repeat(256).slice(0, 512 - head.length);
};
const itemIds = Array.from({ length: 1160 }, (_, i) => longId('big-item', i));
let store: ProfileStore;

beforeAll(async () => {
  await seedSyntheticItems(local.app, itemIds);
  store = profileStoreOf(local.app);
}, 120_000);

/** An item's size as DynamoDB counts it: attribute names plus values (strings in UTF-8, numbers about their digits). */
function itemBytes(item: Record<string, { S?: string; N?: string }>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item))
    bytes +=
      Buffer.byteLength(name) + (value.S !== undefined ? Buffer.byteLength(value.S) : (value.N?.length ?? 0));
  return bytes;
}

it('keeps the profile row under 400 KB with the longest ids the API accepts, and keeps accepting events', async () => {
  expect(Buffer.byteLength(itemIds[0] as string)).toBe(512);
  // User and event ids at the schema's 256 characters, also escaped characters.
  const userId = `big-user-${'\\'.repeat(247)}`;
  expect(userId).toHaveLength(256);
  const start = Date.now() - 3_600_000;
  const events = itemIds.map((itemId, i) => ({
    eventId: `${i}-`.padEnd(256, 'e'),
    userId,
    itemId,
    // Every list filled past its byte budget: hides and purchases (exclusions), purchases, views, likes.
    type: i < 1000 ? 'hide' : i < 1040 ? 'purchase' : i < 1100 ? 'view' : 'like',
    timestamp: start + i * 1000,
  }));
  const statuses: number[] = [];
  for (let b = 0; b < events.length; b += 100) {
    const batch = events.slice(b, b + 100);
    const response = await local.call(postJson('/events', { events: batch }));
    statuses.push(response.status);
    if (response.status === 202) expect(response.json<{ accepted: number }>().accepted).toBe(batch.length);
  }
  expect(statuses).toEqual(Array.from({ length: 12 }, () => 202));

  const dynamo = createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb);
  const { Item } = await dynamo.send(
    new GetItemCommand({ TableName: local.app.stack.tables.Profiles, Key: { userId: { S: userId } } }),
  );
  dynamo.destroy();
  const bytes = itemBytes(Item as Record<string, { S?: string; N?: string }>);
  process.stdout.write(
    `[profile-size] profile row after ${events.length} events with 512-byte ids: ${bytes} bytes\n`,
  );
  expect(bytes).toBeLessThan(LIMIT);

  // What is kept is the most recent: the last hidden and liked items, newest first.
  const profile = (await store.getProfile(userId))?.profile;
  expect(profile?.eventCount).toBe(events.length);
  expect(profile?.exclusions[0]?.itemId).toBe(itemIds[1039]);
  expect(profile?.positives[0]?.itemId).toBe(itemIds[1159]);
  expect(profile?.seen[0]?.itemId).toBe(itemIds[1159]);
  expect(profile?.viewed[0]?.itemId).toBe(itemIds[1099]);
  expect(profile?.purchased[0]?.itemId).toBe(itemIds[1039]);
  expect(profile?.exclusions.length).toBeGreaterThan(50);
  // The typed lists hit their 16 KiB budgets (about 15 such ids each), not their counts.
  expect(profile?.viewed.length).toBeGreaterThan(5);
  expect(profile?.viewed.length).toBeLessThan(60);
  expect(profile?.purchased.length).toBeLessThan(40);
}, 120_000);

it('has a local DynamoDB that refuses an item one byte over 400 KB, as AWS does', async () => {
  const dynamo = createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb);
  const table = local.app.stack.tables.Profiles as string;
  // userId (6) + its value (1) + state (5) + the string: exactly the limit, then one byte more
  // (a three-byte character at the end, so UTF-8 bytes, not characters, are what counts).
  const put = (state: string) =>
    dynamo.send(new PutItemCommand({ TableName: table, Item: { userId: { S: 'x' }, state: { S: state } } }));
  await expect(put(`${'a'.repeat(LIMIT - 12 - 3)}€`)).resolves.toBeDefined();
  await expect(put(`${'a'.repeat(LIMIT - 12 - 2)}€`)).rejects.toThrow(/maximum allowed size/);
  dynamo.destroy();
});

/**
 * DELETE /users/{id} racing the same user's POST /events: after the erase answers, nothing the user
 * sent before it remains, and what is accepted around or after it forms a new profile that counts
 * exactly the events stored (issue 14, finding 3).
 */
import type { ProfileStore } from '../../functions/adapters/dynamodb/profile-store';
import { postJson, profileStoreOf, useLocalApp } from '../support/local-app';
import { seedSyntheticItems } from '../support/synthetic-items';

const local = useLocalApp();
const itemIds = Array.from({ length: 20 }, (_, i) => `erase-item-${i}`);
let store: ProfileStore;

beforeAll(async () => {
  await seedSyntheticItems(local.app, itemIds);
  store = profileStoreOf(local.app);
}, 120_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function post(userId: string, prefix: string, count: number) {
  const events = Array.from({ length: count }, (_, i) => ({
    eventId: `${prefix}-${i}`,
    userId,
    itemId: itemIds[(i * 3 + prefix.length) % itemIds.length],
    type: i % 4 === 0 ? 'view' : 'like',
  }));
  const response = await local.call(postJson('/events', { events }), { user: userId });
  expect(response.status).toBe(202);
  const body = response.json<{ results: Array<{ eventId: string; status: string }> }>();
  return body.results.filter((r) => r.status === 'accepted').map((r) => r.eventId);
}

it('leaves nothing sent before an erase and starts a new profile with what follows, with events in flight (10 rounds)', async () => {
  for (let round = 0; round < 10; round++) {
    const userId = `erased-user-${round}`;
    const before = await post(userId, 'before', 20);
    expect(before).toHaveLength(20);

    // Batches that start before, during and after the erase is sent; all of them may land either side.
    const during = Array.from({ length: 8 }, (_, k) =>
      sleep(k * 6).then(() => post(userId, `during${k}`, 5)),
    );
    await sleep(10 + round);
    const erase = await local.call({ method: 'DELETE', path: `/users/${userId}` }, { user: userId });
    expect(erase.status).toBe(200);
    const after = await post(userId, 'after', 5);
    expect(after).toHaveLength(5);
    const accepted = new Set([...(await Promise.all(during)).flat(), ...after]);

    const stored = await store.allEvents(userId);
    const storedIds = new Set(stored.map((event) => event.eventId));
    // Nothing accepted before the erase was sent remains.
    expect(before.filter((eventId) => storedIds.has(eventId))).toEqual([]);
    // Everything accepted after it answered is there, and nothing stored was refused.
    expect(after.filter((eventId) => !storedIds.has(eventId))).toEqual([]);
    expect([...storedIds].filter((eventId) => !accepted.has(eventId))).toEqual([]);
    // The profile is the new one: it counts exactly the stored events (none orphaned, none erased).
    const profile = await store.getProfile(userId);
    expect({ round, counted: profile?.profile.eventCount ?? 0 }).toEqual({ round, counted: stored.length });
  }
}, 120_000);

/**
 * Recently viewed and "buy again" through the API on the local twin (issue 22): events posted with
 * POST /events, then GET /users/{userId}/history is newest first, typed (views and clicks in viewed,
 * purchases in purchased), one entry per item, with the lists' item views; another user's token gets
 * 403, and the erasure empties it.
 */
import { postJson, useLocalApp } from '../support/local-app';
import { seedSyntheticItems } from '../support/synthetic-items';

const local = useLocalApp();
const itemIds = Array.from({ length: 6 }, (_, i) => `history-item-${i}`);

beforeAll(async () => {
  await seedSyntheticItems(local.app, itemIds);
}, 120_000);

const MINUTE = 60_000;
const started = Date.now();
/** An event `minutesAgo` before the test started, so the order does not hang on arrival. */
const event = (userId: string, eventId: string, type: string, item: number, minutesAgo: number) => ({
  eventId,
  userId,
  itemId: itemIds[item],
  type,
  timestamp: new Date(started - minutesAgo * MINUTE).toISOString(),
});

async function track(userId: string, events: ReturnType<typeof event>[]) {
  const response = await local.call(postJson('/events', { events }), { user: userId });
  expect(response.status).toBe(202);
  expect(response.json<{ accepted: number }>().accepted).toBe(events.length);
}

interface History {
  userId: string;
  kind: string;
  items: Array<{ itemId: string; title?: string; available: boolean; imageUrl?: string; at: string }>;
}
async function history(userId: string, query: string, as = userId) {
  const response = await local.call(
    { method: 'GET', path: `/users/${encodeURIComponent(userId)}/history${query}` },
    { user: as },
  );
  return { status: response.status, body: response.json<History & { code?: string }>() };
}
const entries = (body: History) => body.items.map((item) => [item.itemId, item.at]);
const at = (minutesAgo: number) => new Date(started - minutesAgo * MINUTE).toISOString();

it('answers viewed and purchased items newest first, typed, each once, with item views', async () => {
  const userId = 'history shopper é';
  await track(userId, [
    event(userId, 'h1', 'view', 0, 50),
    event(userId, 'h2', 'click', 1, 40),
    event(userId, 'h3', 'purchase', 2, 30),
    event(userId, 'h4', 'like', 3, 25),
    event(userId, 'h5', 'hide', 4, 22),
  ]);
  // A second request: item 0 viewed again moves to the front; item 5 bought after item 2.
  await track(userId, [event(userId, 'h6', 'view', 0, 20), event(userId, 'h7', 'purchase', 5, 10)]);

  const viewed = await history(userId, '?kind=viewed');
  expect(viewed.status).toBe(200);
  expect(viewed.body).toMatchObject({ userId, kind: 'viewed' });
  expect(entries(viewed.body)).toEqual([
    [itemIds[0], at(20)],
    [itemIds[1], at(40)],
  ]);
  expect(viewed.body.items[0]).toMatchObject({ title: 'Synthetic 0', available: true });

  const purchased = await history(userId, '?kind=purchased&limit=1');
  expect(purchased.status).toBe(200);
  expect(entries(purchased.body)).toEqual([[itemIds[5], at(10)]]);
  expect(entries((await history(userId, '?kind=purchased')).body)).toEqual([
    [itemIds[5], at(10)],
    [itemIds[2], at(30)],
  ]);
}, 60_000);

it("answers 403 to another user's token, and 400 to a kind it does not keep", async () => {
  const owner = 'history-owner';
  await track(owner, [event(owner, 'o1', 'view', 3, 5)]);

  const stranger = await history(owner, '?kind=viewed', 'history-stranger');
  expect(stranger).toMatchObject({ status: 403, body: { code: 'forbidden' } });
  expect(await history(owner, '?kind=seen')).toMatchObject({ status: 400, body: { code: 'invalid_query' } });
  expect(await history(owner, '')).toMatchObject({ status: 400, body: { code: 'invalid_query' } });
  expect(entries((await history(owner, '?kind=viewed')).body)).toEqual([[itemIds[3], at(5)]]);
});

it('answers an empty history for a user without events, and after the user is erased', async () => {
  const userId = 'history-erased';
  expect((await history(userId, '?kind=viewed')).body).toEqual({ userId, kind: 'viewed', items: [] });
  await track(userId, [event(userId, 'x1', 'purchase', 4, 3)]);
  expect(entries((await history(userId, '?kind=purchased')).body)).toEqual([[itemIds[4], at(3)]]);

  const erased = await local.call({ method: 'DELETE', path: `/users/${userId}` }, { user: userId });
  expect(erased.status).toBe(200);

  expect((await history(userId, '?kind=purchased')).body).toEqual({
    userId,
    kind: 'purchased',
    items: [],
  });
});

/**
 * Trending through the local app (issue 22): a burst of engagement on an item makes it trending within
 * one cache period, and it drops out once the burst has aged; one click, or a long history with nothing
 * new, does not trend; the category filter and its 400. Short half-lives through the environment (the
 * short counter's 2 s instead of a day, the aggregate cache's 1 s), the real handlers on DynamoDB Local.
 */
import { postJson, useLocalApp } from '../support/local-app';
import { seedSyntheticItems } from '../support/synthetic-items';

const CACHE_MS = 1000;
const HALF_LIFE_MS = 2000;
const local = useLocalApp({
  environment: {
    INDEX_REFRESH_MS: '0',
    AGGREGATE_CACHE_MS: String(CACHE_MS),
    TRENDING_HALF_LIFE_MS: String(HALF_LIFE_MS),
  },
});
const itemIds = Array.from({ length: 6 }, (_, i) => `trend-item-${i}`);
const [burst, clicked, history, quiet] = itemIds as [string, string, string, string];
const DAY_MS = 86_400_000;

type TrendingList = {
  strategy: string;
  placement: string;
  items: Array<{ itemId: string; score: number; reason: { kind: string; recent?: number } }>;
};

let sent = 0;
async function engage(
  userId: string,
  itemId: string,
  type: string,
  times: number,
  at?: (i: number) => number,
) {
  const events = Array.from({ length: times }, (_, i) => ({
    eventId: `trend-${++sent}`,
    userId,
    itemId,
    type,
    ...(at ? { timestamp: at(i) } : {}),
  }));
  const response = await local.call(postJson('/events', { events }), { user: userId });
  expect(response.status).toBe(202);
}

async function trending(query = ''): Promise<TrendingList> {
  const response = await local.call({ method: 'GET', path: `/trending${query}` }, { user: 'trend-reader' });
  expect(response.status).toBe(200);
  return response.json<TrendingList>();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  await seedSyntheticItems(local.app, itemIds, 1, (i) => ({ category: i < 3 ? 'tops' : 'shoes' }));
  await local.app.compact();
  // A long history (20 purchases over the last four weeks) and nothing lately: popular, not rising.
  await engage('trend-regular', history, 'purchase', 20, (i) => Date.now() - (i + 1) * DAY_MS);
  await engage('trend-quiet', quiet, 'view', 1);
});

it('lists a burst within one cache period, never one click or an old history, and drops it after', async () => {
  expect((await trending()).items).toEqual([]);

  // Four shoppers add the same top to their carts (weight 3 each), one clicks another item.
  await Promise.all(
    ['ann', 'bob', 'cat', 'dan'].map((user) => engage(`trend-${user}`, burst, 'add_to_cart', 1)),
  );
  await engage('trend-eve', clicked, 'click', 1);
  await sleep(CACHE_MS + 100);
  const hot = await trending();

  expect(hot.strategy).toBe('trending');
  expect(hot.placement).toBe('trending');
  expect(hot.items.map((i) => i.itemId)).toEqual([burst]);
  expect(hot.items[0]?.reason.kind).toBe('trending');
  expect(hot.items[0]?.reason.recent).toBeGreaterThan(3);
  expect((await trending('?category=tops')).items.map((i) => i.itemId)).toEqual([burst]);
  expect((await trending('?category=shoes')).items).toEqual([]);

  // 12 falls below the minimum of 3 two half-lives (4 s) after the burst; the cache adds up to 1 s.
  const deadline = Date.now() + 4 * HALF_LIFE_MS + 2 * CACHE_MS;
  let items = hot.items;
  while (items.length > 0 && Date.now() < deadline) {
    await sleep(250);
    items = (await trending()).items;
  }
  expect(items).toEqual([]);
}, 60_000);

it('refuses a category the catalogue lacks, and parameters it does not take', async () => {
  const unknown = await local.call(
    { method: 'GET', path: '/trending?category=socks' },
    { user: 'trend-reader' },
  );
  expect(unknown.status).toBe(400);
  expect(unknown.json<{ code: string }>().code).toBe('unknown_category');
  const paged = await local.call(
    { method: 'GET', path: '/trending?nextToken=abc' },
    { user: 'trend-reader' },
  );
  expect(paged.status).toBe(400);
  expect(paged.json<{ code: string }>().code).toBe('invalid_query');
});

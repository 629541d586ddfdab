/**
 * List filters and paging through the API on the local twin (`exact` backend): 1,000 catalogue rows
 * with clustered vectors, categories, tags and prices; a narrow filter (1% of the catalogue) still
 * fills the list, `strict=false` fills and labels, relative price on `similar`, repeated parameters
 * read whole (an id with a comma), and excludeIds' limit with its own code. Pages continue one
 * ranking without repeats, and every bad token gets its own code (tokens expire after 15 s here).
 */

import { postJson, useLocalApp } from '../support/local-app';
import { seedSyntheticItems } from '../support/synthetic-items';

const TOKEN_TTL_MS = 15_000;
const local = useLocalApp({
  environment: { INDEX_REFRESH_MS: '0', PAGE_TOKEN_TTL_MINUTES: String(TOKEN_TTL_MS / 60_000) },
});

const COUNT = 1000;
// Item 0 has a comma in its id: repeated parameters must keep it whole.
const idOf = (i: number) => (i === 0 ? 'filter,item-0' : `filter-item-${i}`);
const itemIds = Array.from({ length: COUNT }, (_, i) => idOf(i));
/** 1% of the catalogue is `rare`; prices cycle 1..200; five categories. */
const attributesOf = (i: number) => ({
  category: `cat-${i % 5}`,
  price: (i % 200) + 1,
  tags: i % 100 === 7 ? ['rare', `shade-${i % 3}`] : [`shade-${i % 3}`],
});
const rare = itemIds.filter((_, i) => i % 100 === 7);

type Item = { itemId: string; category?: string; price?: number; tags?: string[]; reason: { kind: string } };
type List = { strategy: string; items: Item[]; nextToken?: string };

beforeAll(async () => {
  await seedSyntheticItems(local.app, itemIds, 3, attributesOf);
  // A user with a taste: likes on a few items of one cluster.
  const response = await local.call(
    postJson('/events', {
      events: [10, 30, 50].map((i) => ({
        eventId: `filterer-${i}`,
        userId: 'filterer',
        itemId: idOf(i),
        type: 'like',
      })),
    }),
    { user: 'filterer' },
  );
  expect(response.status).toBe(202);
}, 240_000);

const get = async (path: string, user = 'filterer') => local.call({ method: 'GET', path }, { user });
const list = async (path: string, user = 'filterer'): Promise<List> => {
  const response = await get(path, user);
  expect({ status: response.status, path }).toEqual({ status: 200, path });
  return response.json<List>();
};

describe('filters on every list route', () => {
  it('returns limit items when only 1% of the catalogue is eligible, on personal, popular and similar lists', async () => {
    for (const path of [
      '/users/filterer/recommendations?tag=rare&limit=10',
      '/users/newcomer/recommendations?tag=rare&limit=10',
      `/items/${encodeURIComponent(idOf(10))}/similar?tag=rare&limit=10`,
    ]) {
      const body = await list(path, path.includes('newcomer') ? 'newcomer' : 'filterer');
      expect(body.items).toHaveLength(10);
      expect(body.items.every((item) => rare.includes(item.itemId))).toBe(true);
    }
    expect((await list('/users/filterer/recommendations?tag=rare')).strategy).toBe('personal');
  });

  it('takes several categories (a repeated parameter), tags all-of and a price range together', async () => {
    const body = await list(
      '/users/filterer/recommendations?category=cat-1&category=cat-3&tag=shade-0&minPrice=20&maxPrice=60&limit=20',
    );
    expect(body.items).toHaveLength(20);
    for (const item of body.items) {
      expect(['cat-1', 'cat-3']).toContain(item.category);
      expect(item.tags).toContain('shade-0');
      expect(item.price).toBeGreaterThanOrEqual(20);
      expect(item.price).toBeLessThanOrEqual(60);
    }
    const both = await list('/users/filterer/recommendations?tag=rare&tag=shade-1&tagMatch=all&limit=10');
    expect(both.items.map((item) => item.itemId).sort()).toEqual(
      rare.filter((_, j) => (j * 100 + 7) % 3 === 1).sort(),
    );
  });

  it('fills a short list when strict=false, each filler labelled, and not when strict', async () => {
    // rare items of cat-2: i % 100 === 7 and i % 5 === 2, i.e. every rare item (7 % 5 = 2): narrow it with price.
    const narrow = 'tag=rare&maxPrice=50&limit=10';
    const strict = await list(`/users/filterer/recommendations?${narrow}`);
    const matching = strict.items.length;
    expect(matching).toBeGreaterThan(0);
    expect(matching).toBeLessThan(10);
    const filled = await list(`/users/filterer/recommendations?${narrow}&strict=false`);
    expect(filled.items).toHaveLength(10);
    expect(filled.items.slice(0, matching).map((item) => item.itemId)).toEqual(
      strict.items.map((item) => item.itemId),
    );
    expect(filled.items.slice(matching).every((item) => item.reason.kind === 'outside_filters')).toBe(true);
    expect(filled.items.slice(0, matching).some((item) => item.reason.kind === 'outside_filters')).toBe(
      false,
    );
  });

  it('finds similar items at most a ratio of the item price: like this, but cheaper', async () => {
    // Item 99 costs 100.
    const body = await list(`/items/${idOf(99)}/similar?maxPriceRatio=0.5&limit=10`);
    expect(body.items).toHaveLength(10);
    expect(body.items.every((item) => (item.price as number) <= 50)).toBe(true);
  });

  it('leaves out excluded ids given whole (commas and all), and refuses too many with too_many_exclusions', async () => {
    const top = await list('/users/filterer/recommendations?limit=5');
    const excluded = [...top.items.slice(0, 3).map((item) => item.itemId), idOf(0)];
    const query = excluded.map((id) => `excludeIds=${encodeURIComponent(id)}`).join('&');
    const next = await list(`/users/filterer/recommendations?limit=5&${query}`);
    expect(next.items).toHaveLength(5);
    expect(next.items.filter((item) => excluded.includes(item.itemId))).toEqual([]);
    const tooMany = Array.from({ length: 51 }, (_, i) => `excludeIds=${idOf(i + 1)}`).join('&');
    const refused = await get(`/users/filterer/recommendations?${tooMany}`);
    expect(refused.status).toBe(400);
    expect(refused.json<{ code: string }>().code).toBe('too_many_exclusions');
    const oddPrice = await get('/users/filterer/recommendations?minPrice=cheap');
    expect(oddPrice.json<{ code: string }>()).toMatchObject({ code: 'invalid_query' });
  });
});

describe('paging without repeats', () => {
  const ids = (body: List) => body.items.map((item) => item.itemId);
  const codeOf = async (path: string, user = 'pager') => {
    const response = await get(path, user);
    return `${response.status} ${response.json<{ code: string }>().code}`;
  };

  beforeAll(async () => {
    const response = await local.call(
      postJson('/events', {
        events: [20, 40, 61, 83].map((i) => ({
          eventId: `pager-${i}`,
          userId: 'pager',
          itemId: idOf(i),
          type: 'like',
        })),
      }),
      { user: 'pager' },
    );
    expect(response.status).toBe(202);
  });

  it('5 pages of 10 hold the 50 items of one 50-item list, in its order, personal and filtered', async () => {
    for (const query of ['', '&category=cat-1&category=cat-2&maxPrice=150']) {
      const whole = ids(await list(`/users/pager/recommendations?limit=50${query}`, 'pager'));
      expect(whole).toHaveLength(50);
      const pages: string[] = [];
      let token: string | undefined;
      for (let page = 0; page < 5; page++) {
        const next = token ? `&nextToken=${encodeURIComponent(token)}` : '';
        const body = await list(`/users/pager/recommendations?limit=10${query}${next}`, 'pager');
        expect(body.strategy).toBe('personal');
        pages.push(...ids(body));
        token = body.nextToken;
        expect(token).toBeDefined();
      }
      expect(pages).toEqual(whole);
    }
  });

  it('gives no token once the pool is exhausted', async () => {
    // 10 rare items in all: one page of 7, one of 3, then none.
    const first = await list('/users/pager/recommendations?tag=rare&limit=7', 'pager');
    expect(first.items).toHaveLength(7);
    const second = await list(
      `/users/pager/recommendations?tag=rare&limit=7&nextToken=${encodeURIComponent(first.nextToken as string)}`,
      'pager',
    );
    expect(ids(second)).toHaveLength(3);
    expect(second.nextToken).toBeUndefined();
    expect(new Set([...ids(first), ...ids(second)])).toEqual(new Set(rare));
  });

  it('refuses a tampered, foreign, filter-mismatched, expired and erased token, each with its code', async () => {
    const first = await list('/users/pager/recommendations?limit=10&category=cat-1', 'pager');
    const token = first.nextToken as string;
    const page2 = `/users/pager/recommendations?limit=10&category=cat-1&nextToken=${encodeURIComponent(token)}`;
    // A character of the nonce (bytes 16-31 of the token's body) changed.
    const at = 'p1.'.length + 30;
    const tampered = token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
    expect(await codeOf(page2.replace(encodeURIComponent(token), encodeURIComponent(tampered)))).toBe(
      '400 invalid_token',
    );
    expect(
      await codeOf(
        `/users/someone/recommendations?limit=10&category=cat-1&nextToken=${encodeURIComponent(token)}`,
        'someone',
      ),
    ).toBe('400 foreign_token');
    expect(await codeOf(page2.replace('category=cat-1', 'category=cat-2'))).toBe('400 token_mismatch');
    expect(
      await codeOf(
        `/items/${idOf(5)}/similar?limit=10&category=cat-1&nextToken=${encodeURIComponent(token)}`,
      ),
    ).toBe('400 token_mismatch');
    expect((await get(page2, 'pager')).status).toBe(200);
    // Erased with the user: a replay names a list that is no longer stored.
    const erased = await local.call({ method: 'DELETE', path: '/users/pager' }, { user: 'pager' });
    expect(erased.status).toBe(200);
    expect(await codeOf(page2)).toBe('400 token_not_found');
    // Expired: the twin's tokens live 15 s.
    const fresh = await list('/users/newcomer/recommendations?limit=5', 'newcomer');
    await new Promise((resolve) => setTimeout(resolve, TOKEN_TTL_MS + 500));
    expect(
      await codeOf(
        `/users/newcomer/recommendations?limit=5&nextToken=${encodeURIComponent(fresh.nextToken as string)}`,
        'newcomer',
      ),
    ).toBe('400 expired_token');
  }, 60_000);
});

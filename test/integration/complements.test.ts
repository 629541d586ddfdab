/**
 * "Goes with this" (issue 22's acceptance) through the API on the local twin: a shopper's basket
 * events become co-purchase counters off the request path (the Events stream's consumer, drained
 * here), and GET /items/{itemId}/complements lists the co-purchased items first, then the fallback
 * of the categories bought with the item's; an item without co-purchases gets the fallback only.
 * 80 catalogue rows in 20 visual styles, category k<i % 4> (a style holds one category).
 */
import { postJson, useLocalApp } from '../support/local-app';
import { seedSyntheticItems } from '../support/synthetic-items';

const local = useLocalApp({ environment: { INDEX_REFRESH_MS: '0' } });

const COUNT = 80;
const idOf = (i: number) => `cp-${i}`;
const categoryOf = (i: number) => `k${i % 4}`;
const SHOPPER = 'basket-shopper';

type Item = {
  itemId: string;
  category?: string;
  reason: { kind: string; itemId?: string; category?: string };
};
type List = { itemId: string; strategy: string; items: Item[] };

beforeAll(async () => {
  await seedSyntheticItems(
    local.app,
    Array.from({ length: COUNT }, (_, i) => idOf(i)),
    7,
    (i) => ({ category: categoryOf(i) }),
  );
  const now = Date.now();
  // One basket: cp-0 (k0) bought, then cp-1 (k1) and cp-2 (k2) put in the cart; a like forms no co-purchase.
  const response = await local.call(
    postJson('/events', {
      events: [
        { eventId: 'b-1', userId: SHOPPER, itemId: idOf(0), type: 'purchase', timestamp: now - 3000 },
        { eventId: 'b-2', userId: SHOPPER, itemId: idOf(1), type: 'add_to_cart', timestamp: now - 2000 },
        { eventId: 'b-3', userId: SHOPPER, itemId: idOf(2), type: 'add_to_cart', timestamp: now - 1000 },
        { eventId: 'b-4', userId: SHOPPER, itemId: idOf(3), type: 'like', timestamp: now },
      ],
    }),
    { user: SHOPPER },
  );
  expect(response.status).toBe(202);
  // The counters are written after the request, by the Events stream's consumer.
  await local.app.eventsStream.drain();
}, 240_000);

const complements = async (itemId: string, query = 'limit=6'): Promise<List> => {
  const response = await local.call({ method: 'GET', path: `/items/${itemId}/complements?${query}` });
  expect(response.status).toBe(200);
  return response.json<List>();
};

describe('complements (GET /items/{itemId}/complements)', () => {
  it('lists the items bought with this one first, then items of the categories bought with its category', async () => {
    const list = await complements(idOf(0));

    expect(list.strategy).toBe('complements');
    expect(list.items).toHaveLength(6);
    const [first, second, ...rest] = list.items;
    expect(new Set([first?.itemId, second?.itemId])).toEqual(new Set([idOf(1), idOf(2)]));
    expect([first?.reason, second?.reason]).toEqual([
      { kind: 'co_purchased', itemId: idOf(0) },
      { kind: 'co_purchased', itemId: idOf(0) },
    ]);
    for (const item of rest) {
      expect(item.reason.kind).toBe('bought_with_category');
      expect(['k1', 'k2']).toContain(item.reason.category);
      expect(item.category).toBe(item.reason.category);
    }
    // Never the item itself, nor (by default) its own category.
    expect(list.items.map((i) => i.itemId)).not.toContain(idOf(0));
    expect(list.items.map((i) => i.category)).not.toContain('k0');
  });

  it('gives an item without co-purchases of its own the fallback: its category was bought with k1 and k2', async () => {
    const list = await complements(idOf(4));

    expect(list.items.length).toBeGreaterThan(0);
    for (const item of list.items) {
      expect(item.reason.kind).toBe('bought_with_category');
      expect(['k1', 'k2']).toContain(item.category);
    }
    // Closest to what k0's buyers chose in k1 (cp-1): cp-1's style leads its category.
    expect(list.items.find((i) => i.category === 'k1')?.itemId).toMatch(/^cp-(1|21|41|61)$/);
  });

  it('is empty when nothing was bought with the item or its category (a like is no purchase), and 404 for an unknown item', async () => {
    expect((await complements(idOf(3))).items).toEqual([]);

    const unknown = await local.call({ method: 'GET', path: '/items/no-such-item/complements' });
    expect(unknown.status).toBe(404);
    expect((await unknown.json<{ code: string }>()).code).toBe('unknown_item');
  });

  it('refuses a bad query with 400', async () => {
    const bad = await local.call({ method: 'GET', path: `/items/${idOf(0)}/complements?sameCategory=maybe` });
    expect(bad.status).toBe(400);
  });
});

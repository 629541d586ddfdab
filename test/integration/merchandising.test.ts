/**
 * Merchandising rules through the API on the local twin (issue 20's acceptance): an admin creates
 * rules with `/rules` and the lists change within the rules cache's TTL (1 s here; 4 s deployed):
 * a boosted category rises, a buried one falls, a pinned item sits at its position on its placement
 * and nowhere else, a promotion fills its share, a rule outside its window has no effect, and a
 * stale update gets 409. 600 catalogue rows in 20 visual styles, two categories per style.
 */
import { postJson, useLocalApp } from '../support/local-app';
import { seedSyntheticItems } from '../support/synthetic-items';

const local = useLocalApp({ environment: { INDEX_REFRESH_MS: '0', RULES_CACHE_MS: '1000' } });

const COUNT = 600;
const idOf = (i: number) => `merch-${i}`;
const itemIds = Array.from({ length: COUNT }, (_, i) => idOf(i));
// Row i is of visual style i % 20 (test/bench/support/synthetic-vectors.ts); category c<i % 40>, so
// each style holds two categories (c3 and c23 look alike) and a boost can reorder within a taste.
const categoryOf = (i: number) => `c${i % 40}`;
const USER = 'merchandised';

type Item = {
  itemId: string;
  category?: string;
  reason: { kind: string; ruleId?: string; rules?: string[] };
};
type List = { items: Item[]; nextToken?: string };
type Rule = { ruleId: string; version: number; status: string };

beforeAll(async () => {
  await seedSyntheticItems(local.app, itemIds, 5, (i) => ({ category: categoryOf(i), price: (i % 100) + 1 }));
  // Likes on items of style 3 (categories c3 and c23).
  const response = await local.call(
    postJson('/events', {
      events: [3, 23, 43, 63].map((i) => ({
        eventId: `m-${i}`,
        userId: USER,
        itemId: idOf(i),
        type: 'like',
      })),
    }),
    { user: USER },
  );
  expect(response.status).toBe(202);
}, 240_000);

const list = async (query = ''): Promise<List> => {
  const response = await local.call(
    { method: 'GET', path: `/users/${USER}/recommendations?limit=10${query}` },
    { user: USER },
  );
  expect(response.status).toBe(200);
  return response.json<List>();
};
const ids = (body: List) => body.items.map((item) => item.itemId);
const categories = (body: List) => body.items.map((item) => item.category);

async function createRule(definition: Record<string, unknown>): Promise<Rule> {
  const response = await local.call(postJson('/rules', definition));
  expect(response.status).toBe(201);
  return response.json<Rule>();
}

async function deleteRule(ruleId: string): Promise<void> {
  expect((await local.call({ method: 'DELETE', path: `/rules/${ruleId}` })).status).toBe(200);
}

/** Polls the list until `done` holds (each instance reads the rules again within the cache's TTL). */
async function eventually(query: string, done: (body: List) => boolean, timeoutMs = 5000): Promise<List> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = await list(query);
    if (done(body) || Date.now() > deadline) return body;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const sameAs = (reference: List) => (body: List) => ids(body).join() === ids(reference).join();

describe('merchandising rules on the lists', () => {
  let plain: List;
  beforeAll(async () => {
    plain = await list('&placement=home');
    expect(new Set(categories(plain))).toEqual(new Set(['c3', 'c23']));
  });

  it('a boosted category rises and a buried one falls, each item naming its rule', async () => {
    const plainC23 = categories(plain).indexOf('c23');
    const boost = await createRule({
      name: 'c23 week',
      kind: 'boost',
      factor: 3,
      condition: { categories: ['c23'] },
      placements: ['home'],
    });
    const boosted = await eventually('&placement=home', (body) => categories(body)[0] === 'c23');
    expect(categories(boosted).slice(0, 3)).toEqual(['c23', 'c23', 'c23']);
    expect(categories(boosted).indexOf('c23')).toBeLessThanOrEqual(plainC23);
    for (const item of boosted.items.filter((i) => i.category === 'c23'))
      expect(item.reason.rules).toEqual([boost.ruleId]);
    // Not on another placement.
    expect(ids(await list('&placement=product'))).toEqual(ids(plain));
    await deleteRule(boost.ruleId);
    await eventually('&placement=home', sameAs(plain));

    const bury = await createRule({
      name: 'fewer c3',
      kind: 'bury',
      factor: 5,
      condition: { categories: ['c3'] },
      placements: ['*'],
    });
    const buried = await eventually('&placement=home', (body) => categories(body)[0] !== 'c3');
    const c3Before = categories(plain).filter((c) => c === 'c3').length;
    expect(categories(buried).slice(0, 5)).not.toContain('c3');
    expect(categories(buried).filter((c) => c === 'c3').length).toBeLessThanOrEqual(c3Before);
    await deleteRule(bury.ruleId);
    await eventually('&placement=home', sameAs(plain));
  }, 60_000);

  it('a pinned item sits at its position on its placement and nowhere else', async () => {
    // An item of another style: never in this user's list on its own.
    const hero = idOf(9);
    const pin = await createRule({
      name: 'hero',
      kind: 'pin',
      itemId: hero,
      position: 3,
      placements: ['home'],
    });
    const pinned = await eventually('&placement=home', (body) => ids(body)[2] === hero);
    expect(ids(pinned)[2]).toBe(hero);
    expect(ids(pinned).filter((id) => id === hero)).toHaveLength(1);
    expect(pinned.items[2]?.reason).toEqual({ kind: 'pinned', ruleId: pin.ruleId });
    expect(ids(pinned).filter((id) => id !== hero)).toEqual(ids(plain).slice(0, 9));
    const elsewhere = await list('&placement=cart');
    expect(ids(elsewhere)).not.toContain(hero);
    // Per list, not per page: page 2 of the placement does not show it again.
    const page2 = await list(`&placement=home&nextToken=${encodeURIComponent(pinned.nextToken as string)}`);
    expect(ids(page2)).not.toContain(hero);
    await deleteRule(pin.ruleId);
    await eventually('&placement=home', sameAs(plain));
  }, 60_000);

  it('a promotion fills its share of the slots with its items', async () => {
    const promote = await createRule({
      name: 'c9 launch',
      kind: 'promote',
      share: 0.2,
      condition: { categories: ['c9'] },
      placements: ['*'],
    });
    const promoted = await eventually('&placement=home', (body) => categories(body).includes('c9'));
    const slots = promoted.items.flatMap((item, i) => (item.category === 'c9' ? [i] : []));
    expect(slots).toEqual([4, 9]);
    for (const i of slots)
      expect(promoted.items[i]?.reason).toMatchObject({ kind: 'promoted', ruleId: promote.ruleId });
    await deleteRule(promote.ruleId);
    await eventually('&placement=home', sameAs(plain));
  }, 60_000);

  it('a rule outside its window has no effect, and one inside it does', async () => {
    const boost = { kind: 'boost', factor: 10, condition: { categories: ['c23'] }, placements: ['*'] };
    const hour = 3_600_000;
    const ended = await createRule({
      ...boost,
      name: 'ended',
      startsAt: new Date(Date.now() - 2 * hour).toISOString(),
      endsAt: new Date(Date.now() - hour).toISOString(),
    });
    const scheduled = await createRule({
      ...boost,
      name: 'later',
      startsAt: new Date(Date.now() + hour).toISOString(),
    });
    expect([ended.status, scheduled.status]).toEqual(['ended', 'scheduled']);
    // Wait past the cache's TTL: the rules are read again and still change nothing.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(ids(await list('&placement=home'))).toEqual(ids(plain));
    const soon = await createRule({
      ...boost,
      name: 'soon',
      startsAt: new Date(Date.now() + 2000).toISOString(),
    });
    const started = await eventually('&placement=home', (body) => categories(body)[0] === 'c23', 8000);
    expect(categories(started)[0]).toBe('c23');
    for (const rule of [ended, scheduled, soon]) await deleteRule(rule.ruleId);
  }, 60_000);

  it('a stale update gets 409 version_conflict; ending a rule with the version read takes effect', async () => {
    const definition = {
      name: 'c23',
      kind: 'boost',
      factor: 3,
      condition: { categories: ['c23'] },
      placements: ['home'],
    };
    const rule = await createRule(definition);
    await eventually('&placement=home', (body) => categories(body)[0] === 'c23');
    const put = (body: Record<string, unknown>) =>
      local.call({ ...postJson(`/rules/${rule.ruleId}`, body), method: 'PUT' });
    const renamed = await put({ ...definition, name: 'c23, renamed', version: 1 });
    expect(renamed.status).toBe(200);
    expect((await renamed.json<Rule>()).version).toBe(2);
    const stale = await put({ ...definition, endsAt: new Date().toISOString(), version: 1 });
    expect(stale.status).toBe(409);
    expect(await stale.json()).toMatchObject({ code: 'version_conflict', details: { version: 2 } });
    const end = await put({ ...definition, endsAt: new Date().toISOString(), version: 2 });
    expect(end.status).toBe(200);
    expect((await end.json<Rule>()).status).toBe('ended');
    await eventually('&placement=home', sameAs(plain));
    expect(ids(await list('&placement=home'))).toEqual(ids(plain));
    await deleteRule(rule.ruleId);
  }, 60_000);
});

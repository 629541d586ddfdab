/**
 * Exploration through the API on the local twin: a catalogue dated months ago (`published-at`), a few
 * new uploads and a few dated last month; lists give new, little-shown items at most their share of
 * slots, never an item past the age limit, and a placement can turn it off.
 */
import { readFileSync } from 'node:fs';
import { emojiImages, type LabelledImage } from '../support/images';
import { postJson, useLocalApp } from '../support/local-app';

const SHARE = 0.2;
// Short lists: with 12 old items per taste, new items of the taste win some of 10 ordinary slots anyway.
const LIMIT = 5;
const local = useLocalApp({
  environment: {
    INDEX_REFRESH_MS: '0',
    EXPLORATION: JSON.stringify({
      share: SHARE,
      maxAgeDays: 14,
      // A low floor: emoji of one subcategory can look little alike (the floor has its unit tests).
      minRelevance: 0.1,
      placements: { checkout: { share: 0 } },
    }),
  },
});

const DAY = 86_400_000;
const tastes = ['heart', 'transport-ground', 'animal-mammal'];
const byTaste = new Map<string, LabelledImage[]>();
for (const image of emojiImages('google')) {
  if (!tastes.includes(image.subcategory)) continue;
  byTaste.set(image.subcategory, [...(byTaste.get(image.subcategory) ?? []), image]);
}
const idOf = (image: LabelledImage) => `${image.subcategory.replace(/\W+/g, '-')}-${image.name}`;
const dated = (daysAgo: number) => new Date(Date.now() - daysAgo * DAY).toISOString().slice(0, 10);
// Per taste: 12 items on sale for months, 3 new uploads (no date: new from their upload), 2 dated last month.
const old = [...byTaste.values()].flatMap((images) => images.slice(0, 12));
const fresh = [...byTaste.values()].flatMap((images) => images.slice(12, 15));
const lastMonth = [...byTaste.values()].flatMap((images) => images.slice(15, 17));
const freshIds = new Set(fresh.map(idOf));

type Item = { itemId: string; reason: { kind: string; itemId?: string; publishedAt?: number } };
type List = { strategy: string; items: Item[] };

beforeAll(async () => {
  const upload = (image: LabelledImage, metadata?: Record<string, string>) =>
    local.upload(`catalogue/${image.subcategory}/${idOf(image)}.png`, readFileSync(image.file), metadata);
  await Promise.all([
    ...old.map((image) => upload(image, { 'published-at': dated(120) })),
    ...fresh.map((image) => upload(image)),
    ...lastMonth.map((image) => upload(image, { 'published-at': dated(30) })),
  ]);
  await local.app.queue.drain({ timeoutMs: 120_000 });
  expect(local.app.queue.dlq()).toEqual([]);
  // Three users, one taste each: a like and a click on old items of it.
  for (const [u, taste] of tastes.entries()) {
    const [a, b] = byTaste.get(taste) as LabelledImage[];
    const userId = `explorer-${u}`;
    const response = await local.call(
      postJson('/events', {
        events: [
          { eventId: `${userId}-1`, userId, itemId: idOf(a as LabelledImage), type: 'like' },
          { eventId: `${userId}-2`, userId, itemId: idOf(b as LabelledImage), type: 'click' },
        ],
      }),
      { user: userId },
    );
    expect(response.status).toBe(202);
  }
}, 240_000);

const list = async (path: string, user: string): Promise<List> => {
  const response = await local.call({ method: 'GET', path }, { user });
  expect(response.status).toBe(200);
  return response.json<List>();
};

/** Exploration items: within the share, new (not dated last month nor old), never first. */
function checkExploration(body: List): Item[] {
  const explored = body.items.filter((item) => item.reason.kind === 'exploration');
  expect(explored.length).toBeLessThanOrEqual(Math.round(SHARE * LIMIT));
  for (const item of explored) {
    expect(freshIds.has(item.itemId)).toBe(true);
    expect(item.reason.publishedAt).toBeGreaterThan(Date.now() - 14 * DAY);
  }
  expect(body.items[0]?.reason.kind).not.toBe('exploration');
  return explored;
}

it('gives personal lists new items of the user’s taste, within the share and the age limit', async () => {
  let explored = 0;
  for (const [u, taste] of tastes.entries()) {
    const userId = `explorer-${u}`;
    const body = await list(`/users/${userId}/recommendations?limit=${LIMIT}&exclude=seen`, userId);
    expect(body.strategy).toBe('personal');
    expect(body.items).toHaveLength(LIMIT);
    const picks = checkExploration(body);
    explored += picks.length;
    // Nothing dated last month is explored; what it shows of it won an ordinary slot.
    for (const item of body.items)
      if (lastMonth.some((image) => idOf(image) === item.itemId))
        expect(item.reason.kind).not.toBe('exploration');
    const ofTaste = (itemId: string) => itemId.startsWith(taste.replace(/\W+/g, '-'));
    for (const pick of picks) expect(ofTaste(pick.itemId)).toBe(true);
    // Each taste has three new items that look like it: every user gets one, in an ordinary slot
    // or in the slot set aside (the 5th), which is explored only when no new item won a slot above
    // it (the share is the least share of new items, not an addition to it).
    expect(body.items.some((item) => freshIds.has(item.itemId) && ofTaste(item.itemId))).toBe(true);
    const newAbove = body.items.slice(0, LIMIT - 1).some((item) => freshIds.has(item.itemId));
    expect(picks).toHaveLength(newAbove ? 0 : 1);
  }
  expect(explored).toBeGreaterThan(0);
});

it('explores on similar and popular lists too, and not on a placement that turns it off', async () => {
  const seed = idOf((byTaste.get('transport-ground') as LabelledImage[])[0] as LabelledImage);
  const similar = await list(`/items/${seed}/similar?limit=${LIMIT}`, 'explorer-1');
  checkExploration(similar);
  // A new vehicle is among the items like a vehicle: ranked, or in the exploration slot.
  expect(similar.items.some((item) => freshIds.has(item.itemId))).toBe(true);
  const popular = await list(`/users/newcomer/recommendations?limit=${LIMIT}`, 'newcomer');
  expect(popular.strategy).toBe('popular');
  expect(checkExploration(popular).length).toBe(Math.round(SHARE * LIMIT));

  const checkout = await list(
    `/users/explorer-0/recommendations?limit=${LIMIT}&exclude=seen&placement=checkout`,
    'explorer-0',
  );
  expect(checkout.items.filter((item) => item.reason.kind === 'exploration')).toEqual([]);
  const similarAtCheckout = await list(
    `/items/${seed}/similar?limit=${LIMIT}&placement=checkout`,
    'explorer-0',
  );
  expect(similarAtCheckout.items.filter((item) => item.reason.kind === 'exploration')).toEqual([]);
});

/**
 * Interests a shopper can see and edit (issue 23), through the API on the local twin: a two-taste
 * user's interests each hold one planted taste (never both), with stable ids, labels and their
 * representative items; a mute takes its taste's items out of the next list until it ends (the
 * clock moved past it); a forget survives a rebuild from the raw events, with the same ids.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { refoldProfile } from '../../functions/app/refold';
import { DEFAULT_PROFILE_SETTINGS } from '../../functions/domain/interest-profile';
import { createLocalDynamoDbClient } from '../../infra/local/aws-env';
import { postJson, profileStoreOf, useLocalApp } from '../support/local-app';
import { seedSyntheticItems } from '../support/synthetic-items';

const local = useLocalApp({ environment: { INDEX_REFRESH_MS: '0' } });

/** 20 styles (SyntheticVectors): item i is of style i % 20; styles 0 and 1 are the planted tastes. */
const STYLES = 20;
const itemIds = Array.from({ length: 240 }, (_, i) => `taste-item-${i}`);
const categoryOf = (i: number) =>
  i % STYLES === 0 ? 'hats' : i % STYLES === 1 ? 'boots' : `other-${i % STYLES}`;
const category = new Map(itemIds.map((id, i) => [id, categoryOf(i)]));
const ofStyle = (style: number) => itemIds.filter((_, i) => i % STYLES === style);

beforeAll(async () => {
  await seedSyntheticItems(local.app, itemIds, 1, (i) => ({ category: categoryOf(i) }));
}, 120_000);

const HOUR = 3_600_000;
afterEach(() => jest.restoreAllMocks());

interface Interest {
  interestId: string;
  weight: number;
  label?: string;
  memberCount: number;
  mutedUntil?: string;
  items: Array<{ itemId: string; title?: string; category?: string }>;
}
async function interestsOf(userId: string, as = userId) {
  const response = await local.call(
    { method: 'GET', path: `/users/${encodeURIComponent(userId)}/interests` },
    { user: as },
  );
  return {
    status: response.status,
    body: response.json<{ userId: string; interests: Interest[]; code?: string }>(),
  };
}
async function recommended(userId: string): Promise<string[]> {
  const response = await local.call(
    { method: 'GET', path: `/users/${encodeURIComponent(userId)}/recommendations?limit=5&exclude=seen` },
    { user: userId },
  );
  expect(response.status).toBe(200);
  return response.json<{ items: Array<{ itemId: string }> }>().items.map((item) => item.itemId);
}
async function edit(userId: string, interestId: string, method: 'PATCH' | 'DELETE', body?: unknown) {
  const path = `/users/${encodeURIComponent(userId)}/interests/${interestId}`;
  return local.call(body === undefined ? { method, path } : { ...postJson(path, body), method }, {
    user: userId,
  });
}

/** Six likes of each taste, interleaved in time, then a purchase of each. */
async function plantTwoTastes(userId: string) {
  const hats = ofStyle(0).slice(0, 6);
  const boots = ofStyle(1).slice(0, 6);
  const started = Date.now() - 10 * HOUR;
  const events = hats.flatMap((hat, k) => [
    { itemId: hat, type: 'like' },
    { itemId: boots[k] as string, type: 'like' },
  ]);
  const response = await local.call(
    postJson('/events', {
      events: events.map((e, i) => ({
        ...e,
        eventId: `${userId}-${i}`,
        userId,
        timestamp: new Date(started + i * 60_000).toISOString(),
      })),
    }),
    { user: userId },
  );
  expect(response.status).toBe(202);
  expect(response.json<{ accepted: number }>().accepted).toBe(events.length);
}
const majority = (interest: Interest) => interest.label as string;

it('shows each planted taste as its own interest, with stable ids and representative items', async () => {
  const userId = 'two-taste shopper';
  await plantTwoTastes(userId);
  const { status, body } = await interestsOf(userId);
  expect(status).toBe(200);
  expect(body.userId).toBe(userId);
  const labels = body.interests.map(majority);
  expect(labels).toEqual(expect.arrayContaining(['hats', 'boots']));
  for (const interest of body.interests) {
    expect(interest.interestId).toMatch(/^t[0-9a-f]{11}$/);
    // No interest mixes both tastes: every shown item is of the interest's label.
    expect(interest.items.length).toBeGreaterThanOrEqual(3);
    expect(interest.items.length).toBeLessThanOrEqual(4);
    for (const item of interest.items) expect(category.get(item.itemId)).toBe(interest.label);
    expect(interest.items[0]?.title).toMatch(/^Synthetic /);
  }
  const stored = await profileStoreOf(local.app).getProfileHead(userId);
  for (const centroid of stored.stored?.profile.centroids ?? []) {
    const counts = new Map<string, number>();
    for (const id of centroid.itemIds)
      counts.set(category.get(id) as string, (counts.get(category.get(id) as string) ?? 0) + 1);
    // Each interest is one taste's members only.
    expect(counts.size).toBe(1);
  }
  const weights = body.interests.reduce((sum, i) => sum + i.weight, 0);
  expect(weights).toBeCloseTo(1, 3);

  // Another user's token sees nothing of it.
  expect((await interestsOf(userId, 'someone else')).status).toBe(403);
}, 60_000);

it('leaves a muted taste out of the next list, and brings it back when the mute ends', async () => {
  const userId = 'muting shopper';
  await plantTwoTastes(userId);
  const hats = (await interestsOf(userId)).body.interests.find((i) => i.label === 'hats') as Interest;
  const isHat = (id: string) => category.get(id) === 'hats';
  const before = await recommended(userId);
  expect(before.some(isHat)).toBe(true);

  const muted = await edit(userId, hats.interestId, 'PATCH', { action: 'mute', hours: 1 });
  expect(muted.status).toBe(200);
  expect(muted.json<{ action: string; until: string }>()).toMatchObject({ action: 'mute' });
  const during = await recommended(userId);
  expect(during.filter(isHat)).toEqual([]);
  expect(during.every((id) => category.get(id) === 'boots')).toBe(true);
  const shown = (await interestsOf(userId)).body.interests.find((i) => i.interestId === hats.interestId);
  expect(shown?.mutedUntil).toBe(muted.json<{ until: string }>().until);

  // The clock, injected: two hours later the mute has ended.
  const realNow = Date.now.bind(Date);
  jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 2 * HOUR);
  const after = await recommended(userId);
  expect(after.some(isHat)).toBe(true);
  expect(
    (await interestsOf(userId)).body.interests.find((i) => i.interestId === hats.interestId)?.mutedUntil,
  ).toBe(undefined);
}, 60_000);

it('forgets a taste for good: a rebuild from the raw events keeps it forgotten, with the same ids', async () => {
  const userId = 'forgetting shopper';
  await plantTwoTastes(userId);
  const first = (await interestsOf(userId)).body.interests;
  const hats = first.find((i) => i.label === 'hats') as Interest;
  const boots = first.find((i) => i.label === 'boots') as Interest;

  const forgot = await edit(userId, hats.interestId, 'DELETE');
  expect(forgot.status).toBe(200);
  expect((await interestsOf(userId)).body.interests.map((i) => i.interestId)).toEqual([boots.interestId]);
  expect((await recommended(userId)).filter((id) => category.get(id) === 'hats')).toEqual([]);
  // Forgotten, it is no longer there to edit.
  expect((await edit(userId, hats.interestId, 'DELETE')).status).toBe(404);

  // A rebuild from the raw events (edits included) gives the same interests and ids.
  const store = profileStoreOf(local.app);
  const head = await store.getProfileHead(userId);
  const rebuilt = await refoldProfile({ history: store, catalogue: store }, userId, {
    epoch: head.epoch,
    dim: local.app.manifest.output.dim,
    settings: DEFAULT_PROFILE_SETTINGS,
  });
  expect(rebuilt.profile.centroids.map((c) => c.id)).toEqual(head.stored?.profile.centroids.map((c) => c.id));
  expect(rebuilt.profile.centroids.map((c) => c.id)).toEqual([boots.interestId]);

  // A profile of another space is refolded on read, and by the next event: still forgotten.
  const operator = createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb);
  await operator.send(
    new UpdateCommand({
      TableName: local.app.stack.tables.Profiles,
      Key: { userId },
      UpdateExpression: 'REMOVE #space',
      ExpressionAttributeNames: { '#space': 'space' },
    }),
  );
  operator.destroy();
  expect((await interestsOf(userId)).body.interests.map((i) => i.interestId)).toEqual([boots.interestId]);
  // A re-like of a forgotten hat shapes nothing; a new hat grows a new interest, with a new id.
  const response = await local.call(
    postJson('/events', {
      events: [
        { eventId: `${userId}-relike`, userId, itemId: ofStyle(0)[0], type: 'like' },
        { eventId: `${userId}-new`, userId, itemId: ofStyle(0)[7], type: 'like', timestamp: Date.now() + 1 },
      ],
    }),
    { user: userId },
  );
  expect(response.json<{ accepted: number }>().accepted).toBe(2);
  const after = (await interestsOf(userId)).body.interests;
  expect(after.map((i) => i.interestId)).toContain(boots.interestId);
  const grown = after.find((i) => i.label === 'hats');
  expect(grown?.interestId).not.toBe(hats.interestId);
  expect(grown?.items.map((item) => item.itemId)).toEqual([ofStyle(0)[7]]);

  // The edits are events of the user's: erasure removes them with the rest.
  expect((await store.allEvents(userId)).some((event) => event.type === 'interest_edit')).toBe(true);
  expect(
    (await local.call({ method: 'DELETE', path: `/users/${encodeURIComponent(userId)}` }, { user: userId }))
      .status,
  ).toBe(200);
  expect(await store.allEvents(userId)).toEqual([]);
  expect((await interestsOf(userId)).body.interests).toEqual([]);
}, 60_000);

it('answers 404 to an unknown interest, 400 to a bad edit, 403 to another user', async () => {
  const userId = 'editing shopper';
  await plantTwoTastes(userId);
  const [interest] = (await interestsOf(userId)).body.interests;
  const id = interest?.interestId as string;
  expect((await edit(userId, 't00000000000', 'PATCH', { action: 'mute' })).status).toBe(404);
  expect((await edit(userId, 'not-an-id', 'DELETE')).status).toBe(404);
  const bad = await edit(userId, id, 'PATCH', { action: 'mute', hours: 0 });
  expect(bad.status).toBe(400);
  expect(bad.json<{ code: string }>().code).toBe('invalid_interest_edit');
  expect((await edit(userId, id, 'PATCH', { action: 'explode' })).status).toBe(400);
  const foreign = await local.call(
    {
      ...postJson(`/users/${encodeURIComponent(userId)}/interests/${id}`, { action: 'mute' }),
      method: 'PATCH',
    },
    { user: 'someone else' },
  );
  expect(foreign.status).toBe(403);
  const boosted = await edit(userId, id, 'PATCH', { action: 'boost', hours: 24 });
  expect(boosted.status).toBe(200);
  expect((await edit(userId, id, 'PATCH', { action: 'reset' })).status).toBe(200);
}, 60_000);

import { readFileSync } from 'node:fs';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { AggregateCache } from '../../functions/adapters/dynamodb/aggregate-cache';
import { ProfileStore, storeTablesOf } from '../../functions/adapters/dynamodb/profile-store';
import { DEFAULT_TRACKING_POLICY, recordEvents } from '../../functions/app/track-events';
import {
  DEFAULT_PROFILE_SETTINGS,
  decayedTotals,
  foldEvents,
  type ProfileEvent,
} from '../../functions/domain/interest-profile';
import { createLocalDynamoDbClient } from '../../infra/local/aws-env';
import { emojiImages } from '../support/images';
import { postJson, profileStoreOf, useLocalApp } from '../support/local-app';

const DAY = 86_400_000;
const local = useLocalApp();
const catalogue = emojiImages('google').slice(300, 312);
const itemIds = catalogue.map((_, i) => `sku-${i}`);
let store: ProfileStore;

beforeAll(async () => {
  await Promise.all(
    catalogue.map((image, i) => local.upload(`catalogue/emoji/sku-${i}.png`, readFileSync(image.file))),
  );
  await local.app.queue.drain({ timeoutMs: 60_000 });
  store = profileStoreOf(local.app);
}, 120_000);

type Result = { status: string; code?: string; index: number };
const post = async (events: unknown[], path = '/events') => {
  const response = await local.call(postJson(path, { events }));
  return {
    status: response.status,
    body: response.json<{ accepted: number; duplicate: number; rejected: number; results: Result[] }>(),
  };
};

/**
 * POST that honours 503 + retry-after as a client must (API Gateway's integration timeout, or
 * contention on one profile): at most 6 tries. The retried requests are counted.
 */
const postRetrying = async (events: unknown[], retried: { count: number }) => {
  for (let attempt = 1; ; attempt++) {
    const response = await local.call(postJson('/events', { events }));
    if (response.status !== 503 || attempt === 6)
      return {
        status: response.status,
        body: response.json<{ accepted: number; duplicate: number; rejected: number; results: Result[] }>(),
      };
    retried.count++;
    await new Promise((resolve) => setTimeout(resolve, 1000 * Number(response.headers['retry-after'] ?? 1)));
  }
};

describe('POST /events under concurrency', () => {
  it('counts 500 events exactly once with 50 requests in flight and repeats in between', async () => {
    const userId = 'busy-user';
    const now = Date.now();
    const types = ['view', 'click', 'like', 'add_to_cart', 'purchase', 'dislike', 'hide'] as const;
    const events = Array.from({ length: 500 }, (_, i) => ({
      eventId: `e-${i}`,
      userId,
      itemId: itemIds[(i * 7) % itemIds.length] as string,
      type: types[i % types.length] as (typeof types)[number],
      timestamp: now - ((i * 7919) % (10 * DAY)),
    }));
    const batches = Array.from({ length: 50 }, (_, b) => events.slice(b * 10, b * 10 + 10));
    // Ten batches are sent twice, and one more re-sends a few events of other batches.
    const repeats = [...batches.slice(0, 10), events.filter((_, i) => i % 97 === 0)];
    const requests = [...batches, ...repeats].sort((a, b) =>
      (a[0]?.eventId ?? '').localeCompare(b[0]?.eventId ?? ''),
    );
    const retried = { count: 0 };
    const responses = await Promise.all(requests.map((batch) => postRetrying(batch, retried)));
    process.stdout.write(
      `[interest] ${requests.length} requests for one user, ${retried.count} retried after a 503\n`,
    );

    for (const response of responses) expect(response.status).toBe(202);
    const accepted = responses.reduce((sum, r) => sum + r.body.accepted, 0);
    const duplicates = responses.reduce((sum, r) => sum + r.body.duplicate, 0);
    const sent = requests.reduce((sum, batch) => sum + batch.length, 0);
    expect(accepted + duplicates).toBe(sent);
    // A retry of a request that timed out after committing finds its events stored: duplicates.
    if (retried.count === 0) expect(accepted).toBe(500);
    else expect(accepted).toBeLessThanOrEqual(500);
    expect(await store.allEvents(userId)).toHaveLength(500);

    const stored = await store.getProfile(userId);
    expect(stored?.profile.eventCount).toBe(500);
    const items = await store.getItems(itemIds);
    const sequential = foldEvents(
      userId,
      local.app.manifest.output.dim,
      events.map(
        (e): ProfileEvent => ({
          type: e.type,
          itemId: e.itemId,
          at: e.timestamp,
          ...(e.type === 'dislike' || e.type === 'hide' ? {} : { vector: items.get(e.itemId)?.vector }),
        }),
      ),
      DEFAULT_PROFILE_SETTINGS,
    );
    const at = now + DAY;
    const concurrentTotal = decayedTotals(stored?.profile ?? sequential, at, DEFAULT_PROFILE_SETTINGS).total;
    const sequentialTotal = decayedTotals(sequential, at, DEFAULT_PROFILE_SETTINGS).total;
    expect(Math.abs(concurrentTotal / sequentialTotal - 1)).toBeLessThan(1e-6);
  }, 120_000);
});

describe('several function instances writing one profile', () => {
  it('counts every event once when the transaction conditions, not a lock, decide', async () => {
    const userId = 'contended-user';
    const { tables } = local.app.stack;
    // Four "instances": separate stores and tracking deps, as four Lambda containers would have.
    const instances = Array.from({ length: 4 }, () => ({
      store: new ProfileStore(
        createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb),
        storeTablesOf(tables),
        local.app.manifest.modelId,
      ),
      policy: { ...DEFAULT_TRACKING_POLICY, settings: DEFAULT_PROFILE_SETTINGS },
      space: local.app.manifest.modelId,
      dim: local.app.manifest.output.dim,
    }));
    const events = Array.from({ length: 80 }, (_, i) => ({
      eventId: `c-${i}`,
      userId,
      itemId: itemIds[i % 5],
      type: 'like',
    }));
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, r) =>
        recordEvents(
          instances[r % 4] as (typeof instances)[0],
          events.slice((r % 8) * 10, (r % 8) * 10 + 10),
        ),
      ),
    );
    const statuses = results.flat().map((r) => r.status);
    expect(statuses.filter((s) => s === 'accepted')).toHaveLength(80);
    expect(statuses.filter((s) => s === 'duplicate')).toHaveLength(80);
    expect((await store.getProfile(userId))?.profile.eventCount).toBe(80);
  });
});

describe('POST /events with bad input', () => {
  it('rejects each malformed event on its own and applies only what it reports as accepted', async () => {
    const userId = 'careful-user';
    const good = { eventId: 'ok-1', userId, itemId: itemIds[0], type: 'like' };
    const { status, body } = await post([
      good,
      { eventId: 'bad-type', userId, itemId: itemIds[0], type: 'love' },
      { eventId: 'no-item', userId, type: 'like' },
      { eventId: 42, userId, itemId: itemIds[0], type: 'like' },
      { eventId: 'ghost', userId, itemId: 'no-such-item', type: 'like' },
      { eventId: 'future', userId, itemId: itemIds[1], type: 'like', timestamp: Date.now() + DAY },
      { eventId: 'ancient', userId, itemId: itemIds[1], type: 'like', timestamp: Date.now() - 40 * DAY },
      { eventId: 'garbled-time', userId, itemId: itemIds[1], type: 'like', timestamp: 'yesterday' },
      { eventId: 'extra', userId, itemId: itemIds[1], type: 'like', sneaky: true },
      { ...good, type: 'purchase' }, // same eventId, other payload, same request
      'not an object',
    ]);
    expect(status).toBe(202);
    expect(body.results.map((r) => r.code ?? r.status)).toEqual([
      'accepted',
      'invalid_event',
      'invalid_event',
      'invalid_event',
      'unknown_item',
      'timestamp_in_future',
      'timestamp_too_old',
      'invalid_event',
      'invalid_event',
      'event_id_conflict',
      'invalid_event',
    ]);
    const again = await post([{ ...good, type: 'purchase' }, good]);
    expect(again.body.results.map((r) => r.code ?? r.status)).toEqual(['event_id_conflict', 'duplicate']);
    expect((await store.getProfile(userId))?.profile.eventCount).toBe(1);
  });

  it.each([
    [
      '101 events',
      () => postJson('/events', { events: Array.from({ length: 101 }, (_, i) => ({ eventId: `x${i}` })) }),
      400,
      'invalid_batch',
    ],
    ['no events', () => postJson('/events', { events: [] }), 400, 'invalid_batch'],
    [
      'a 2 MB body',
      () => postJson('/events', { events: [{ eventId: 'x'.repeat(2 * 1024 * 1024) }] }),
      413,
      'payload_too_large',
    ],
    ['invalid JSON', () => ({ ...postJson('/events', {}), body: '{"events": [' }), 400, 'invalid_json'],
    ['an empty body', () => ({ ...postJson('/events', {}), body: '' }), 400, 'empty_body'],
    [
      'a non-JSON content type',
      () => ({ ...postJson('/events', {}), headers: { 'content-type': 'text/plain' } }),
      415,
      'unsupported_media_type',
    ],
    ['an array instead of an envelope', () => postJson('/events', []), 400, 'invalid_batch'],
  ])('answers %s', async (_name, request, status, code) => {
    const response = await local.call(request());
    expect(response.status).toBe(status);
    expect(response.json<{ code: string }>().code).toBe(code);
  });
});

describe('profiles', () => {
  it('reflects an accepted event as soon as POST /events returns', async () => {
    const { body } = await post([
      { eventId: 'fresh-1', userId: 'fresh-user', itemId: itemIds[3], type: 'like' },
    ]);
    expect(body.accepted).toBe(1);
    const stored = await store.getProfile('fresh-user');
    expect(stored?.profile.positives.map((p) => p.itemId)).toEqual([itemIds[3]]);
    expect(stored?.profile.centroids).toHaveLength(1);
  });

  it('imports history older than the live window through the import route only', async () => {
    const old = Date.now() - 60 * DAY;
    const history = ['shop-a', 'shop-b'].flatMap((userId) =>
      itemIds
        .slice(0, 3)
        .map((itemId, i) => ({ eventId: `h-${i}`, userId, itemId, type: 'purchase', timestamp: old + i })),
    );
    const live = await post(history);
    expect(live.body.results.every((r) => r.code === 'timestamp_too_old')).toBe(true);
    const imported = await post(history, '/events/import');
    expect(imported.body.accepted).toBe(6);
    expect((await post(history, '/events/import')).body.duplicate).toBe(6);
    expect((await store.getProfile('shop-b'))?.profile.exclusions).toHaveLength(3);
  });
});

describe('DELETE /users/{userId}', () => {
  it('erases the profile and every raw event of the user', async () => {
    const userId = 'leaving user ü+1';
    await post(
      itemIds
        .slice(0, 5)
        .map((itemId, i) => ({ eventId: `d-${i}`, userId, itemId, type: i === 4 ? 'hide' : 'like' })),
    );
    expect(await store.getProfile(userId)).toBeDefined();
    const response = await local.call({ method: 'DELETE', path: `/users/${encodeURIComponent(userId)}` });
    expect(response.status).toBe(200);
    expect(response.json()).toMatchObject({ userId, erased: true, events: 5 });

    const dynamo = createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb);
    for (const table of Object.values(local.app.stack.tables)) {
      const { Items = [] } = await dynamo.send(new ScanCommand({ TableName: table }));
      expect(JSON.stringify(Items)).not.toContain(userId);
    }
  });
});

describe('the recommender’s aggregate cache over the stats table', () => {
  it('reuses popularity and co-engagement within its TTL, shares concurrent reads, and rereads after', async () => {
    const reads = { popularity: 0, coEngagement: 0 };
    const counting = {
      popularityCounters: () => {
        reads.popularity += 1;
        return store.popularityCounters();
      },
      impressions: () => store.impressions(),
      coEngagementFrom: (itemId: string) => {
        reads.coEngagement += 1;
        return store.coEngagementFrom(itemId);
      },
    };
    // Entries live between half the TTL and the TTL.
    const cache = new AggregateCache(counting, { ttlMs: 1000 });
    await store.addCoEngagement([
      { from: 'cache-a', to: 'cache-b', weight: 2 },
      { from: 'cache-c', to: 'cache-b', weight: 1 },
    ]);
    // Concurrent misses share one read per source; the sources themselves never count as targets.
    const [first, second] = await Promise.all([
      cache.coEngagement(['cache-a', 'cache-c']),
      cache.coEngagement(['cache-a', 'cache-c', 'cache-a']),
    ]);
    expect(first).toEqual(new Map([['cache-b', 3]]));
    expect(second).toEqual(first);
    expect(reads.coEngagement).toBe(2);
    const popular = await Promise.all([cache.popularity(), cache.popularity(), cache.recentPopularity()]);
    expect(popular[1]).toBe(popular[0]);
    // Trending's short-term counter comes from the same read.
    expect(reads.popularity).toBe(1);

    // A change inside the TTL is not seen yet; after it, it is.
    await store.addCoEngagement([{ from: 'cache-a', to: 'cache-b', weight: 5 }]);
    expect((await cache.coEngagement(['cache-a', 'cache-c'])).get('cache-b')).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 1050));
    expect((await cache.coEngagement(['cache-a', 'cache-c'])).get('cache-b')).toBe(8);
    await cache.popularity();
    expect(reads).toEqual({ popularity: 2, coEngagement: 4 });
  });
});

describe('co-engagement pairs', () => {
  it('are formed by clicks and stronger events with recent items, viewed ones included, never by views', async () => {
    const userId = 'pair-user';
    const weightOf = async (from: string, to: string) =>
      (await store.coEngagementFrom(from)).find((row) => row.itemId === to)?.weight ?? 0;
    const before = {
      viewPair: await weightOf('sku-3', 'sku-4'),
      likeToView: await weightOf('sku-5', 'sku-3'),
      viewToLike: await weightOf('sku-3', 'sku-5'),
    };
    const now = Date.now();
    const event = (eventId: string, itemId: string, type: string, at: number) => ({
      eventId,
      userId,
      itemId,
      type,
      timestamp: at,
    });
    const views = await post([
      event('v1', 'sku-3', 'view', now - 2000),
      event('v2', 'sku-4', 'view', now - 1000),
    ]);
    expect(views.body.accepted).toBe(2);
    await local.app.eventsStream.drain();
    expect(await weightOf('sku-3', 'sku-4')).toBe(before.viewPair);

    const like = await post([event('l1', 'sku-5', 'like', now)]);
    expect(like.body.accepted).toBe(1);
    // The Events stream's consumer adds the pairs after the request.
    await local.app.eventsStream.drain();
    expect(await weightOf('sku-5', 'sku-3')).toBeGreaterThan(before.likeToView);
    expect(await weightOf('sku-3', 'sku-5')).toBeGreaterThan(before.viewToLike);
    expect(await weightOf('sku-3', 'sku-4')).toBe(before.viewPair);
  });
});

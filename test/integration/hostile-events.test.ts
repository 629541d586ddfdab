/**
 * POST /events with what a hostile client sends (issue 14): times no Date can hold, ids that are not
 * well-formed Unicode, bodies that are not UTF-8 or not JSON, and one eventId twice in a batch. Each
 * bad event is refused on its own with a code, the valid one beside it is stored, and nothing fails
 * the batch.
 */
import { readFileSync } from 'node:fs';
import type { ProfileStore } from '../../functions/adapters/dynamodb/profile-store';
import { emojiImages } from '../support/images';
import { postJson, profileStoreOf, useLocalApp } from '../support/local-app';

const local = useLocalApp();
const catalogue = emojiImages('google').slice(330, 332);
const [ready, other] = catalogue.map((_, i) => `hostile-${i}`) as [string, string];
let store: ProfileStore;

beforeAll(async () => {
  await Promise.all(
    catalogue.map((image, i) => local.upload(`catalogue/h/hostile-${i}.png`, readFileSync(image.file))),
  );
  await local.app.queue.drain({ timeoutMs: 60_000 });
  store = profileStoreOf(local.app);
}, 120_000);

type Result = { status: string; code?: string; message?: string };
const post = async (events: unknown[]) => {
  const response = await local.call(postJson('/events', { events }));
  const body = response.json<{ results?: Result[]; code?: string }>();
  return { status: response.status, codes: body.results?.map((r) => r.code ?? r.status), body };
};
const eventCount = async (userId: string) => (await store.getProfile(userId))?.profile.eventCount ?? 0;
const like = (eventId: string, userId: string, extra: Record<string, unknown> = {}) => ({
  eventId,
  userId,
  itemId: ready,
  type: 'like',
  ...extra,
});

describe('timestamps no Date can hold', () => {
  it('refuses each on its own with a code and stores the valid event beside it', async () => {
    const userId = 'clockwork';
    const { status, codes, body } = await post([
      like('past-max', userId, { timestamp: 8.64e15 + 1 }),
      like('valid', userId),
      like('max', userId, { timestamp: 8.64e15 }),
      like('unsafe', userId, { timestamp: 2 ** 53 + 2 }),
      like('negative', userId, { timestamp: -1 }),
      like('year-275760', userId, { timestamp: '+275760-09-13T00:00:00Z' }),
      like('nan', userId, { timestamp: 'NaN' }),
    ]);
    expect({ status, codes }).toEqual({
      status: 202,
      codes: [
        'invalid_event',
        'accepted',
        'timestamp_in_future',
        'invalid_event',
        'invalid_event',
        'invalid_event',
        'invalid_event',
      ],
    });
    expect(body.results?.[2]?.message).toBe('+275760-09-13T00:00:00.000Z is ahead of the server clock');
    expect(await eventCount(userId)).toBe(1);
  });
});

describe('ids that are not well-formed Unicode', () => {
  it('refuses lone surrogates with invalid_id, so s\\ud800 and s\\udc00 never become one user', async () => {
    // JSON.stringify writes lone surrogates as \ud800 escapes, which JSON.parse turns back into them.
    const { status, codes } = await post([
      like('high', 's\ud800'),
      like('low', 's\udc00'),
      like('s\udfff', 'surrogate-event-id'),
      { ...like('item', 'surrogate-item'), itemId: `${ready}\ud800` },
      like('replacement', 's\uFFFD'),
    ]);
    expect({ status, codes }).toEqual({
      status: 202,
      codes: ['invalid_id', 'invalid_id', 'invalid_id', 'invalid_id', 'accepted'],
    });
    // U+FFFD is what the lone surrogates would have been stored as: only the real one is there.
    expect(await eventCount('s\uFFFD')).toBe(1);
    expect(await eventCount('surrogate-event-id')).toBe(0);
  });
});

describe('bodies that are not UTF-8 or not JSON', () => {
  const events = (userId: string, eventId: string) =>
    Buffer.concat([
      Buffer.from(`{"events":[{"eventId":"${eventId}`),
      Buffer.from([0xff]),
      Buffer.from(`","userId":"${userId}","itemId":"${ready}","type":"like"}]}`),
    ]);

  it('refuses invalid UTF-8 with 400 and a code, and stores nothing', async () => {
    const declared = await local.call({
      method: 'POST',
      path: '/events',
      headers: { 'content-type': 'application/json' },
      body: events('latin', 'caf'),
    });
    expect([declared.status, declared.json<{ code: string }>().code]).toEqual([400, 'bad_request']);
    const undeclared = await local.call({ method: 'POST', path: '/events', body: events('latin', 'caf') });
    expect([undeclared.status, undeclared.json<{ code: string }>().code]).toEqual([400, 'invalid_utf8']);
    expect(await eventCount('latin')).toBe(0);
  });

  it.each([
    ['application/jsonx', 415],
    ['text/json', 415],
    ['application/json; charset=iso-8859-1', 415],
    ['application/vnd.api+json', 415],
    ['application/json; charset=UTF-8', 202],
  ])('answers content type %s with %s', async (contentType, expected) => {
    const userId = `typed ${contentType}`;
    const response = await local.call({
      ...postJson('/events', { events: [like('typed', userId)] }),
      headers: { 'content-type': contentType },
    });
    const code = response.json<{ code?: string }>().code;
    expect([response.status, code]).toEqual([
      expected,
      expected === 415 ? 'unsupported_media_type' : undefined,
    ]);
    expect(await eventCount(userId)).toBe(expected === 202 ? 1 : 0);
  });
});

describe('one eventId twice in a batch', () => {
  it('judges the second on its own when the first is rejected: accepted, not event_id_conflict', async () => {
    const userId = 'twice';
    const { codes } = await post([{ ...like('f9', userId), itemId: 'no-such-item' }, like('f9', userId)]);
    expect(codes).toEqual(['unknown_item', 'accepted']);
    expect(await eventCount(userId)).toBe(1);
    // The stored f9 is the valid one: resending it is a duplicate, the unknown item still unknown.
    expect((await post([like('f9', userId)])).codes).toEqual(['duplicate']);
    expect((await post([{ ...like('f9', userId), itemId: 'no-such-item' }])).codes).toEqual(['unknown_item']);
  });

  it('tells the second it conflicts only with a payload that is stored', async () => {
    const userId = 'twice-again';
    expect((await post([like('g9', userId), { ...like('g9', userId), itemId: other }])).codes).toEqual([
      'accepted',
      'event_id_conflict',
    ]);
    expect((await post([like('h9', userId), like('h9', userId)])).codes).toEqual(['accepted', 'duplicate']);
    // g9 is stored with the first item: a payload sent twice now duplicates nothing that is stored.
    const otherG9 = { ...like('g9', userId), itemId: other };
    expect((await post([otherG9, otherG9])).codes).toEqual(['event_id_conflict', 'event_id_conflict']);
    const unknown = { ...like('k9', userId), itemId: 'no-such-item' };
    expect((await post([unknown, unknown])).codes).toEqual(['unknown_item', 'unknown_item']);
    expect(await eventCount(userId)).toBe(2);
  });
});

/**
 * Recently viewed and "buy again" (userHistory in functions/app/recommend.ts) through in-memory fakes:
 * typed lists newest first with the lists' item views, deleted items left out, and a profile of the
 * previous fold refolded in memory. test/integration/history.test.ts runs it through the API.
 */
import type { StoredItem } from '../../functions/app/ports';
import { type ProfileRefold, type RecommendDeps, userHistory } from '../../functions/app/recommend';
import { settingsId } from '../../functions/app/refold';
import { DEFAULT_TRACKING_POLICY } from '../../functions/app/track-events';
import {
  DEFAULT_PROFILE_SETTINGS,
  type EventType,
  foldEvents,
  type InterestProfile,
} from '../../functions/domain/interest-profile';
import { DEFAULT_RANKING_SETTINGS } from '../../functions/domain/ranking';
import { ExactIndex } from '../../functions/vector-index';
import { InMemoryItemViews } from '../support/fakes/item-views';
import { KnownImageEmbedder } from '../support/fakes/known-image-embedder';
import { InMemoryProfileRepository } from '../support/fakes/profile-repository';
import { inMemoryServing } from '../support/fakes/serving';

const MODEL_ID = 'test-model';
const DIM = 2;
const NOW = Date.UTC(2026, 5, 1);
const MINUTE = 60_000;
const ITEMS = ['shoe', 'hat', 'scarf', 'bag', 'belt'];
const vector = (itemId: string) => {
  const angle = ITEMS.indexOf(itemId) / 3;
  return Float32Array.of(Math.cos(angle), Math.sin(angle));
};

function item(itemId: string, status: StoredItem['status'] = 'ready'): StoredItem {
  return {
    itemId,
    status,
    source: { bucket: 'catalogue', key: `catalogue/${itemId}.jpg`, sequencer: '01', eventAt: 0 },
    vectors: { [MODEL_ID]: vector(itemId) },
    title: `a ${itemId}`,
    category: 'wear',
    price: 10,
    available: true,
    createdAt: NOW - 60 * MINUTE,
    updatedAt: NOW - 60 * MINUTE,
  };
}

function setUp() {
  const reader = new InMemoryItemViews();
  const store = new InMemoryProfileRepository();
  for (const itemId of ITEMS) {
    reader.putItem(item(itemId));
    store.putItem({ itemId, status: 'ready', available: true, vector: vector(itemId) });
  }
  const refolds: ProfileRefold[] = [];
  const deps: RecommendDeps = {
    serving: inMemoryServing(new ExactIndex(DIM)),
    reader,
    profiles: store,
    history: store,
    catalogue: store,
    aggregates: store,
    embedder: async () => new KnownImageEmbedder(MODEL_ID, DIM, new Map()),
    modelId: MODEL_ID,
    dim: DIM,
    profileSettings: DEFAULT_PROFILE_SETTINGS,
    ranking: DEFAULT_RANKING_SETTINGS,
    popularityEpoch: DEFAULT_TRACKING_POLICY.popularityEpoch,
    now: () => NOW,
    onRefold: (refold) => refolds.push(refold),
  };
  return { deps, store, reader, refolds };
}

/** Stores the events and the profile folded from them, as the write path does (`minutesAgo` each). */
async function track(
  store: InMemoryProfileRepository,
  events: Array<[EventType, string, number]>,
  stored: { settingsId?: string; strip?: boolean } = {},
) {
  const profileEvents = events.map(([type, itemId, minutesAgo]) => ({
    type,
    itemId,
    at: NOW - minutesAgo * MINUTE,
    vector: vector(itemId),
  }));
  const profile: Partial<InterestProfile> = foldEvents('ada', DIM, profileEvents, DEFAULT_PROFILE_SETTINGS);
  if (stored.strip) {
    delete profile.viewed;
    delete profile.purchased;
  }
  await store.commit(
    'ada',
    profileEvents.map((event, i) => ({
      userId: 'ada',
      eventId: `e${i}`,
      itemId: event.itemId,
      type: event.type,
      at: event.at,
      payloadHash: `h${i}`,
      receivedAt: event.at,
      expiresAt: Math.ceil(NOW / 1000) + 86_400,
    })),
    {
      profile: profile as InterestProfile,
      version: 1,
      settingsId: stored.settingsId ?? settingsId(DEFAULT_PROFILE_SETTINGS),
      space: MODEL_ID,
      epoch: 0,
    },
    undefined,
    [],
    NOW,
  );
}

const EVENTS: Array<[EventType, string, number]> = [
  ['view', 'shoe', 50],
  ['click', 'hat', 40],
  ['purchase', 'scarf', 30],
  ['like', 'bag', 25],
  ['view', 'shoe', 20],
  ['purchase', 'belt', 10],
];

describe('userHistory', () => {
  it('answers viewed items (views and clicks) newest first, each once, with item views and times', async () => {
    const { deps, store } = setUp();
    await track(store, EVENTS);

    const viewed = await userHistory(deps, 'ada', { kind: 'viewed' });

    expect(viewed).toEqual({
      userId: 'ada',
      kind: 'viewed',
      items: [
        expect.objectContaining({
          itemId: 'shoe',
          title: 'a shoe',
          available: true,
          at: '2026-05-31T23:40:00.000Z',
        }),
        expect.objectContaining({ itemId: 'hat', at: '2026-05-31T23:20:00.000Z' }),
      ],
    });
    expect(viewed.items[0]?.imageUrl).toMatch(/^https:/);
  });

  it('answers purchased items newest first, not viewed or liked ones', async () => {
    const { deps, store } = setUp();
    await track(store, EVENTS);

    const bought = await userHistory(deps, 'ada', { kind: 'purchased' });

    expect(bought.items.map((x) => [x.itemId, x.at])).toEqual([
      ['belt', '2026-05-31T23:50:00.000Z'],
      ['scarf', '2026-05-31T23:30:00.000Z'],
    ]);
  });

  it('leaves out items deleted since without shortening the page, and keeps to the limit', async () => {
    const { deps, store, reader } = setUp();
    await track(store, [
      ['view', 'shoe', 5],
      ['view', 'hat', 4],
      ['view', 'scarf', 3],
      ['view', 'bag', 2],
    ]);
    reader.putItem(item('bag', 'deleted'));

    const page = await userHistory(deps, 'ada', { kind: 'viewed', limit: 2 });

    expect(page.items.map((x) => x.itemId)).toEqual(['scarf', 'hat']);
  });

  it('answers an empty history for a user without a profile', async () => {
    const { deps } = setUp();
    expect(await userHistory(deps, 'nobody', { kind: 'purchased' })).toEqual({
      userId: 'nobody',
      kind: 'purchased',
      items: [],
    });
  });

  it('refolds a profile of the previous fold in memory, writing nothing', async () => {
    const { deps, store, refolds } = setUp();
    await track(store, EVENTS, { settingsId: 'fold-1-settings', strip: true });
    const commits = jest.spyOn(store, 'commit');

    const viewed = await userHistory(deps, 'ada', { kind: 'viewed' });

    expect(viewed.items.map((x) => x.itemId)).toEqual(['shoe', 'hat']);
    expect(refolds).toEqual([
      expect.objectContaining({ userId: 'ada', fromSettings: 'fold-1-settings', events: EVENTS.length }),
    ]);
    expect(commits).not.toHaveBeenCalled();
    expect((await store.getProfile('ada'))?.profile.viewed).toBeUndefined();
  });

  it('reads a profile of the current fold as it is, without reading the events', async () => {
    const { deps, store, refolds } = setUp();
    await track(store, EVENTS);
    const reads = jest.spyOn(store, 'allEvents');

    await userHistory(deps, 'ada', { kind: 'purchased' });

    expect(reads).not.toHaveBeenCalled();
    expect(refolds).toEqual([]);
  });
});

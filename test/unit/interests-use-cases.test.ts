/**
 * The interests use cases (issue 23) through the in-memory fakes: editInterest writes an
 * `interest_edit` event with the profile it changes (404 for an id the profile does not hold), a
 * refold from the raw events replays it, and userInterests shows each interest's medoids (closest
 * to the centroid first), label and weight, and the mute while it lasts.
 * test/integration/interests.test.ts runs the same routes on DynamoDB Local.
 */
import { type RecommendDeps, userInterests } from '../../functions/app/recommend';
import { refoldProfile } from '../../functions/app/refold';
import {
  DEFAULT_TRACKING_POLICY,
  editInterest,
  recordEvents,
  type TrackDeps,
} from '../../functions/app/track-events';
import type { CatalogueItem } from '../../functions/domain/catalogue-item';
import { NotFound } from '../../functions/domain/errors';
import { DEFAULT_PROFILE_SETTINGS } from '../../functions/domain/interest-profile';
import { DEFAULT_RANKING_SETTINGS } from '../../functions/domain/ranking';
import { ExactIndex } from '../../functions/vector-index';
import { InMemoryItemViews } from '../support/fakes/item-views';
import { InMemoryProfileRepository } from '../support/fakes/profile-repository';
import { inMemoryServing } from '../support/fakes/serving';

const NOW = Date.UTC(2026, 5, 1);
const HOUR = 3_600_000;
const DIM = 4;
const unit = (...values: number[]) => {
  const norm = Math.hypot(...values);
  return Float32Array.from(values, (v) => v / norm);
};
/** Hats near axis 0 (hat-0 the closest to their centre), boots near axis 1. */
const ITEMS: Array<[string, string, Float32Array]> = [
  ['hat-0', 'hats', unit(1, 0, 0.02, 0)],
  ['hat-1', 'hats', unit(1, 0.1, 0.2, 0)],
  ['hat-2', 'hats', unit(1, -0.1, -0.2, 0)],
  ['hat-3', 'hats', unit(1, 0, 0, 0.35)],
  ['boot-0', 'boots', unit(0, 1, 0, 0.1)],
  ['boot-1', 'boots', unit(0, 1, 0, -0.1)],
];

function setUp() {
  let clock = NOW;
  const store = new InMemoryProfileRepository();
  const reader = new InMemoryItemViews();
  const index = new ExactIndex(DIM);
  for (const [itemId, category, vector] of ITEMS) {
    store.putItem({ itemId, status: 'ready', available: true, vector, category });
    index.upsert(itemId, vector, { available: true, category });
    const item: CatalogueItem = {
      itemId,
      title: itemId,
      status: 'ready',
      source: { bucket: 'b', key: `catalogue/${itemId}.png`, sequencer: '01', eventAt: 0 },
      vectors: { m: vector },
      category,
      available: true,
      createdAt: 0,
      updatedAt: 0,
    };
    reader.putItem(item);
  }
  const track: TrackDeps = {
    store,
    policy: { ...DEFAULT_TRACKING_POLICY, settings: DEFAULT_PROFILE_SETTINGS },
    space: 'm',
    dim: DIM,
    now: () => clock,
  };
  const recommend: RecommendDeps = {
    serving: inMemoryServing(index),
    reader,
    profiles: store,
    history: store,
    catalogue: store,
    aggregates: store,
    embedder: async () => {
      throw new Error('not used');
    },
    modelId: 'm',
    dim: DIM,
    profileSettings: DEFAULT_PROFILE_SETTINGS,
    ranking: DEFAULT_RANKING_SETTINGS,
    popularityEpoch: DEFAULT_TRACKING_POLICY.popularityEpoch,
    now: () => clock,
  };
  return { store, track, recommend, setClock: (at: number) => (clock = at) };
}

async function likeAll(track: TrackDeps, userId: string) {
  const results = await recordEvents(
    track,
    ITEMS.map(([itemId], i) => ({
      eventId: `e${i}`,
      userId,
      itemId,
      type: 'like',
      timestamp: NOW - (10 - i) * HOUR,
    })),
  );
  expect(results.every((r) => r.status === 'accepted')).toBe(true);
}

describe('userInterests', () => {
  it('shows each interest with its medoids first, its label and its weight share', async () => {
    const { track, recommend } = setUp();
    await likeAll(track, 'ada');
    const { interests } = await userInterests(recommend, 'ada');
    expect(interests.map((i) => [i.label, i.memberCount])).toEqual([
      ['hats', 4],
      ['boots', 2],
    ]);
    expect(interests[0]?.weight).toBeCloseTo(4 / 6, 2);
    // hat-0, nearest the hats' centre, comes first; hat-3, leaning away from the others, last.
    expect(interests[0]?.items.map((i) => i.itemId)[0]).toBe('hat-0');
    expect(interests[0]?.items.map((i) => i.itemId).at(-1)).toBe('hat-3');
    expect(interests[0]?.items[0]).toMatchObject({ title: 'hat-0', category: 'hats', available: true });
    expect((await userInterests(recommend, 'nobody')).interests).toEqual([]);
  });
});

describe('editInterest', () => {
  it('writes the edit as an event with the profile, and a refold replays it', async () => {
    const { store, track, recommend, setClock } = setUp();
    await likeAll(track, 'ada');
    const hats = (await userInterests(recommend, 'ada')).interests[0]?.interestId as string;
    const edited = await editInterest(track, 'ada', hats, { action: 'mute', hours: 2 });
    expect(edited).toEqual({
      userId: 'ada',
      interestId: hats,
      action: 'mute',
      until: new Date(NOW + 2 * HOUR).toISOString(),
    });
    const muted = (await userInterests(recommend, 'ada')).interests.find((i) => i.interestId === hats);
    expect(muted?.mutedUntil).toBe(new Date(NOW + 2 * HOUR).toISOString());
    setClock(NOW + 3 * HOUR);
    const after = (await userInterests(recommend, 'ada')).interests.find((i) => i.interestId === hats);
    expect(after?.mutedUntil).toBeUndefined();

    await editInterest(track, 'ada', hats, { action: 'forget' });
    const events = await store.allEvents('ada');
    expect(events.filter((e) => e.type === 'interest_edit').map((e) => e.edit?.action)).toEqual([
      'mute',
      'forget',
    ]);
    const head = await store.getProfileHead('ada');
    expect(head.version).toBe(3);
    const refolded = await refoldProfile({ history: store, catalogue: store }, 'ada', {
      epoch: head.epoch,
      dim: DIM,
      settings: DEFAULT_PROFILE_SETTINGS,
    });
    expect(refolded.profile.centroids.map((c) => c.id)).toEqual(
      head.stored?.profile.centroids.map((c) => c.id),
    );
    expect(refolded.profile.forgotten?.map((f) => f.itemId).sort()).toEqual([
      'hat-0',
      'hat-1',
      'hat-2',
      'hat-3',
    ]);
  });

  it('answers NotFound for an id the profile does not hold, and for a user without a profile', async () => {
    const { store, track } = setUp();
    await likeAll(track, 'ada');
    await expect(editInterest(track, 'ada', 't00000000000', { action: 'forget' })).rejects.toBeInstanceOf(
      NotFound,
    );
    await expect(editInterest(track, 'bob', 't00000000000', { action: 'reset' })).rejects.toMatchObject({
      code: 'unknown_interest',
    });
    expect((await store.allEvents('ada')).some((e) => e.type === 'interest_edit')).toBe(false);
    expect((await store.getProfileHead('ada')).version).toBe(1);
  });
});

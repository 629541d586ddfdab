/**
 * The event write use case (recordEvents) through the in-memory fake of its ports: accepted,
 * duplicate and conflicting event ids, a lost race retried, and contention once retries run out.
 * test/integration/interest.test.ts and friends run the same path on DynamoDB Local.
 */
import { createHash } from 'node:crypto';
import { CommitConflict, Contention } from '../../functions/app/errors';
import {
  DEFAULT_TRACKING_POLICY,
  recordEvents,
  settingsId,
  type TrackDeps,
  UserWriteQueue,
} from '../../functions/app/track-events';
import {
  DEFAULT_PROFILE_SETTINGS,
  foldEvents,
  type InterestProfile,
  type ProfileEvent,
} from '../../functions/domain/interest-profile';
import { errorResponse } from '../../functions/http/api';
import { InMemoryProfileRepository } from '../support/fakes/profile-repository';

const NOW = Date.UTC(2026, 5, 1);
const DIM = 4;
const SPACE = 'model-a';
const unit = (axis: number) => Float32Array.from({ length: DIM }, (_, i) => (i === axis ? 1 : 0));

function setUp() {
  const store = new InMemoryProfileRepository();
  store.putItem({ itemId: 'shoe', status: 'ready', available: true, vector: unit(0) });
  store.putItem({ itemId: 'hat', status: 'ready', available: true, vector: unit(1) });
  store.putItem({ itemId: 'scarf', status: 'ready', available: true, vector: unit(2) });
  const deps = (): TrackDeps => ({
    store,
    policy: { ...DEFAULT_TRACKING_POLICY, settings: DEFAULT_PROFILE_SETTINGS },
    space: SPACE,
    dim: DIM,
    now: () => NOW,
  });
  return { store, deps: deps(), otherWriter: deps() };
}

const like = (eventId: string, itemId: string, userId = 'ada') => ({ eventId, userId, itemId, type: 'like' });

describe('recordEvents', () => {
  it('accepts new events and commits them with the profile folded from them', async () => {
    const { store, deps } = setUp();

    const results = await recordEvents(deps, [like('e1', 'shoe'), like('e2', 'hat')]);

    expect(results).toEqual([
      { index: 0, eventId: 'e1', status: 'accepted' },
      { index: 1, eventId: 'e2', status: 'accepted' },
    ]);
    const head = await store.getProfileHead('ada');
    expect(head).toMatchObject({ version: 1, epoch: NOW });
    expect(head.stored?.profile.eventCount).toBe(2);
    expect((await store.allEvents('ada')).map((event) => [event.eventId, event.itemId, event.epoch])).toEqual(
      [
        ['e1', 'shoe', NOW],
        ['e2', 'hat', NOW],
      ],
    );
    expect([...(await store.popularity()).keys()].sort()).toEqual(['hat', 'shoe']);
  });

  it('answers duplicate for an event id sent again with the same payload, and counts it once', async () => {
    const { store, deps } = setUp();
    await recordEvents(deps, [like('e1', 'shoe')]);
    const popularity = await store.popularity();

    const results = await recordEvents(deps, [like('e1', 'shoe'), like('e1', 'shoe')]);

    expect(results).toEqual([
      { index: 0, eventId: 'e1', status: 'duplicate' },
      { index: 1, eventId: 'e1', status: 'duplicate' },
    ]);
    const head = await store.getProfileHead('ada');
    expect(head.version).toBe(1);
    expect(head.stored?.profile.eventCount).toBe(1);
    expect(await store.popularity()).toEqual(popularity);
  });

  it('answers duplicate for a repeat within one request after the first is accepted', async () => {
    const { store, deps } = setUp();

    const results = await recordEvents(deps, [like('e1', 'shoe'), like('e1', 'shoe')]);

    expect(results).toEqual([
      { index: 0, eventId: 'e1', status: 'accepted' },
      { index: 1, eventId: 'e1', status: 'duplicate' },
    ]);
    expect((await store.getProfileHead('ada')).stored?.profile.eventCount).toBe(1);
  });

  it('rejects an event id stored with another payload as event_id_conflict, keeping the stored event', async () => {
    const { store, deps } = setUp();
    await recordEvents(deps, [like('e1', 'shoe')]);

    const results = await recordEvents(deps, [like('e1', 'hat'), like('e2', 'scarf'), like('e2', 'hat')]);

    const conflict = {
      status: 'rejected',
      code: 'event_id_conflict',
      message: 'this eventId was stored with another payload',
    };
    expect(results).toEqual([
      { index: 0, eventId: 'e1', ...conflict },
      { index: 1, eventId: 'e2', status: 'accepted' },
      { index: 2, eventId: 'e2', ...conflict },
    ]);
    const stored = await store.getEvents('ada', ['e1', 'e2']);
    expect(stored.get('e1')?.itemId).toBe('shoe');
    expect(stored.get('e2')?.itemId).toBe('scarf');
    expect((await store.getProfileHead('ada')).stored?.profile.eventCount).toBe(2);
  });

  it('accepts an event id again after the user is erased: it belongs to the new epoch', async () => {
    const { store, deps } = setUp();
    await recordEvents(deps, [like('e1', 'shoe')]);
    await store.deleteUser('ada', NOW + 1);

    const results = await recordEvents(deps, [like('e1', 'hat')]);

    expect(results).toEqual([{ index: 0, eventId: 'e1', status: 'accepted' }]);
    expect((await store.allEvents('ada')).map((event) => event.itemId)).toEqual(['hat']);
    expect((await store.getProfileHead('ada')).stored?.profile.eventCount).toBe(1);
  });

  it('re-reads and re-applies when another writer commits first, so neither event is lost', async () => {
    const { store, deps, otherWriter } = setUp();
    await recordEvents(deps, [like('e0', 'scarf')]);
    const commit = store.commit.bind(store);
    let commits = 0;
    jest.spyOn(store, 'commit').mockImplementation(async (...args) => {
      commits += 1;
      // Another process (its own queue) commits between this writer's read and its commit.
      if (commits === 1) await recordEvents(otherWriter, [like('e2', 'hat')]);
      return commit(...args);
    });

    const results = await recordEvents(deps, [like('e1', 'shoe')]);

    expect(results).toEqual([{ index: 0, eventId: 'e1', status: 'accepted' }]);
    // The first attempt, the other writer's commit, then the retry.
    expect(commits).toBe(3);
    const head = await store.getProfileHead('ada');
    expect(head.version).toBe(3);
    expect(head.stored?.profile.eventCount).toBe(3);
  });

  it('answers duplicate when the retry finds that the other writer stored the same event', async () => {
    const { store, deps, otherWriter } = setUp();
    const commit = store.commit.bind(store);
    let commits = 0;
    jest.spyOn(store, 'commit').mockImplementation(async (...args) => {
      commits += 1;
      if (commits === 1) await recordEvents(otherWriter, [like('e1', 'shoe')]);
      return commit(...args);
    });

    expect(await recordEvents(deps, [like('e1', 'shoe')])).toEqual([
      { index: 0, eventId: 'e1', status: 'duplicate' },
    ]);
    expect((await store.getProfileHead('ada')).stored?.profile.eventCount).toBe(1);
  });

  describe('deps built per request (as the handler does, to follow the served space)', () => {
    const concurrentRequests = async (shareQueue: boolean) => {
      const { store, deps } = setUp();
      const queue = new UserWriteQueue();
      const commit = store.commit.bind(store);
      let inFlight = 0;
      let mostInFlight = 0;
      let lost = 0;
      jest.spyOn(store, 'commit').mockImplementation(async (...args) => {
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        try {
          await new Promise((resolve) => setImmediate(resolve));
          return await commit(...args);
        } catch (error) {
          if (error instanceof CommitConflict) lost += 1;
          throw error;
        } finally {
          inFlight -= 1;
        }
      });
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, r) =>
          recordEvents({ ...deps, ...(shareQueue ? { queue } : {}) }, [like(`e${r}`, 'shoe')]),
        ),
      );
      return { results: results.flat(), mostInFlight, lost, store };
    };

    it("commit one user's requests one after another when they share the process's queue", async () => {
      const { results, mostInFlight, lost, store } = await concurrentRequests(true);

      expect(results.map((r) => r.status)).toEqual(Array(8).fill('accepted'));
      expect(mostInFlight).toBe(1);
      expect(lost).toBe(0);
      expect((await store.getProfileHead('ada')).stored?.profile.eventCount).toBe(8);
    });

    it('race each other (and retry) without it: the queue belongs to the process, not the deps object', async () => {
      const { results, mostInFlight, lost, store } = await concurrentRequests(false);

      expect(results.map((r) => r.status)).toEqual(Array(8).fill('accepted'));
      expect(mostInFlight).toBeGreaterThan(1);
      expect(lost).toBeGreaterThan(0);
      expect((await store.getProfileHead('ada')).stored?.profile.eventCount).toBe(8);
    });
  });

  describe('when every commit loses its race', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('gives up with Contention, which the API answers as 503 with retry-after', async () => {
      const { store, deps } = setUp();
      const attempts = jest.spyOn(store, 'commit').mockRejectedValue(new CommitConflict('lost the race'));

      let outcome: unknown;
      const settled = recordEvents(deps, [like('e1', 'shoe')]).then(
        () => {
          outcome = 'resolved';
        },
        (error: unknown) => {
          outcome = error;
        },
      );
      // Back-off sleeps between attempts run on fake timers.
      while (outcome === undefined) await jest.advanceTimersByTimeAsync(1_000);
      await settled;

      expect(outcome).toBeInstanceOf(Contention);
      expect(outcome).toMatchObject({
        code: 'contention',
        permanent: false,
        message: 'too many concurrent writes to the profile of ada; retry the request',
      });
      expect(attempts).toHaveBeenCalledTimes(60);
      expect(await store.allEvents('ada')).toEqual([]);
      const response = errorResponse(outcome, 'req-1');
      expect(response.statusCode).toBe(503);
      expect(response.headers).toMatchObject({ 'retry-after': '1' });
      expect(JSON.parse(response.body ?? '')).toEqual({
        code: 'contention',
        message: 'too many concurrent writes to the profile of ada; retry the request',
        requestId: 'req-1',
      });
    });
  });

  describe('a profile folded in another space', () => {
    const HOUR = 3_600_000;
    /** Model B, of the same dimension: each item's vector is another item's in model A. */
    const MODEL_B: Record<string, Float32Array> = { shoe: unit(1), hat: unit(0), scarf: unit(3) };
    const likeAt = (eventId: string, itemId: string, hoursAgo: number) => ({
      ...like(eventId, itemId),
      timestamp: NOW - hoursAgo * HOUR,
    });
    const history: Array<[string, string, number]> = [
      ['e1', 'shoe', 3],
      ['e2', 'shoe', 2.5],
      ['e3', 'hat', 2],
    ];
    /** The profile folding these likes with model B's vectors gives. */
    const foldedInB = (likes: Array<[string, string, number]>): InterestProfile =>
      foldEvents(
        'ada',
        DIM,
        likes.map(
          ([, itemId, hoursAgo]): ProfileEvent => ({
            type: 'like',
            itemId,
            at: NOW - hoursAgo * HOUR,
            vector: MODEL_B[itemId],
          }),
        ),
        DEFAULT_PROFILE_SETTINGS,
      );

    /** Ada's profile folded under model A, then the catalogue serving model B and a writer of space B. */
    async function switchedToB() {
      const { store, deps } = setUp();
      expect(
        (
          await recordEvents(
            deps,
            history.map(([id, item, ago]) => likeAt(id, item, ago)),
          )
        ).map((r) => r.status),
      ).toEqual(['accepted', 'accepted', 'accepted']);
      expect((await store.getProfileHead('ada')).stored?.space).toBe('model-a');
      for (const [itemId, vector] of Object.entries(MODEL_B))
        store.putItem({ itemId, status: 'ready', available: true, vector });
      return { store, inB: { ...deps, space: 'model-b' }, otherWriterInB: { ...deps, space: 'model-b' } };
    }

    it('is refolded from the raw events in the active space before the new events join it', async () => {
      const { store, inB } = await switchedToB();

      expect(await recordEvents(inB, [likeAt('e4', 'scarf', 1)])).toEqual([
        { index: 0, eventId: 'e4', status: 'accepted' },
      ]);

      const head = await store.getProfileHead('ada');
      expect(head.stored).toMatchObject({ version: 2, space: 'model-b' });
      // Exactly what folding every event with model B's vectors gives: no centroid of model A is left.
      expect(head.stored?.profile).toEqual(foldedInB([...history, ['e4', 'scarf', 1]]));
      expect(head.stored?.profile.centroids.map((c) => [...c.sum].map((x) => Math.sign(x)))).toEqual([
        [0, 1, 0, 0],
        [1, 0, 0, 0],
        [0, 0, 0, 1],
      ]);
    });

    it('refolds a legacy profile (stored without a space) even when the model is unchanged', async () => {
      const { store, deps } = setUp();
      // A row from before spaces were recorded, its centroid folded with vectors the catalogue no longer has.
      const legacy = foldEvents(
        'ada',
        DIM,
        [{ type: 'like', itemId: 'shoe', at: NOW - 3 * HOUR, vector: unit(2) }],
        DEFAULT_PROFILE_SETTINGS,
      );
      await store.commit(
        'ada',
        [
          {
            userId: 'ada',
            eventId: 'e1',
            itemId: 'shoe',
            type: 'like',
            at: NOW - 3 * HOUR,
            payloadHash: 'legacy',
            receivedAt: NOW - 3 * HOUR,
            expiresAt: Math.ceil(NOW / 1000) + 86_400,
          },
        ],
        { profile: legacy, version: 1, settingsId: settingsId(DEFAULT_PROFILE_SETTINGS), epoch: NOW },
        undefined,
        [],
        NOW,
      );
      expect((await store.getProfileHead('ada')).stored?.space).toBeUndefined();

      await recordEvents(deps, [likeAt('e2', 'hat', 1)]);

      const stored = (await store.getProfileHead('ada')).stored;
      expect(stored?.space).toBe(SPACE);
      expect(stored?.profile).toEqual(
        foldEvents(
          'ada',
          DIM,
          [
            { type: 'like', itemId: 'shoe', at: NOW - 3 * HOUR, vector: unit(0) },
            { type: 'like', itemId: 'hat', at: NOW - HOUR, vector: unit(1) },
          ],
          DEFAULT_PROFILE_SETTINGS,
        ),
      );
    });

    it('refolds a profile of the previous fold (no typed lists) from its raw events on the next event', async () => {
      const { store, deps } = setUp();
      const at = NOW - 3 * HOUR;
      // Fold 1 hashed the settings alone, and its profiles had no viewed or purchased list.
      const { maxViewed: _v, maxPurchased: _p, ...fold1Settings } = DEFAULT_PROFILE_SETTINGS;
      const fold1Id = createHash('sha256').update(JSON.stringify(fold1Settings)).digest('hex').slice(0, 16);
      const previous: Partial<InterestProfile> = foldEvents(
        'ada',
        DIM,
        [{ type: 'purchase', itemId: 'shoe', at, vector: unit(0) }],
        DEFAULT_PROFILE_SETTINGS,
      );
      delete previous.viewed;
      delete previous.purchased;
      await store.commit(
        'ada',
        [
          {
            userId: 'ada',
            eventId: 'e1',
            itemId: 'shoe',
            type: 'purchase',
            at,
            payloadHash: 'fold1',
            receivedAt: at,
            expiresAt: Math.ceil(NOW / 1000) + 86_400,
          },
        ],
        { profile: previous as InterestProfile, version: 1, settingsId: fold1Id, space: SPACE, epoch: NOW },
        undefined,
        [],
        NOW,
      );
      expect(fold1Id).not.toBe(settingsId(DEFAULT_PROFILE_SETTINGS));

      await recordEvents(deps, [{ ...likeAt('e2', 'hat', 1), type: 'view' }]);

      const stored = (await store.getProfileHead('ada')).stored;
      expect(stored?.settingsId).toBe(settingsId(DEFAULT_PROFILE_SETTINGS));
      expect(stored?.profile.purchased).toEqual([{ itemId: 'shoe', at }]);
      expect(stored?.profile.viewed).toEqual([{ itemId: 'hat', at: NOW - HOUR }]);
    });

    it('keeps a profile of the active space as it is: no events are read back', async () => {
      const { store, deps } = setUp();
      await recordEvents(deps, [likeAt('e1', 'shoe', 2)]);
      const before = (await store.getProfileHead('ada')).stored?.profile;
      const reads = jest.spyOn(store, 'allEvents');

      await recordEvents(deps, [likeAt('e2', 'hat', 1)]);

      expect(reads).not.toHaveBeenCalled();
      const after = (await store.getProfileHead('ada')).stored;
      expect(after).toMatchObject({ version: 2, space: SPACE });
      expect(after?.profile.eventCount).toBe(2);
      expect(after?.profile.anchor).toBe(before?.anchor);
    });

    it('loses the race to a writer that refolded first, then folds into its profile without refolding again', async () => {
      const { store, inB, otherWriterInB } = await switchedToB();
      const commit = store.commit.bind(store);
      const reads = jest.spyOn(store, 'allEvents');
      let commits = 0;
      jest.spyOn(store, 'commit').mockImplementation(async (...args) => {
        commits += 1;
        if (commits === 1) await recordEvents(otherWriterInB, [likeAt('e5', 'hat', 0.5)]);
        return commit(...args);
      });

      expect(await recordEvents(inB, [likeAt('e4', 'scarf', 1)])).toEqual([
        { index: 0, eventId: 'e4', status: 'accepted' },
      ]);

      // This writer's refold, the other writer's refold; the retry finds the profile in space B.
      expect(reads).toHaveBeenCalledTimes(2);
      const stored = (await store.getProfileHead('ada')).stored;
      expect(stored).toMatchObject({ version: 3, space: 'model-b' });
      expect(stored?.profile.eventCount).toBe(5);
      expect(stored?.profile.centroids.map((c) => c.itemIds)).toEqual(
        foldedInB([...history, ['e5', 'hat', 0.5], ['e4', 'scarf', 1]]).centroids.map((c) => c.itemIds),
      );
    });
  });
});

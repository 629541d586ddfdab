/**
 * The contract of the event write path's ports (functions/app/ports.ts): one suite, run against the
 * in-memory fake (test/unit/) and the DynamoDB adapter on DynamoDB Local (test/integration/), so the
 * fake the use-case tests rely on cannot drift from what production does.
 */
import { randomBytes } from 'node:crypto';
import { CommitConflict } from '../../../functions/app/errors';
import {
  type EventWriteStore,
  type ItemSnapshot,
  isItemEvent,
  type StoredEvent,
  type StoredProfile,
} from '../../../functions/app/ports';
import {
  applyEvent,
  DEFAULT_PROFILE_SETTINGS,
  type EventType,
  emptyProfile,
  type InterestProfile,
} from '../../../functions/domain/interest-profile';

export interface ProfileRepositoryFixture {
  repository: EventWriteStore;
  /** Puts a catalogue item where `getItems` reads it (ingestion's job in production). */
  putItem(item: ItemSnapshot): Promise<void>;
  /** Popularity weight per item, as the commits have added it up. */
  popularity(): Promise<Map<string, number>>;
}

const DIM = 4;
const SETTINGS_ID = 'contract-settings';
const T0 = Date.UTC(2026, 0, 1);

export function profileRepositoryContract(
  name: string,
  setUp: () => ProfileRepositoryFixture | Promise<ProfileRepositoryFixture>,
): void {
  describe(`${name}: ProfileRepository and CatalogueSnapshots contract`, () => {
    let fixture: ProfileRepositoryFixture;
    let repository: EventWriteStore;
    /** Ids unique to one test: the adapter's tables are shared by the whole file. */
    let prefix: string;
    const id = (name: string) => `${prefix}${name}`;

    beforeEach(async () => {
      fixture = await setUp();
      repository = fixture.repository;
      prefix = `contract-${randomBytes(4).toString('hex')}-`;
    });

    const vector = (seed: number) => Float32Array.from({ length: DIM }, (_, i) => (i === seed % DIM ? 1 : 0));

    function eventOf(
      userId: string,
      eventId: string,
      itemId: string,
      at = T0,
      type: EventType = 'like',
    ): StoredEvent {
      return {
        userId,
        eventId,
        itemId,
        type,
        at,
        payloadHash: `hash-${eventId}`,
        receivedAt: at,
        // In the future: DynamoDB Local's TTL may remove an expired event at once (the fake never expires one).
        expiresAt: Math.ceil(Date.now() / 1000) + 90 * 86_400,
      };
    }

    function profileOf(
      userId: string,
      events: StoredEvent[],
      version: number,
      epoch: number,
    ): { next: StoredProfile; profile: InterestProfile } {
      const profile = emptyProfile(userId, DIM, T0);
      for (const [i, event] of events.entries()) {
        if (!isItemEvent(event)) continue;
        const profileEvent = { type: event.type, itemId: event.itemId, at: event.at, vector: vector(i) };
        applyEvent(profile, profileEvent, DEFAULT_PROFILE_SETTINGS);
      }
      return { next: { profile, version, settingsId: SETTINGS_ID, epoch }, profile };
    }

    async function commitFirst(userId: string, events: StoredEvent[], epoch: number) {
      const { next } = profileOf(userId, events, 1, epoch);
      await repository.commit(userId, events, next, undefined, [], T0);
      return next;
    }

    it('has no row, no events and epoch 0 for a user it has never seen', async () => {
      const userId = id('nobody');
      expect(await repository.getProfileHead(userId)).toEqual({ epoch: 0 });
      expect((await repository.getEvents(userId, ['e1'])).size).toBe(0);
      expect(await repository.allEvents(userId)).toEqual([]);
    });

    it('reads items, profile heads and events together as the single reads do, beyond 100 keys', async () => {
      const [ada, bob, nobody] = [id('ada'), id('bob'), id('nobody')];
      const items = Array.from({ length: 60 }, (_, i) => id(`item-${i}`));
      await Promise.all(
        items.map((itemId, i) =>
          fixture.putItem({ itemId, status: 'ready', available: i % 2 === 0, vector: vector(i) }),
        ),
      );
      const adaEvents = Array.from({ length: 30 }, (_, i) =>
        eventOf(ada, `e${i}`, items[i] as string, T0 + i),
      );
      await repository.commit(ada, adaEvents, profileOf(ada, adaEvents, 1, 1000).next, undefined, [], T0);
      const bobEvents = [eventOf(bob, 'e1', items[5] as string)];
      await repository.commit(bob, bobEvents, profileOf(bob, bobEvents, 1, 2000).next, undefined, [], T0);
      const adaIds = Array.from({ length: 40 }, (_, i) => `e${i}`);

      const read = await repository.readForCommit(
        [...items, id('missing-item'), items[0] as string],
        [
          { userId: ada, eventIds: adaIds },
          { userId: bob, eventIds: ['e1', 'e2'] },
          { userId: nobody, eventIds: ['e1'] },
        ],
      );

      expect(read.items).toEqual(await repository.getItems(items));
      expect(read.items.size).toBe(60);
      expect(read.users.get(ada)).toEqual({
        head: await repository.getProfileHead(ada),
        events: await repository.getEvents(ada, adaIds),
      });
      expect(read.users.get(ada)?.events.size).toBe(30);
      expect(read.users.get(bob)?.head.epoch).toBe(2000);
      expect([...(read.users.get(bob)?.events.keys() ?? [])]).toEqual(['e1']);
      expect(read.users.get(nobody)).toEqual({ head: { epoch: 0 }, events: new Map() });
    });

    it('stores the events, the profile and the popularity together, each event stamped with the epoch', async () => {
      const userId = id('user');
      const [a, b] = [id('item-a'), id('item-b')];
      const events = [eventOf(userId, 'e2', a), eventOf(userId, 'e1', b, T0 + 1)];
      const { next, profile } = profileOf(userId, events, 1, 1000);
      await repository.commit(
        userId,
        events,
        next,
        undefined,
        [
          { itemId: a, weight: 1.5 },
          { itemId: b, weight: 0.25 },
          { itemId: a, weight: 1 },
        ],
        T0,
      );

      expect(await repository.getProfileHead(userId)).toEqual({
        version: 1,
        epoch: 1000,
        stored: { profile, version: 1, settingsId: SETTINGS_ID, epoch: 1000 },
      });
      const stored = await repository.getEvents(userId, ['e1', 'e2', 'missing', 'e1']);
      expect([...stored.keys()].sort()).toEqual(['e1', 'e2']);
      expect(stored.get('e2')).toEqual({ ...events[0], epoch: 1000 });
      expect(await repository.allEvents(userId)).toEqual([
        { ...events[1], epoch: 1000 },
        { ...events[0], epoch: 1000 },
      ]);
      const popularity = await fixture.popularity();
      expect(popularity.get(a)).toBeCloseTo(2.5, 10);
      expect(popularity.get(b)).toBeCloseTo(0.25, 10);
    });

    it("adds one item's popularity from many events exactly once, each increment by its event id", async () => {
      const userId = id('user');
      const item = id('viral');
      const events = Array.from({ length: 30 }, (_, i) => eventOf(userId, `e${i}`, item, T0 + i));
      const increments = events.map((event, i) => ({ itemId: item, weight: 1 + i, eventId: event.eventId }));
      const { next } = profileOf(userId, events, 1, 1000);
      await repository.commit(userId, events, next, undefined, increments, T0);
      const total = increments.reduce((sum, { weight }) => sum + weight, 0);
      expect((await fixture.popularity()).get(item)).toBeCloseTo(total, 10);

      // The same events again (a redelivery after the commit): refused whole, their popularity not added.
      const again = profileOf(userId, events, 2, 1000).next;
      await expect(
        repository.commit(userId, events, again, { version: 1, epoch: 1000 }, increments, T0),
      ).rejects.toBeInstanceOf(CommitConflict);
      expect((await fixture.popularity()).get(item)).toBeCloseTo(total, 10);
    });

    it('keeps the space a profile was folded in, and reads a row stored without one as legacy (no space)', async () => {
      const [folded, legacy] = [id('folded'), id('legacy')];
      const { next } = profileOf(folded, [eventOf(folded, 'e1', id('item'))], 1, 1000);
      await repository.commit(folded, [], { ...next, space: 'model-b' }, undefined, [], T0);
      await commitFirst(legacy, [eventOf(legacy, 'e1', id('item'))], 1000);

      expect((await repository.getProfileHead(folded)).stored?.space).toBe('model-b');
      const head = await repository.getProfileHead(legacy);
      expect(head.stored).toBeDefined();
      expect(head.stored).not.toHaveProperty('space');

      // A later commit moves the profile to another space.
      await repository.commit(
        folded,
        [],
        { ...next, version: 2, space: 'model-c' },
        { version: 1, epoch: 1000 },
        [],
        T0,
      );
      expect((await repository.getProfileHead(folded)).stored?.space).toBe('model-c');
    });

    it('hands out copies: changing a profile read does not change the stored one', async () => {
      const userId = id('user');
      await commitFirst(userId, [eventOf(userId, 'e1', id('item'))], 1000);
      const head = await repository.getProfileHead(userId);
      head.stored?.profile.positives.splice(0);
      expect((await repository.getProfileHead(userId)).stored?.profile.positives).toHaveLength(1);
    });

    it('refuses a first commit once a row exists, and writes nothing of it', async () => {
      const userId = id('user');
      const item = id('item');
      await commitFirst(userId, [eventOf(userId, 'e1', item)], 1000);
      const late = [eventOf(userId, 'e2', item)];
      const { next } = profileOf(userId, late, 1, 1000);
      await expect(
        repository.commit(userId, late, next, undefined, [{ itemId: item, weight: 1 }], T0),
      ).rejects.toBeInstanceOf(CommitConflict);
      expect((await repository.getEvents(userId, ['e2'])).size).toBe(0);
      expect((await fixture.popularity()).get(item)).toBeUndefined();
    });

    it('refuses a commit from a version another writer has moved past, and writes nothing of it', async () => {
      const userId = id('user');
      await commitFirst(userId, [eventOf(userId, 'e1', id('item'))], 1000);
      const second = [eventOf(userId, 'e2', id('item'), T0 + 1), eventOf(userId, 'e4', id('item'), T0 + 2)];
      const { profile } = profileOf(userId, second, 2, 1000);
      await repository.commit(
        userId,
        second,
        profileOf(userId, second, 2, 1000).next,
        { version: 1, epoch: 1000 },
        [],
        T0,
      );

      const stale = [eventOf(userId, 'e3', id('item'))];
      await expect(
        repository.commit(
          userId,
          stale,
          profileOf(userId, stale, 2, 1000).next,
          { version: 1, epoch: 1000 },
          [],
          T0,
        ),
      ).rejects.toBeInstanceOf(CommitConflict);
      expect((await repository.getEvents(userId, ['e3'])).size).toBe(0);
      const head = await repository.getProfileHead(userId);
      expect(head.version).toBe(2);
      expect(head.stored?.profile).toEqual(profile);
    });

    it('refuses an event id already stored in the same epoch, even with the profile as expected', async () => {
      const userId = id('user');
      await commitFirst(userId, [eventOf(userId, 'e1', id('item'))], 1000);
      const again = [eventOf(userId, 'e1', id('other'))];
      await expect(
        repository.commit(
          userId,
          again,
          profileOf(userId, again, 2, 1000).next,
          { version: 1, epoch: 1000 },
          [],
          T0,
        ),
      ).rejects.toBeInstanceOf(CommitConflict);
      expect((await repository.getProfileHead(userId)).version).toBe(1);
      expect((await repository.getEvents(userId, ['e1'])).get('e1')?.itemId).toBe(id('item'));
    });

    it('takes an event id stored in an earlier epoch as a new event of the later one', async () => {
      const userId = id('user');
      await commitFirst(userId, [eventOf(userId, 'e1', id('item'))], 1000);
      const again = [eventOf(userId, 'e1', id('other'))];
      await repository.commit(
        userId,
        again,
        profileOf(userId, again, 2, 2000).next,
        { version: 1, epoch: 1000 },
        [],
        T0,
      );
      expect(await repository.allEvents(userId)).toEqual([{ ...again[0], epoch: 2000 }]);
      expect(await repository.getProfileHead(userId)).toMatchObject({ version: 2, epoch: 2000 });
    });

    it('keeps epoch 0 (rows from before epochs): versions still guard, an id is still stored once', async () => {
      const userId = id('user');
      await commitFirst(userId, [eventOf(userId, 'e1', id('item'))], 0);
      expect(await repository.getProfileHead(userId)).toMatchObject({ version: 1, epoch: 0 });
      const repeat = [eventOf(userId, 'e1', id('item'))];
      await expect(
        repository.commit(
          userId,
          repeat,
          profileOf(userId, repeat, 2, 0).next,
          { version: 1, epoch: 0 },
          [],
          T0,
        ),
      ).rejects.toBeInstanceOf(CommitConflict);
      const next = [eventOf(userId, 'e2', id('item'))];
      await repository.commit(
        userId,
        next,
        profileOf(userId, next, 2, 0).next,
        { version: 1, epoch: 0 },
        [],
        T0,
      );
      expect((await repository.allEvents(userId)).map((event) => [event.eventId, event.epoch])).toEqual([
        ['e1', 0],
        ['e2', 0],
      ]);
    });

    it('erases the events and the profile; a writer that read before fails, and the ids are free again', async () => {
      const userId = id('user');
      const events = [eventOf(userId, 'e1', id('item')), eventOf(userId, 'e2', id('item'))];
      await commitFirst(userId, events, 1000);
      const before = await repository.getProfileHead(userId);

      expect(await repository.deleteUser(userId, T0)).toEqual({ events: 2 });
      expect(await repository.getProfileHead(userId)).toEqual({ epoch: 0 });
      expect(await repository.allEvents(userId)).toEqual([]);

      const late = [eventOf(userId, 'e3', id('item'))];
      await expect(
        repository.commit(
          userId,
          late,
          profileOf(userId, late, 2, 1000).next,
          { version: before.version ?? 0, epoch: before.epoch },
          [],
          T0,
        ),
      ).rejects.toBeInstanceOf(CommitConflict);
      await commitFirst(userId, events, T0 + 5);
      expect((await repository.allEvents(userId)).map((event) => event.epoch)).toEqual([T0 + 5, T0 + 5]);
    });

    it('erases a user with nothing stored without leaving a row', async () => {
      const userId = id('nobody');
      expect(await repository.deleteUser(userId, T0)).toEqual({ events: 0 });
      expect(await repository.getProfileHead(userId)).toEqual({ epoch: 0 });
    });

    it('reads catalogue items with their state and vector; unknown ids are absent', async () => {
      const [ready, deleted, pending] = [id('ready'), id('deleted'), id('pending')];
      await fixture.putItem({ itemId: ready, status: 'ready', available: true, vector: vector(1) });
      await fixture.putItem({ itemId: deleted, status: 'deleted', available: true });
      await fixture.putItem({ itemId: pending, status: 'processing', available: false });

      const items = await repository.getItems([ready, deleted, pending, id('missing'), ready]);
      expect([...items.keys()].sort()).toEqual([deleted, pending, ready].sort());
      expect(items.get(ready)).toEqual({
        itemId: ready,
        status: 'ready',
        available: true,
        vector: vector(1),
      });
      expect(items.get(deleted)).toEqual({ itemId: deleted, status: 'deleted', available: true });
      expect(items.get(pending)).toEqual({ itemId: pending, status: 'processing', available: false });
    });
  });
}

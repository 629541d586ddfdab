/**
 * The contract of the recommender's ProfileReader port (functions/app/ports.ts): it reads what the
 * event write path (ProfileRepository) committed. Run against the in-memory fake (test/unit/) and
 * ProfileStoreReader on DynamoDB Local (test/integration/), which reads the Profiles table only.
 */
import { randomBytes } from 'node:crypto';
import type { ProfileReader, ProfileRepository, StoredProfile } from '../../../functions/app/ports';
import {
  applyEvent,
  DEFAULT_PROFILE_SETTINGS,
  emptyProfile,
  type InterestProfile,
} from '../../../functions/domain/interest-profile';

export interface ProfileReaderFixture {
  reader: ProfileReader;
  /** The write side whose commits the reader must see. */
  repository: ProfileRepository;
}

const DIM = 4;
const T0 = Date.UTC(2026, 0, 1);

export function profileReaderContract(
  name: string,
  setUp: () => ProfileReaderFixture | Promise<ProfileReaderFixture>,
): void {
  describe(`${name}: ProfileReader contract`, () => {
    let fixture: ProfileReaderFixture;
    /** Ids unique to one test: the adapter's tables are shared by the whole file. */
    let prefix: string;
    const id = (name: string) => `${prefix}${name}`;

    beforeEach(async () => {
      fixture = await setUp();
      prefix = `contract-${randomBytes(4).toString('hex')}-`;
    });

    function profileOf(userId: string, likes: number): InterestProfile {
      const profile = emptyProfile(userId, DIM, T0);
      for (let i = 0; i < likes; i++) {
        const vector = Float32Array.from({ length: DIM }, (_, d) => (d === i % DIM ? 1 : 0));
        applyEvent(
          profile,
          { type: 'like', itemId: `item-${i}`, at: T0 + i, vector },
          DEFAULT_PROFILE_SETTINGS,
        );
      }
      applyEvent(profile, { type: 'hide', itemId: 'hidden', at: T0 + likes }, DEFAULT_PROFILE_SETTINGS);
      return profile;
    }

    it('has no profile for a user it has never seen', async () => {
      expect(await fixture.reader.getProfile(id('nobody'))).toBeUndefined();
    });

    it('reads the profile last committed, with its version, settings and epoch', async () => {
      const userId = id('user');
      const first: StoredProfile = { profile: profileOf(userId, 1), version: 1, settingsId: 's1', epoch: 7 };
      await fixture.repository.commit(userId, [], first, undefined, [], T0);
      expect(await fixture.reader.getProfile(userId)).toEqual(first);

      const second: StoredProfile = { profile: profileOf(userId, 3), version: 2, settingsId: 's2', epoch: 7 };
      await fixture.repository.commit(userId, [], second, { version: 1, epoch: 7 }, [], T0 + 10);
      const read = await fixture.reader.getProfile(userId);
      expect(read).toEqual(second);
      expect(read?.profile.exclusions.map((item) => item.itemId)).toEqual(['hidden']);
    });

    it('has no profile for an erased user', async () => {
      const userId = id('erased');
      const stored: StoredProfile = { profile: profileOf(userId, 2), version: 1, settingsId: 's1', epoch: 0 };
      await fixture.repository.commit(userId, [], stored, undefined, [], T0);
      await fixture.repository.deleteUser(userId, T0 + 100);
      expect(await fixture.reader.getProfile(userId)).toBeUndefined();
    });
  });
}

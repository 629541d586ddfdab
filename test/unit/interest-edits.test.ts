/**
 * Interests a shopper can see and edit (issue 23), in the fold: stable ids, the merge rule, mutes and
 * boosts in effect until they end, forgetting that a re-like does not undo, and a fold of the raw
 * events (edits included) that gives the live profile back.
 */
import {
  applyEvent,
  applyInterestEdit,
  BOOST_FACTOR,
  DEFAULT_PROFILE_SETTINGS,
  emptyProfile,
  foldEvents,
  INTEREST_ID_PATTERN,
  type InterestEdit,
  type InterestProfile,
  interestId,
  type ProfileEvent,
  type ProfileSettings,
  servingProfile,
} from '../../functions/domain/interest-profile';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);
const settings: ProfileSettings = { ...DEFAULT_PROFILE_SETTINGS, maxCentroids: 2, joinSimilarity: 0.8 };
const unit = (...values: number[]) => {
  const norm = Math.hypot(...values);
  return Float32Array.from(values.map((v) => v / norm));
};
const red = unit(1, 0.05, 0);
const crimson = unit(1, 0, 0.05);
const blue = unit(0, 1, 0.05);
const navy = unit(0.05, 1, 0);
const green = unit(0, 0, 1);

const like = (itemId: string, vector: Float32Array, hours: number): ProfileEvent => ({
  type: 'like',
  itemId,
  at: T0 + hours * HOUR,
  vector,
});
const twoTastes: ProfileEvent[] = [
  like('red-1', red, 0),
  like('blue-1', blue, 1),
  like('red-2', crimson, 2),
  like('blue-2', navy, 3),
];
const idOf = (profile: InterestProfile, itemId: string) =>
  profile.centroids.find((c) => c.itemIds.includes(itemId))?.id as string;

/** The live path: events and edits applied one by one in the order given. */
function live(steps: Array<ProfileEvent | InterestEdit>): InterestProfile {
  const profile = emptyProfile('u', 3, T0);
  for (const step of steps)
    if ('interestId' in step) applyInterestEdit(profile, step, settings);
    else applyEvent(profile, step, settings);
  return profile;
}

describe('interest ids', () => {
  it('names each interest after its opening event, the same in any arrival order', () => {
    const profile = foldEvents('u', 3, twoTastes, settings);
    expect(profile.centroids.map((c) => c.id)).toEqual([
      interestId(twoTastes[0] as ProfileEvent),
      interestId(twoTastes[1] as ProfileEvent),
    ]);
    for (const c of profile.centroids) expect(c.id).toMatch(INTEREST_ID_PATTERN);
    const shuffled = foldEvents('u', 3, [...twoTastes].reverse(), settings);
    expect(shuffled.centroids.map((c) => c.id)).toEqual(profile.centroids.map((c) => c.id));
  });

  it('keeps the older id when two interests merge, and the later end of their mutes', () => {
    // Two tastes nearer each other (cosine 0.55) than either is to a third.
    const profile = foldEvents(
      'u',
      3,
      [like('red-1', unit(1, 0.3, 0), 0), like('blue-1', unit(0.3, 1, 0), 1)],
      settings,
    );
    const [redId, blueId] = profile.centroids.map((c) => c.id as string) as [string, string];
    applyInterestEdit(
      profile,
      { interestId: blueId, action: 'mute', at: T0 + 2 * HOUR, until: T0 + 50 * HOUR },
      settings,
    );
    // A third taste: over maxCentroids 2, the closest pair merges (green is far from both).
    applyEvent(profile, like('green-1', green, 3), settings);
    applyEvent(profile, like('green-2', green, 4), settings);
    expect(profile.centroids).toHaveLength(2);
    const merged = profile.centroids.find((c) => c.itemIds.includes('blue-1'));
    expect(merged?.itemIds).toContain('red-1');
    expect(merged?.id).toBe(redId);
    expect(merged?.mutedUntil).toBe(T0 + 50 * HOUR);
    // The absorbed id names nothing any more: an edit of it changes nothing.
    const before = structuredClone(profile);
    applyInterestEdit(profile, { interestId: blueId, action: 'forget', at: T0 + 5 * HOUR }, settings);
    expect(profile).toEqual(before);
  });
});

describe('mute and boost', () => {
  it('leaves a muted interest out of retrieval until the mute ends, then brings it back', () => {
    const profile = foldEvents('u', 3, twoTastes, settings);
    const redId = idOf(profile, 'red-1');
    applyInterestEdit(
      profile,
      { interestId: redId, action: 'mute', at: T0 + 5 * HOUR, until: T0 + 29 * HOUR },
      settings,
    );
    const muted = servingProfile(profile, T0 + 6 * HOUR);
    expect(muted.centroids.map((c) => c.id)).toEqual([idOf(profile, 'blue-1')]);
    expect(muted.positives.map((p) => p.itemId).sort()).toEqual(['blue-1', 'blue-2']);
    // The stored profile still holds it: a mute is no forget.
    expect(profile.centroids).toHaveLength(2);
    const after = servingProfile(profile, T0 + 29 * HOUR);
    expect(after.centroids).toHaveLength(2);
    expect(after).toBe(profile);
  });

  it('weighs a boosted interest BOOST_FACTOR times while boosted, and reset lifts it', () => {
    const profile = foldEvents('u', 3, twoTastes, settings);
    const blueId = idOf(profile, 'blue-1');
    const mass = profile.centroids.find((c) => c.id === blueId)?.mass as number;
    applyInterestEdit(
      profile,
      { interestId: blueId, action: 'boost', at: T0 + 5 * HOUR, until: T0 + 9 * HOUR },
      settings,
    );
    const boosted = servingProfile(profile, T0 + 6 * HOUR).centroids.find((c) => c.id === blueId);
    expect(boosted?.mass).toBeCloseTo(mass * BOOST_FACTOR, 12);
    applyInterestEdit(profile, { interestId: blueId, action: 'reset', at: T0 + 7 * HOUR }, settings);
    expect(servingProfile(profile, T0 + 8 * HOUR)).toBe(profile);
  });
});

describe('forget', () => {
  it('removes the interest; its items re-liked shape nothing, new likes grow a new interest', () => {
    const profile = foldEvents('u', 3, twoTastes, settings);
    const redId = idOf(profile, 'red-1');
    applyInterestEdit(profile, { interestId: redId, action: 'forget', at: T0 + 5 * HOUR }, settings);
    expect(profile.centroids.map((c) => c.id)).toEqual([idOf(profile, 'blue-1')]);
    expect(profile.positives.map((p) => p.itemId).sort()).toEqual(['blue-1', 'blue-2']);
    expect(profile.forgotten?.map((f) => f.itemId).sort()).toEqual(['red-1', 'red-2']);

    applyEvent(profile, like('red-1', red, 6), settings);
    expect(profile.centroids).toHaveLength(1);
    const relike = like('red-3', red, 7);
    applyEvent(profile, relike, settings);
    expect(profile.centroids).toHaveLength(2);
    const grown = profile.centroids.find((c) => c.itemIds.includes('red-3'));
    expect(grown?.itemIds).toEqual(['red-3']);
    expect(grown?.id).toBe(interestId(relike));
    expect(grown?.id).not.toBe(redId);
  });

  it('a fold of the raw events, edits included, gives the live profile back', () => {
    const first = foldEvents('u', 3, twoTastes, settings);
    const redId = idOf(first, 'red-1');
    const blueId = idOf(first, 'blue-1');
    const steps: Array<ProfileEvent | InterestEdit> = [
      ...twoTastes,
      { interestId: redId, action: 'forget', at: T0 + 5 * HOUR },
      { interestId: blueId, action: 'mute', at: T0 + 6 * HOUR, until: T0 + 30 * HOUR },
      like('red-2', crimson, 7),
      like('red-4', red, 8),
      like('blue-3', blue, 9),
    ];
    const liveProfile = live(steps);
    const events = steps.filter((s): s is ProfileEvent => !('interestId' in s));
    const edits = steps.filter((s): s is InterestEdit => 'interestId' in s);
    const rebuilt = foldEvents('u', 3, [...events].reverse(), settings, [...edits].reverse());
    expect(rebuilt.centroids.map((c) => [c.id, c.itemIds, c.mutedUntil])).toEqual(
      liveProfile.centroids.map((c) => [c.id, c.itemIds, c.mutedUntil]),
    );
    expect(rebuilt.centroids.map((c) => c.id)).toContain(blueId);
    expect(rebuilt.centroids.find((c) => c.id === blueId)?.mutedUntil).toBe(T0 + 30 * HOUR);
    expect(rebuilt.centroids.some((c) => c.itemIds.includes('red-2'))).toBe(false);
    expect(rebuilt.forgotten).toEqual(liveProfile.forgotten);
  });
});

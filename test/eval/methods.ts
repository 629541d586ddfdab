import type { ProfileStore } from '../../functions/adapters/dynamodb/profile-store';
import { DEFAULT_TRACKING_POLICY, rebuildProfile } from '../../functions/app/track-events';
import {
  DEFAULT_PROFILE_SETTINGS,
  decayFactor,
  type InterestProfile,
  type ProfileSettings,
} from '../../functions/domain/interest-profile';
import {
  DEFAULT_EXPLORATION,
  DEFAULT_RANKING_SETTINGS,
  type ExplorationSettings,
  type RankingSettings,
  rankForUser,
  rankPopular,
} from '../../functions/domain/ranking';
import type { ExactIndex } from '../../functions/vector-index';
import { CUTOFF } from './metrics';
import type { SeededRandom } from './prng';

/** A profile-based variant of Lookalike: the same fold and ranking code with other settings. */
export interface Variant {
  id: string;
  name: string;
  profile: ProfileSettings;
  ranking: RankingSettings;
  /** Exploration slots for new items (the endpoint's default unless a variant says otherwise). */
  exploration: ExplorationSettings;
}

/** Exploration off: the same ranking with no slot set aside. */
export const NO_EXPLORATION: ExplorationSettings = { ...DEFAULT_EXPLORATION, share: 0 };

const DEFAULTS = {
  profile: DEFAULT_PROFILE_SETTINGS,
  ranking: DEFAULT_RANKING_SETTINGS,
  exploration: DEFAULT_EXPLORATION,
};

/** The default, recomputed offline: must give the endpoint's lists (the check in the report). */
export const OFFLINE_DEFAULT: Variant = {
  id: 'offline-default',
  name: 'Lookalike default, offline',
  ...DEFAULTS,
};

export const ABLATIONS: Variant[] = [
  {
    id: 'no-decay',
    name: 'Lookalike − time decay',
    profile: { ...DEFAULT_PROFILE_SETTINGS, halfLifeDays: Number.POSITIVE_INFINITY },
    ranking: DEFAULT_RANKING_SETTINGS,
    exploration: DEFAULT_EXPLORATION,
  },
  {
    id: 'one-centroid',
    name: 'Lookalike − several tastes (K = 1)',
    profile: { ...DEFAULT_PROFILE_SETTINGS, maxCentroids: 1 },
    ranking: DEFAULT_RANKING_SETTINGS,
    exploration: DEFAULT_EXPLORATION,
  },
  {
    id: 'no-mmr',
    name: 'Lookalike − MMR (λ = 1)',
    profile: DEFAULT_PROFILE_SETTINGS,
    ranking: { ...DEFAULT_RANKING_SETTINGS, mmrLambda: 1 },
    exploration: DEFAULT_EXPLORATION,
  },
  {
    id: 'no-co-engagement',
    name: 'Lookalike − co-engagement',
    profile: DEFAULT_PROFILE_SETTINGS,
    ranking: { ...DEFAULT_RANKING_SETTINGS, coEngagementWeight: 0 },
    exploration: DEFAULT_EXPLORATION,
  },
  {
    id: 'no-exploration',
    name: 'Lookalike − exploration',
    profile: DEFAULT_PROFILE_SETTINGS,
    ranking: DEFAULT_RANKING_SETTINGS,
    exploration: NO_EXPLORATION,
  },
];

export interface OfflineInputs {
  store: ProfileStore;
  dim: number;
  /** The settings the deployed functions run with: the Stats aggregates are in their frame. */
  served: { profile: ProfileSettings };
  /** Stored co-engagement by the user's recent items (see coEngagementFor). */
  coEngagementCache: Map<string, Map<string, number>>;
  /** Impressions per item decayed to now, as the endpoint reads them (exploration's "shown little"). */
  impressions: ReadonlyMap<string, number>;
}

/** Rebuilds a user's profile from the raw events in the Events table, as a change of settings does. */
export function rebuild(
  inputs: OfflineInputs,
  userId: string,
  settings: ProfileSettings,
): Promise<InterestProfile> {
  return rebuildProfile(
    {
      store: inputs.store,
      space: inputs.store.activeModelId,
      dim: inputs.dim,
      policy: { ...DEFAULT_TRACKING_POLICY, settings },
    },
    userId,
  );
}

/** Popularity from the Stats table, decayed to `now` exactly as the endpoint does. */
export async function decayedPopularity(inputs: OfflineInputs, now: number): Promise<Map<string, number>> {
  const factor = decayFactor(
    { anchor: DEFAULT_TRACKING_POLICY.popularityEpoch },
    now,
    inputs.served.profile.halfLifeDays,
  );
  return new Map([...(await inputs.store.popularity())].map(([itemId, weight]) => [itemId, weight * factor]));
}

/** Co-engagement towards candidates from the user's 10 most recent positive items, as recommendForUser reads it. */
export async function coEngagementFor(
  inputs: OfflineInputs,
  profile: InterestProfile,
  now: number,
): Promise<Map<string, number>> {
  const recent = profile.positives.slice(0, 10).map((p) => p.itemId);
  const key = recent.join('\n');
  // Variants share the user's recent items; the aggregates do not change while lists are computed.
  let stored = inputs.coEngagementCache.get(key);
  if (!stored) {
    stored = await inputs.store.coEngagement(recent);
    inputs.coEngagementCache.set(key, stored);
  }
  const factor = decayFactor(
    { anchor: DEFAULT_TRACKING_POLICY.popularityEpoch },
    now,
    inputs.served.profile.halfLifeDays,
  );
  return new Map([...stored].map(([itemId, w]) => [itemId, w * factor]));
}

export async function variantList(
  inputs: OfflineInputs,
  index: ExactIndex,
  profile: InterestProfile,
  variant: Variant,
): Promise<string[]> {
  const now = Date.now();
  const coEngagement =
    variant.ranking.coEngagementWeight > 0 ? await coEngagementFor(inputs, profile, now) : undefined;
  return rankForUser(
    {
      index,
      profile,
      profileSettings: variant.profile,
      settings: variant.ranking,
      now,
      coEngagement,
      exploration: { settings: variant.exploration, impressions: inputs.impressions },
    },
    { limit: CUTOFF, excludeSeen: true },
  ).map((r) => r.itemId);
}

const notIn = (excluded: ReadonlySet<string>) => (itemId: string, attributes: { available: boolean }) =>
  attributes.available && !excluded.has(itemId);

export function randomList(
  index: ExactIndex,
  interacted: ReadonlySet<string>,
  random: SeededRandom,
): string[] {
  const eligible = [...index.ids()].filter((itemId) => !interacted.has(itemId)).sort();
  return random.sample(eligible, CUTOFF);
}

export function popularList(
  index: ExactIndex,
  popularity: Map<string, number>,
  interacted: ReadonlySet<string>,
): string[] {
  return rankPopular(index, popularity, notIn(interacted), CUTOFF).map((r) => r.itemId);
}

/** The original design: the mean of the user's liked and purchased items' vectors, cosine top-N. */
export function meanVectorList(
  index: ExactIndex,
  positives: readonly string[],
  interacted: ReadonlySet<string>,
): string[] {
  const sum = new Float64Array(index.dim);
  for (const itemId of new Set(positives)) {
    const vector = index.vector(itemId);
    if (!vector) throw new Error(`no vector for ${itemId}`);
    for (let d = 0; d < sum.length; d++) sum[d] = (sum[d] as number) + (vector[d] as number);
  }
  const norm = Math.sqrt(sum.reduce((s, v) => s + v * v, 0)) || 1;
  const query = Float32Array.from(sum, (v) => v / norm);
  return index.search({ queries: [query], k: CUTOFF, accept: notIn(interacted) }).map((r) => r.itemId);
}

/**
 * The tuning sweep: each setting varied alone around the defaults, scored on the tuning run only
 * (scoring it on the report run would turn the report into a second tuning run).
 */
export function tuningSweep(): Variant[] {
  const profile = (name: string, change: Partial<ProfileSettings>): Variant => ({
    ...DEFAULTS,
    id: `sweep:${name}`,
    name,
    profile: { ...DEFAULT_PROFILE_SETTINGS, ...change },
  });
  const ranking = (name: string, change: Partial<RankingSettings>): Variant => ({
    ...DEFAULTS,
    id: `sweep:${name}`,
    name,
    ranking: { ...DEFAULT_RANKING_SETTINGS, ...change },
  });
  const exploration = (name: string, change: Partial<ExplorationSettings>): Variant => ({
    ...DEFAULTS,
    id: `sweep:${name}`,
    name,
    exploration: { ...DEFAULT_EXPLORATION, ...change },
  });
  return [
    ...[0.4, 0.7].map((v) => profile(`joinSimilarity ${v}`, { joinSimilarity: v })),
    ...[2, 8].map((v) => profile(`maxCentroids ${v}`, { maxCentroids: v })),
    ...[7, 90].map((v) => profile(`halfLifeDays ${v}`, { halfLifeDays: v })),
    ...[0.7, 0.75, 0.95].map((v) => ranking(`mmrLambda ${v}`, { mmrLambda: v })),
    ...[0, 0.3, 0.7].map((v) => ranking(`calibrationFloor ${v}`, { calibrationFloor: v })),
    ...[0, 1].map((v) => ranking(`penaltyWeight ${v}`, { penaltyWeight: v })),
    ...[0.05, 0.3].map((v) => ranking(`coEngagementWeight ${v}`, { coEngagementWeight: v })),
    ...[0, 0.2, 0.3].map((v) => exploration(`explorationShare ${v}`, { share: v })),
    ...[0.3, 0.4, 0.6, 0.8].map((v) => exploration(`exploration minRelevance ${v}`, { minRelevance: v })),
    // Both at once: two slots with a stricter floor.
    ...[0.6, 0.7].map((v) =>
      exploration(`explorationShare 0.2, minRelevance ${v}`, { share: 0.2, minRelevance: v }),
    ),
    // The floor against the item a pick displaces, not the list's best.
    ...[0.6, 0.7, 0.8, 0.825, 0.85, 0.875, 0.9].map((v) =>
      exploration(`exploration floor displaced, minRelevance ${v}`, { floor: 'displaced', minRelevance: v }),
    ),
    ...[0.8, 0.85, 0.875, 0.9].map((v) =>
      exploration(`explorationShare 0.2, floor displaced, minRelevance ${v}`, {
        share: 0.2,
        floor: 'displaced',
        minRelevance: v,
      }),
    ),
  ];
}

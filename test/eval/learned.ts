/**
 * The evaluation's learned-similarity rows (issue 18): a projection trained from the events the
 * evaluation's users sent, read back from the Events table as the deployed trainer reads them, never
 * from the labels; then the default ranking and the content-only ranking in the projected space.
 */
import type { ProfileStore } from '../../functions/adapters/dynamodb/profile-store';
import { DEFAULT_GATE_POLICY, gateProjection } from '../../functions/app/learned-similarity-gate';
import { isItemEvent } from '../../functions/app/ports';
import { refoldProfile } from '../../functions/app/refold';
import { DEFAULT_PROFILE_SETTINGS, type InterestProfile } from '../../functions/domain/interest-profile';
import {
  DEFAULT_LEARNED_SIMILARITY_KNOBS,
  type EngagementEvent,
  fitProjection,
  type LearnedProjection,
  type LearnedSimilarityKnobs,
  projectVector,
  trainingPairs,
} from '../../functions/domain/learned-similarity';
import { DEFAULT_EXPLORATION, DEFAULT_RANKING_SETTINGS } from '../../functions/domain/ranking';
import type { Variant } from './methods';
import { SeededRandom } from './prng';
import type { Catalogue, SimulatedUser } from './simulation';

export const LEARNED_DEFAULT: Variant = {
  id: 'learned',
  name: 'Lookalike + learned similarity',
  profile: DEFAULT_PROFILE_SETTINGS,
  ranking: DEFAULT_RANKING_SETTINGS,
  exploration: DEFAULT_EXPLORATION,
};

export const LEARNED_CONTENT_ONLY: Variant = {
  id: 'learned-content',
  name: 'Content only (co-engagement 0) + learned similarity',
  profile: DEFAULT_PROFILE_SETTINGS,
  ranking: { ...DEFAULT_RANKING_SETTINGS, coEngagementWeight: 0 },
  exploration: DEFAULT_EXPLORATION,
};

export const LEARNED_NOISY: Variant = {
  ...LEARNED_CONTENT_ONLY,
  id: 'learned-noisy',
  name: 'Content only + learned similarity, trained on the noisier simulation',
};

/** The trainer's knobs varied one at a time around its defaults: the tuning run's learned sweep. */
export function learnedKnobSweep(): Array<{ name: string; knobs: LearnedSimilarityKnobs }> {
  const knob = (name: string, change: Partial<LearnedSimilarityKnobs>) => ({
    name,
    knobs: { ...DEFAULT_LEARNED_SIMILARITY_KNOBS, ...change },
  });
  return [
    ...[0, 0.5].map((v) => knob(`shrinkage ${v}`, { shrinkage: v })),
    ...[50, 1000].map((v) => knob(`priorPairs ${v}`, { priorPairs: v })),
    ...[0.02, 0.3].map((v) => knob(`covarianceRidge ${v}`, { covarianceRidge: v })),
    knob('minPositiveWeight 0.25 (views are positives)', { minPositiveWeight: 0.25 }),
    knob('windowDays 3', { windowDays: 3 }),
    knob('dissimilarPerSimilar 5', { dissimilarPerSimilar: 5 }),
  ];
}

/** The Events table's rows of these users, as the trainer sees them. */
export async function eventsOf(store: ProfileStore, userIds: readonly string[]): Promise<EngagementEvent[]> {
  const events: EngagementEvent[] = [];
  for (const userId of userIds)
    for (const event of await store.allEvents(userId))
      if (isItemEvent(event))
        events.push({ userId: event.userId, itemId: event.itemId, type: event.type, at: event.at });
  return events;
}

export function trainProjection(
  baseModelId: string,
  dim: number,
  events: readonly EngagementEvent[],
  vectors: ReadonlyMap<string, Float32Array>,
  knobs: LearnedSimilarityKnobs = DEFAULT_LEARNED_SIMILARITY_KNOBS,
): { projection: LearnedProjection; pairedItems: Set<string> } {
  const projection = fitProjection({
    baseModelId,
    version: 'eval',
    dim,
    events,
    vectors,
    trainedAt: 0,
    knobs,
  });
  return { projection, pairedItems: trainingPairs(events, knobs).items };
}

export const projectAll = (projection: LearnedProjection, vectors: ReadonlyMap<string, Float32Array>) =>
  new Map([...vectors].map(([itemId, vector]) => [itemId, projectVector(projection, vector)]));

/** A user's profile folded from the Events table with the projected vectors (refold's own code). */
export async function refoldIn(
  store: ProfileStore,
  projected: ReadonlyMap<string, Float32Array>,
  dim: number,
  userId: string,
): Promise<InterestProfile> {
  const { profile } = await refoldProfile(
    {
      history: store,
      catalogue: {
        getItems: async (itemIds) =>
          new Map(
            itemIds.flatMap((itemId) => {
              const vector = projected.get(itemId);
              return vector ? [[itemId, { itemId, status: 'ready', available: true, vector }] as const] : [];
            }),
          ),
      },
    },
    userId,
    { epoch: 0, dim, settings: DEFAULT_PROFILE_SETTINGS },
  );
  return profile;
}

/** Share of each item's 5 nearest neighbours (cosine, among all items) of the same subcategory. */
export function itemToItemPrecision(
  vectors: ReadonlyMap<string, Float32Array>,
  subcategoryOf: (itemId: string) => string | undefined,
  itemIds: readonly string[],
  k = 5,
): number {
  const unit = new Map<string, Float32Array>();
  for (const [itemId, v] of vectors) {
    const norm = Math.hypot(...v) || 1;
    unit.set(
      itemId,
      Float32Array.from(v, (x) => x / norm),
    );
  }
  let total = 0;
  for (const itemId of itemIds) {
    const q = unit.get(itemId) as Float32Array;
    const neighbours = [...unit]
      .filter(([other]) => other !== itemId)
      .map(([other, v]) => {
        let sim = 0;
        for (let d = 0; d < v.length; d++) sim += (v[d] as number) * (q[d] as number);
        return { other, sim };
      })
      .sort((a, b) => b.sim - a.sim || (a.other < b.other ? -1 : 1))
      .slice(0, k);
    total += neighbours.filter((n) => subcategoryOf(n.other) === subcategoryOf(itemId)).length / k;
  }
  return itemIds.length > 0 ? total / itemIds.length : 0;
}

/** Share of each user's positives moved outside the user's tastes in the noisier simulation. */
export const NOISY_OFF_TASTE_SHARE = 0.3;

/**
 * The same users with 30 % of each one's liked and purchased items swapped for items of other
 * subcategories (seeded, a stream of its own): shoppers whose engagement is not all one taste.
 */
export function noisierUsers(
  catalogue: Catalogue,
  users: readonly SimulatedUser[],
  seed: number,
): SimulatedUser[] {
  const random = new SeededRandom(seed, 7);
  const subcategoryOf = new Map(catalogue.warm.map((image) => [image.itemId, image.subcategory]));
  return users.map((user) => {
    const positives = user.events
      .map((e, i) => [e, i] as const)
      .filter(([e]) => e.type === 'like' || e.type === 'purchase');
    const moved = new Set(
      random.sample(positives, Math.round(positives.length * NOISY_OFF_TASTE_SHARE)).map(([, i]) => i),
    );
    const outside = catalogue.warm
      .filter((image) => !user.tastes.includes(image.subcategory))
      .map((image) => image.itemId);
    const userId = `noisy-${user.userId}`;
    const used = new Set(user.events.map((e) => e.itemId));
    return {
      ...user,
      userId,
      events: user.events.map((event, i) => {
        let itemId = event.itemId;
        if (moved.has(i)) {
          do itemId = random.pick(outside);
          while (used.has(itemId));
          used.add(itemId);
        }
        if (!subcategoryOf.has(itemId)) throw new Error(`${itemId} is not in the catalogue`);
        return { ...event, itemId, eventId: `noisy-${event.eventId}` };
      }),
    };
  });
}

export interface GateRun {
  /** Users whose events the gate read (n drawn with the seed; each sample holds the smaller ones). */
  users: number;
  evaluatedUsers: number;
  similarPairs: number;
  decision: 'promote' | 'refuse';
  recall?: { mean: number; standardError: number };
  ndcg?: { mean: number; standardError: number };
  reasons: string[];
}

/**
 * The promotion gate on n users' events (Events table) and the base vectors, with its data
 * minimum off, for growing n: where its decision becomes reliable on this catalogue.
 */
export async function gateByUsers(
  store: ProfileStore,
  base: { modelId: string; dim: number; vectors: ReadonlyMap<string, Float32Array> },
  userIds: readonly string[],
  counts: readonly number[],
  now: number,
  seed: number,
): Promise<GateRun[]> {
  const runs: GateRun[] = [];
  const all = await eventsOf(store, userIds);
  // Nested samples in a seeded order: the simulation lists its one-taste users first.
  const order = new SeededRandom(seed, 8).shuffle(userIds);
  for (const count of counts.filter((n) => n <= userIds.length)) {
    const chosen = new Set(order.slice(0, count));
    const report = await gateProjection(
      {
        events: { currentEvents: async () => all.filter((e) => chosen.has(e.userId)) },
        base: { modelId: base.modelId, dim: base.dim, vectors: async () => base.vectors },
        now: () => now,
      },
      { policy: { ...DEFAULT_GATE_POLICY, minEvaluatedUsers: 0, minSimilarPairs: 0 } },
    );
    const margin = (m: { mean: number; standardError: number } | undefined) =>
      m ? { mean: m.mean, standardError: m.standardError } : undefined;
    runs.push({
      users: count,
      evaluatedUsers: report.data.evaluatedUsers,
      similarPairs: report.data.similarPairs,
      decision: report.decision,
      ...(report.figures
        ? { recall: margin(report.figures.margins.recall), ndcg: margin(report.figures.margins.ndcg) }
        : {}),
      reasons: [...report.reasons.map((r) => r.message), ...report.notes],
    });
  }
  return runs;
}

export interface ItemToItem {
  items: number;
  before: number;
  after: number;
}

export interface LearnedSimilarityFigures {
  knobs: LearnedSimilarityKnobs;
  data: LearnedProjection['data'];
  /** Item-to-item precision@5 on items in no training pair (warm and cold), base vs projected. */
  itemToItem: ItemToItem;
  /** The projection trained on the noisier simulation's events, its items in no training pair. */
  noisy: { offTasteShare: number; data: LearnedProjection['data']; itemToItem: ItemToItem };
  /** The promotion gate on growing numbers of this run's users (data minimum off). */
  gate: GateRun[];
}

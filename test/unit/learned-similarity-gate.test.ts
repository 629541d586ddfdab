import {
  DEFAULT_GATE_POLICY,
  type GateDeps,
  type GatePolicy,
  gateProjection,
  kissmeTrainer,
  type Trainer,
} from '../../functions/app/learned-similarity-gate';
import type { EngagementEvent } from '../../functions/domain/learned-similarity';
import { type PlantedOptions, plantedWorld } from '../support/planted-metric';
import { seededUniform } from '../support/seeded-random';

const deps = (world: ReturnType<typeof plantedWorld>): GateDeps => ({
  events: { currentEvents: async () => world.events },
  base: { modelId: 'base-model', dim: world.dim, vectors: async () => world.vectors },
  now: () => Date.UTC(2026, 0, 20),
});

/** The planted world is small: the gate's data minimum is scaled to it, the rest is the default. */
const policy: GatePolicy = { ...DEFAULT_GATE_POLICY, minEvaluatedUsers: 60, minSimilarPairs: 400 };
const world = (options: Partial<PlantedOptions> & { seed: number }) =>
  plantedWorld({ users: 200, classes: 10, itemsPerClass: 30, positivesPerUser: 8, ...options });

/** The KISSME trainer fed pairs that mean nothing: every event's item swapped by a seeded permutation. */
const shuffledTrainer =
  (seed: number): Trainer =>
  (input) => {
    const items = [...new Set(input.events.map((e) => e.itemId))].sort();
    const uniform = seededUniform(seed);
    const permuted = [...items];
    for (let i = permuted.length - 1; i > 0; i--) {
      const j = Math.floor(uniform() * (i + 1));
      [permuted[i], permuted[j]] = [permuted[j] as string, permuted[i] as string];
    }
    const to = new Map(items.map((id, i) => [id, permuted[i] as string]));
    const events: EngagementEvent[] = input.events.map((e) => ({ ...e, itemId: to.get(e.itemId) as string }));
    return kissmeTrainer()({ ...input, events });
  };

describe('promotion gate of a learned projection', () => {
  it('promotes a projection that learned the planted metric, with the figures and data sizes', async () => {
    const report = await gateProjection(deps(world({ seed: 11 })), { policy });
    expect(report.reasons).toEqual([]);
    expect(report.decision).toBe('promote');
    const { base, projected, margins } = report.figures as NonNullable<typeof report.figures>;
    expect(projected.recall).toBeGreaterThan(base.recall);
    expect(margins.recall.mean).toBeGreaterThan(2 * margins.recall.standardError);
    expect(margins.ndcg.mean).toBeGreaterThan(2 * margins.ndcg.standardError);
    expect(report.data).toMatchObject({ users: 200, evaluatedUsers: 200, heldOutItems: 400 });
    expect(report.candidate?.baseModelId).toBe('base-model');
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it.each(Array.from({ length: 10 }, (_, i) => i + 1))(
    'refuses a projection trained on shuffled pairs (seed %i)',
    async (seed) => {
      const report = await gateProjection(deps(world({ seed: 100 + seed })), {
        policy,
        trainer: shuffledTrainer(seed),
      });
      expect(report.decision).toBe('refuse');
      expect(report.reasons.map((r) => r.code)).toContain('no_significant_gain');
    },
  );

  it('refuses below the data minimum without training, and says why', async () => {
    let trained = false;
    const report = await gateProjection(deps(world({ seed: 12, users: 30 })), {
      trainer: (input) => {
        trained = true;
        return kissmeTrainer()(input);
      },
    });
    expect(trained).toBe(false);
    expect(report.decision).toBe('refuse');
    expect(report.reasons).toEqual([
      {
        code: 'too_little_data',
        message: expect.stringMatching(/30 users with 4\+ positives \(minimum 60\).*co-engaged pairs/),
      },
    ]);
    expect(report.figures).toBeUndefined();
    expect(report.candidate).toBeUndefined();
  });

  it('holds out only each user’s newest positives: training events all come before them', async () => {
    const planted = world({ seed: 13 });
    let trainingEvents: readonly EngagementEvent[] = [];
    await gateProjection(deps(planted), {
      policy,
      trainer: (input) => {
        trainingEvents = input.events;
        return kissmeTrainer()(input);
      },
    });
    const newest = new Map<string, number>();
    for (const e of planted.events)
      if (e.type !== 'dislike') newest.set(e.userId, Math.max(newest.get(e.userId) ?? 0, e.at));
    expect(trainingEvents.length).toBe(planted.events.length - 2 * 200);
    for (const e of trainingEvents) expect(e.at).toBeLessThan(newest.get(e.userId) as number);
  });
});

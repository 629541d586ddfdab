import { DEFAULT_GATE_POLICY, type GatePolicy } from '../../functions/app/learned-similarity-gate';
import { RolloutRefused } from '../../functions/app/rollout';
import {
  type ProjectionPromotion,
  type TrainingRecord,
  trainSimilarity,
} from '../../functions/app/train-similarity';
import type { LearnedProjection } from '../../functions/domain/learned-similarity';
import { plantedWorld } from '../support/planted-metric';

const NOW = Date.UTC(2026, 0, 20);
const DAY = 86_400_000;
const policy: GatePolicy = { ...DEFAULT_GATE_POLICY, minEvaluatedUsers: 60, minSimilarPairs: 400 };

function setup(options: { users?: number; lastAutomatic?: number } = {}) {
  const world = plantedWorld({
    users: options.users ?? 200,
    classes: 10,
    itemsPerClass: 30,
    positivesPerUser: 8,
    seed: 11,
  });
  const written: TrainingRecord[] = [];
  const promoted: Array<{ projection: LearnedProjection; trigger: string }> = [];
  const promotion: ProjectionPromotion = {
    lastAutomaticPromotionAt: async () => options.lastAutomatic,
    promote: async (projection, { trigger }) => {
      promoted.push({ projection, trigger });
      return { space: `base-model~${projection.version}` };
    },
  };
  const deps = {
    events: { currentEvents: async () => world.events },
    base: { modelId: 'base-model', dim: world.dim, vectors: async () => world.vectors },
    now: () => NOW,
    reports: {
      write: async (record: TrainingRecord) => {
        written.push(JSON.parse(JSON.stringify(record)));
        return `index/learned/reports/${written.length}.json`;
      },
    },
    promotion,
  };
  return { deps, written, promoted };
}

describe('a training run', () => {
  it('promotes what the gate passes, stores the record without the matrix, and says what it did', async () => {
    const { deps, written, promoted } = setup();
    const record = await trainSimilarity(deps, { trigger: 'schedule', policy });

    expect(record.outcome).toBe('promoted');
    expect(promoted).toHaveLength(1);
    expect(promoted[0]?.trigger).toBe('schedule');
    expect(record.space).toBe(`base-model~${promoted[0]?.projection.version}`);
    expect(record.summary).toMatch(/^promoted base-model~\S+: Recall@10 \+0\.\d{3} ± 0\.\d{3}, NDCG@10 \+/);
    expect(record.reportKey).toBe('index/learned/reports/1.json');
    expect(written).toHaveLength(1);
    expect(written[0]?.gate.candidate).toMatchObject({ baseModelId: 'base-model', dim: 32 });
    expect(JSON.stringify(written[0])).not.toContain('"matrix"');
    // No user id goes into the record.
    expect(JSON.stringify(written[0])).not.toMatch(/user-\d/);
  });

  it('holds a scheduled promotion within 7 days of the last automatic one; a manual run promotes', async () => {
    const held = setup({ lastAutomatic: NOW - 3 * DAY });
    const record = await trainSimilarity(held.deps, { trigger: 'schedule', policy });
    expect(record.outcome).toBe('held');
    expect(record.summary).toMatch(/promoted 3\.0 days ago \(at most one automatic promotion per 7 days/);
    expect(held.promoted).toEqual([]);
    expect(held.written).toHaveLength(1);

    const manual = setup({ lastAutomatic: NOW - 3 * DAY });
    expect((await trainSimilarity(manual.deps, { trigger: 'manual', policy })).outcome).toBe('promoted');

    const later = setup({ lastAutomatic: NOW - 8 * DAY });
    expect((await trainSimilarity(later.deps, { trigger: 'schedule', policy })).outcome).toBe('promoted');
  });

  it('records a refused promotion (the dynamodb-vector backend, a concurrent one) as its outcome', async () => {
    const { deps, written } = setup();
    deps.promotion.promote = async () => {
      throw new RolloutRefused('vector_index_space', 'the DynamoDB vector index serves base-model');
    };
    const record = await trainSimilarity(deps, { trigger: 'manual', policy });
    expect(record.outcome).toBe('refused');
    expect(record.summary).toBe(
      'the gate passed, but the promotion was refused (vector_index_space): the DynamoDB vector index serves base-model',
    );
    expect(written).toHaveLength(1);
    deps.promotion.promote = async () => {
      throw new Error('throttled');
    };
    await expect(trainSimilarity(deps, { trigger: 'manual', policy })).rejects.toThrow('throttled');
  });

  it('with too little data promotes nothing and records why', async () => {
    const { deps, written, promoted } = setup({ users: 30 });
    const record = await trainSimilarity(deps, { trigger: 'manual' });
    expect(record.outcome).toBe('refused');
    expect(record.summary).toMatch(/^not promoted: too little data to train and judge: 30 users/);
    expect(record.gate.reasons.map((r) => r.code)).toEqual(['too_little_data']);
    expect(promoted).toEqual([]);
    expect(written).toHaveLength(1);
  });
});

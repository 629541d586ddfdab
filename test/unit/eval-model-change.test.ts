import type { MethodResult } from '../eval/evaluate';
import { METRICS, pairedDifference, type Scores } from '../eval/metrics';
import {
  type ComparedResult,
  compareModels,
  IncomparableRuns,
  type ModelRun,
  modelChangeSection,
} from '../eval/model-change';
import { buildCatalogue, PRESETS, simulateUsers, simulationDigest } from '../eval/simulation';

const scoresOf = (recall: number[], ndcg: number[], precision: number[]): Scores => {
  const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;
  const scores = Object.fromEntries(METRICS.map((m) => [m.id, 0])) as Scores;
  return { ...scores, recall: mean(recall), ndcg: mean(ndcg), precision: mean(precision) };
};

/** A run whose Lookalike default scored these per-user values (a baseline beside it, which is ignored). */
function run(
  modelId: string,
  perUser: { recall: number[]; ndcg: number[]; precision?: number[] },
  overrides: Partial<ComparedResult> = {},
): ModelRun {
  const precision = perUser.precision ?? perUser.recall.map(() => 0.5);
  const lookalike: MethodResult = {
    id: 'lookalike',
    name: 'Lookalike default (endpoint)',
    kind: 'lookalike',
    scores: scoresOf(perUser.recall, perUser.ndcg, precision),
    perUser: {
      recall: perUser.recall,
      ndcg: perUser.ndcg,
      precision,
      coldHit: perUser.recall.map(() => 0),
      recallAfterUpload: perUser.recall,
    },
  };
  const random: MethodResult = {
    ...lookalike,
    id: 'random',
    name: 'Random',
    kind: 'baseline',
    perUser: { recall: [1, 1], ndcg: [1, 1], precision: [1, 1], coldHit: [1, 1], recallAfterUpload: [1, 1] },
  };
  return {
    modelDir: `models/${modelId}`,
    result: {
      emojiPackage: 'twitter',
      seed: 2,
      preset: 'ci',
      modelId,
      simulationDigest: '0123456789abcdef',
      methods: [random, lookalike],
      timings: { total: 1 },
      ...overrides,
    },
  };
}

describe('model comparison of the evaluation', () => {
  it('reports new − previous for Lookalike’s default with the paired standard error of the margins', () => {
    const current = run('new', { recall: [1, 0.5, 0], ndcg: [0.9, 0.4, 0.3] });
    const previous = run('old', { recall: [0.5, 0.5, 0.5], ndcg: [0.5, 0.5, 0.5] });

    const comparison = compareModels(current, previous);

    const recall = comparison.differences.find((d) => d.metric === 'recall');
    expect(recall?.mean).toBeCloseTo(0, 12);
    expect(recall?.standardError).toBeCloseTo(Math.sqrt(0.25 / 3), 12);
    const ndcg = comparison.differences.find((d) => d.metric === 'ndcg');
    expect(ndcg).toEqual({ metric: 'ndcg', ...pairedDifference([0.9, 0.4, 0.3], [0.5, 0.5, 0.5]) });
    expect(ndcg?.mean).toBeCloseTo(0.1 / 3, 12);
  });

  // Two users with differences m ± a: mean m, paired standard error a.
  const withDifference = (metric: 'recall' | 'ndcg' | 'precision', mean: number, spread: number) => {
    const base = [0.5, 0.5];
    const moved = [0.5 + mean + spread, 0.5 + mean - spread];
    const values = { recall: base, ndcg: base, precision: base };
    return compareModels(
      run('new', { ...values, [metric]: moved }),
      run('old', { recall: base, ndcg: base, precision: base }),
    );
  };

  it('accepts a new model down to 2 paired standard errors below the previous one', () => {
    expect(withDifference('recall', -0.19, 0.1).holds).toBe(true);
    expect(withDifference('ndcg', -0.19, 0.1).holds).toBe(true);
    expect(withDifference('recall', 0.3, 0.1).holds).toBe(true);
  });

  it('rejects a new model more than 2 paired standard errors below on Recall@10 or NDCG@10', () => {
    const recall = withDifference('recall', -0.21, 0.1);
    expect(recall.holds).toBe(false);
    expect(recall.failures).toEqual([expect.stringContaining('Recall@10 −0.210 < −2 × 0.100')]);
    const ndcg = withDifference('ndcg', -0.21, 0.1);
    expect(ndcg.holds).toBe(false);
    expect(ndcg.failures).toEqual([expect.stringContaining('NDCG@10')]);
  });

  it('reports taste precision but does not judge the change on it', () => {
    const comparison = withDifference('precision', -0.3, 0.01);
    expect(comparison.differences.find((d) => d.metric === 'precision')?.mean).toBeCloseTo(-0.3, 12);
    expect(comparison.holds).toBe(true);
  });

  it('refuses to pair runs that did not simulate the same users', () => {
    const values = { recall: [0.5, 0.5], ndcg: [0.5, 0.5] };
    expect(() =>
      compareModels(run('new', values), run('old', values, { simulationDigest: 'fedcba9876543210' })),
    ).toThrow(IncomparableRuns);
    expect(() => compareModels(run('new', values), run('old', values, { seed: 1 }))).toThrow(
      IncomparableRuns,
    );
    expect(() => compareModels(run('new', values), run('old', { recall: [0.5], ndcg: [0.5] }))).toThrow(
      /different number of users/,
    );
  });

  it('writes both model ids, their figures and the verdict into the section', () => {
    const section = modelChangeSection(
      compareModels(
        run('mobilenet-v2.x-1', { recall: [0.6, 0.4], ndcg: [0.5, 0.3] }),
        run('inception-v3.y-2', { recall: [0.5, 0.5], ndcg: [0.4, 0.4] }),
      ),
      'Report run: emoji-datasource-twitter, seed 2, ci preset',
    );
    expect(section).toMatch(/^## Model change/);
    expect(section).toMatch(/new: `mobilenet-v2\.x-1` +\| +0\.500 \| +0\.400 \|/);
    expect(section).toMatch(/previous: `inception-v3\.y-2` +\| +0\.500 \| +0\.400 \|/);
    expect(section).toMatch(/\| new − previous \| +\+0\.000 ± 0\.100 \| +\+0\.000 ± 0\.100 \|/);
    expect(section).toContain('the change is accepted');
  });
});

describe('the simulation the comparison pairs over', () => {
  it('is a function of the package and the seed (no model input): same seed, same digest', () => {
    const digestOf = (seed: number) => {
      const catalogue = buildCatalogue('twitter', PRESETS.ci, seed);
      return simulationDigest(catalogue, simulateUsers(catalogue, PRESETS.ci.users, seed));
    };
    expect(digestOf(2)).toBe(digestOf(2));
    expect(digestOf(2)).not.toBe(digestOf(3));
  });
});

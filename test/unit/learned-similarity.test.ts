import {
  DEFAULT_LEARNED_SIMILARITY_KNOBS,
  fitProjection,
  identityProjection,
  LearnedSimilarityError,
  projectVector,
  trainingPairs,
} from '../../functions/domain/learned-similarity';
import { symmetricEigen } from '../../functions/domain/symmetric-eigen';
import { neighbourPrecision, plantedWorld } from '../support/planted-metric';

const train = (world: ReturnType<typeof plantedWorld>, knobs = DEFAULT_LEARNED_SIMILARITY_KNOBS) =>
  fitProjection({
    baseModelId: 'base-model',
    version: 'v1',
    dim: world.dim,
    events: world.events,
    vectors: world.vectors,
    trainedAt: Date.UTC(2026, 1, 1),
    knobs,
  });

describe('learned similarity trainer (KISSME toward the identity)', () => {
  it('is the identity without events, and with full shrinkage', () => {
    const world = plantedWorld({ seed: 1 });
    const empty = train({ ...world, events: [] });
    expect(empty.matrix).toEqual(identityProjection(world.dim));
    expect(empty.data).toMatchObject({ events: 0, users: 0, similarPairs: 0, metricShare: 0 });
    const shrunk = train(world, { ...DEFAULT_LEARNED_SIMILARITY_KNOBS, shrinkage: 1 });
    expect(shrunk.data.similarPairs).toBeGreaterThan(0);
    expect(shrunk.matrix).toEqual(identityProjection(world.dim));
  });

  it('moves further from the identity as pairs accumulate (priorPairs)', () => {
    const distance = (m: number[]) =>
      Math.sqrt(m.reduce((s, x, i) => s + (x - (identityProjection(32)[i] as number)) ** 2, 0));
    const few = train(plantedWorld({ seed: 2, users: 10 }));
    const many = train(plantedWorld({ seed: 2, users: 200 }));
    expect(few.data.metricShare).toBeLessThan(many.data.metricShare);
    expect(distance(few.matrix)).toBeLessThan(distance(many.matrix));
  });

  it('is deterministic: same events and seed, same bits', () => {
    const world = plantedWorld({ seed: 3 });
    expect(JSON.stringify(train(world))).toBe(JSON.stringify(train(world)));
    const reseeded = train(world, { ...DEFAULT_LEARNED_SIMILARITY_KNOBS, seed: 2 });
    expect(reseeded.matrix).not.toEqual(train(world).matrix);
  });

  it('keeps user ids and item ids out of the artefact, which round-trips through JSON', () => {
    const world = plantedWorld({ seed: 4 });
    const artefact = train(world);
    const json = JSON.stringify(artefact);
    expect(json).not.toMatch(/user-\d/);
    expect(json).not.toMatch(/c\d+-i\d/);
    expect(JSON.parse(json)).toEqual(artefact);
    expect(artefact).toMatchObject({
      baseModelId: 'base-model',
      version: 'v1',
      dim: 32,
      trainedAt: '2026-02-01T00:00:00.000Z',
    });
    expect(artefact.data.users).toBe(120);
  });

  it('recovers a planted metric: nearest-neighbour precision@5 rises on items in no training pair', () => {
    const world = plantedWorld({ seed: 5, users: 150 });
    const pairs = trainingPairs(world.events, DEFAULT_LEARNED_SIMILARITY_KNOBS);
    const unseen = [...world.vectors.keys()].filter((itemId) => !pairs.items.has(itemId));
    expect(unseen.length).toBeGreaterThan(20);
    const projection = train(world);
    const projected = new Map([...world.vectors].map(([id, v]) => [id, projectVector(projection, v)]));
    const before = neighbourPrecision(world.vectors, world.classOf, unseen);
    const after = neighbourPrecision(projected, world.classOf, unseen);
    expect(before).toBeLessThan(0.5);
    expect(after).toBeGreaterThan(before + 0.2);
  });

  it('pairs positives within the window only, and dislikes as negatives', () => {
    const day = 86_400_000;
    const events = [
      { userId: 'u', itemId: 'a', type: 'like' as const, at: 0 },
      { userId: 'u', itemId: 'b', type: 'purchase' as const, at: day },
      { userId: 'u', itemId: 'c', type: 'like' as const, at: 60 * day },
      { userId: 'u', itemId: 'v', type: 'view' as const, at: day },
      { userId: 'u', itemId: 'x', type: 'dislike' as const, at: 2 * day },
      { userId: 'w', itemId: 'a', type: 'like' as const, at: 0 },
    ];
    const pairs = trainingPairs(events, { ...DEFAULT_LEARNED_SIMILARITY_KNOBS, windowDays: 30 });
    expect(pairs.similar).toEqual([['a', 'b']]);
    expect(pairs.negative).toEqual([
      ['a', 'x'],
      ['b', 'x'],
    ]);
    expect(pairs.users).toBe(2);
  });

  it('projects to unit vectors and refuses bad input with typed errors', () => {
    const world = plantedWorld({ seed: 6 });
    const projection = train(world);
    const v = projectVector(projection, world.vectors.get('c0-i000') as Float32Array);
    expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    expect(() => projectVector(projection, new Float32Array(3))).toThrow(LearnedSimilarityError);
    expect(() => train(world, { ...DEFAULT_LEARNED_SIMILARITY_KNOBS, shrinkage: 2 })).toThrow(
      expect.objectContaining({ code: 'invalid_knobs' }),
    );
    expect(() => train({ ...world, vectors: new Map([['c0-i000', new Float32Array(5)]]) })).toThrow(
      expect.objectContaining({ code: 'dimension_mismatch' }),
    );
  });

  it('decomposes a symmetric matrix exactly (the shared Householder + QL solver): A v = λ v', () => {
    const n = 12;
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = i; j < n; j++) {
        const x = Math.sin(i * 7 + j * 3) + (i === j ? 3 : 0);
        a[i * n + j] = x;
        a[j * n + i] = x;
      }
    const { values, vectors } = symmetricEigen(a, n);
    for (let k = 0; k < n; k++) {
      for (let r = 0; r < n; r++) {
        let av = 0;
        for (let c = 0; c < n; c++) av += (a[r * n + c] as number) * (vectors[k * n + c] as number);
        expect(av).toBeCloseTo((values[k] as number) * (vectors[k * n + r] as number), 9);
      }
    }
  });
});

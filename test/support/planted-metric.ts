/**
 * Synthetic shoppers over items whose class (the taste) lives in a few low-variance dimensions,
 * drowned by high-variance noise dimensions: cosine in the raw space mostly sees the noise, a metric
 * learned from co-engagement can find the class. For the trainer's and the gate's unit tests.
 */
import type { EngagementEvent } from '../../functions/domain/learned-similarity';
import { gaussian, seededUniform } from './seeded-random';

export interface PlantedWorld {
  dim: number;
  classOf: Map<string, number>;
  vectors: Map<string, Float32Array>;
  events: EngagementEvent[];
}

export interface PlantedOptions {
  seed: number;
  dim?: number;
  classes?: number;
  itemsPerClass?: number;
  users?: number;
  positivesPerUser?: number;
  /** Dimensions that carry the class; the rest are noise. */
  signalDims?: number;
  noiseScale?: number;
  /** Users engage only with the first this-many items of a class; the rest are never in a pair. */
  engagedPerClass?: number;
}

const DAY_MS = 86_400_000;

export function plantedWorld(options: PlantedOptions): PlantedWorld {
  const {
    seed,
    dim = 32,
    classes = 8,
    itemsPerClass = 30,
    users = 120,
    positivesPerUser = 8,
    signalDims = 4,
    noiseScale = 1.6,
    engagedPerClass = 20,
  } = options;
  const uniform = seededUniform(seed);
  const centres = Array.from({ length: classes }, () =>
    Array.from({ length: signalDims }, () => gaussian(uniform)),
  );
  const classOf = new Map<string, number>();
  const vectors = new Map<string, Float32Array>();
  const itemsOf: string[][] = Array.from({ length: classes }, () => []);
  for (let c = 0; c < classes; c++) {
    for (let i = 0; i < itemsPerClass; i++) {
      const itemId = `c${c}-i${String(i).padStart(3, '0')}`;
      const vector = new Float32Array(dim);
      for (let d = 0; d < dim; d++)
        vector[d] =
          d < signalDims
            ? ((centres[c] as number[])[d] as number) + 0.3 * gaussian(uniform)
            : noiseScale * gaussian(uniform);
      classOf.set(itemId, c);
      vectors.set(itemId, vector);
      (itemsOf[c] as string[]).push(itemId);
    }
  }
  const events: EngagementEvent[] = [];
  const start = Date.UTC(2026, 0, 1);
  for (let u = 0; u < users; u++) {
    const userId = `user-${u}`;
    const taste = Math.floor(uniform() * classes);
    const pool = (itemsOf[taste] as string[]).slice(0, engagedPerClass);
    for (let p = 0; p < positivesPerUser && pool.length > 0; p++) {
      const [itemId] = pool.splice(Math.floor(uniform() * pool.length), 1) as [string];
      events.push({
        userId,
        itemId,
        type: p % 3 === 0 ? 'purchase' : 'like',
        at: start + (p + 1) * DAY_MS + u,
      });
    }
    const other = (taste + 1 + Math.floor(uniform() * (classes - 1))) % classes;
    const disliked = (itemsOf[other] as string[])[Math.floor(uniform() * engagedPerClass)] as string;
    events.push({ userId, itemId: disliked, type: 'dislike', at: start + DAY_MS / 2 + u });
  }
  return { dim, classOf, vectors, events };
}

/** Share of each item's `k` nearest neighbours (cosine) of the same class, averaged over `itemIds`. */
export function neighbourPrecision(
  vectors: ReadonlyMap<string, ArrayLike<number>>,
  classOf: ReadonlyMap<string, number>,
  itemIds: readonly string[],
  k = 5,
): number {
  const unit = new Map<string, number[]>();
  for (const [itemId, v] of vectors) {
    const norm = Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0)) || 1;
    unit.set(
      itemId,
      Array.from(v, (x) => x / norm),
    );
  }
  let total = 0;
  for (const itemId of itemIds) {
    const q = unit.get(itemId) as number[];
    const neighbours = [...unit]
      .filter(([other]) => other !== itemId)
      .map(([other, v]) => ({ other, sim: v.reduce((s, x, d) => s + x * (q[d] as number), 0) }))
      .sort((a, b) => b.sim - a.sim)
      .slice(0, k);
    total += neighbours.filter((n) => classOf.get(n.other) === classOf.get(itemId)).length / k;
  }
  return total / itemIds.length;
}

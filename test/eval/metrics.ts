import { cosine } from '../../functions/domain/interest-profile';

export const CUTOFF = 10;

export const METRICS = [
  {
    id: 'recall',
    label: 'Recall@10',
    short: 'Recall',
    help: 'held-out items of the user in the top 10 / held-out items (3 per taste)',
  },
  {
    id: 'ndcg',
    label: 'NDCG@10',
    short: 'NDCG',
    help: 'binary relevance of the held-out items, log2 discount, ideal = all held-out first',
  },
  {
    id: 'hitRate',
    label: 'HitRate@10',
    short: 'HitRate',
    help: 'share of users with at least one held-out item in the top 10',
  },
  {
    id: 'precision',
    label: 'Taste precision@10',
    short: 'Precision',
    help: "share of the top 10 inside the user's taste subcategories",
  },
  {
    id: 'bothTastes',
    label: 'Both tastes',
    short: 'Both tastes',
    help: 'share of two-taste users whose top 10 has items of both tastes',
  },
  {
    id: 'coverage',
    label: 'Coverage',
    short: 'Coverage',
    help: 'distinct items recommended to anyone / items in the catalogue',
  },
  {
    id: 'diversity',
    label: 'Diversity (ILD)',
    short: 'ILD',
    help: '1 − mean pairwise cosine of the 10 items, averaged over users',
  },
  {
    id: 'coldHitRate',
    label: 'Cold-item hit rate',
    short: 'Cold hit',
    help: "after the cold upload: share of users whose new top 10 has a cold item of one of the user's tastes",
  },
  {
    id: 'recallAfterUpload',
    label: 'Known-item recall after upload',
    short: 'Recall after',
    help: 'Recall@10 of the held-out (known) items in the lists after the cold upload, where new items compete for slots',
  },
] as const;
export type MetricId = (typeof METRICS)[number]['id'];
export type Scores = Record<MetricId, number>;

export interface UserTruth {
  userId: string;
  tastes: string[];
  heldOut: string[];
}

export interface ScoringContext {
  users: UserTruth[];
  subcategoryOf: (itemId: string) => string | undefined;
  vectorOf: (itemId: string) => Float32Array | undefined;
  catalogueSize: number;
  coldIds: ReadonlySet<string>;
}

const mean = (values: number[]) =>
  values.length === 0 ? 0 : values.reduce((s, v) => s + v, 0) / values.length;

export function ndcgAt(list: readonly string[], relevant: ReadonlySet<string>, cutoff = CUTOFF): number {
  let dcg = 0;
  list.slice(0, cutoff).forEach((itemId, i) => {
    if (relevant.has(itemId)) dcg += 1 / Math.log2(i + 2);
  });
  let ideal = 0;
  for (let i = 0; i < Math.min(relevant.size, cutoff); i++) ideal += 1 / Math.log2(i + 2);
  return ideal === 0 ? 0 : dcg / ideal;
}

export function intraListDiversity(vectors: readonly Float32Array[]): number {
  const similarities: number[] = [];
  for (let i = 0; i < vectors.length; i++) {
    for (let j = i + 1; j < vectors.length; j++)
      similarities.push(cosine(vectors[i] as Float32Array, vectors[j] as Float32Array));
  }
  return similarities.length === 0 ? 0 : 1 - mean(similarities);
}

/**
 * Scores one method: `warm` are its lists on the catalogue without the cold items, `cold` its lists
 * after the cold items were added (only the cold-item hit rate reads those).
 */
/** Per-user values of the metrics that are means over all users, in the order of `context.users`. */
export type PerUser = Record<'recall' | 'ndcg' | 'precision' | 'coldHit' | 'recallAfterUpload', number[]>;

/** Mean of a - b over paired users, with its standard error (the spread of the per-user differences). */
export function pairedDifference(
  a: readonly number[],
  b: readonly number[],
): { mean: number; standardError: number } {
  const differences = a.map((value, i) => value - (b[i] as number));
  const average = mean(differences);
  const variance =
    differences.reduce((s, d) => s + (d - average) ** 2, 0) / Math.max(1, differences.length - 1);
  return { mean: average, standardError: Math.sqrt(variance / Math.max(1, differences.length)) };
}

export function scoreLists(
  context: ScoringContext,
  warm: ReadonlyMap<string, readonly string[]>,
  cold: ReadonlyMap<string, readonly string[]>,
): { scores: Scores; perUser: PerUser } {
  const recall: number[] = [];
  const ndcg: number[] = [];
  const hits: number[] = [];
  const precision: number[] = [];
  const bothTastes: number[] = [];
  const diversity: number[] = [];
  const coldHits: number[] = [];
  const recallAfterUpload: number[] = [];
  const recommended = new Set<string>();
  for (const user of context.users) {
    const list = (warm.get(user.userId) ?? []).slice(0, CUTOFF);
    const relevant = new Set(user.heldOut);
    const found = list.filter((itemId) => relevant.has(itemId)).length;
    recall.push(found / relevant.size);
    ndcg.push(ndcgAt(list, relevant));
    hits.push(found > 0 ? 1 : 0);
    const tastes = list.map((itemId) => context.subcategoryOf(itemId));
    precision.push(tastes.filter((t) => t !== undefined && user.tastes.includes(t)).length / CUTOFF);
    if (user.tastes.length === 2) bothTastes.push(user.tastes.every((t) => tastes.includes(t)) ? 1 : 0);
    diversity.push(intraListDiversity(list.flatMap((itemId) => context.vectorOf(itemId) ?? [])));
    for (const itemId of list) recommended.add(itemId);
    const afterUpload = (cold.get(user.userId) ?? []).slice(0, CUTOFF);
    const coldOfTaste = afterUpload.filter((itemId) => {
      const subcategory = context.subcategoryOf(itemId);
      return context.coldIds.has(itemId) && subcategory !== undefined && user.tastes.includes(subcategory);
    });
    coldHits.push(coldOfTaste.length > 0 ? 1 : 0);
    recallAfterUpload.push(afterUpload.filter((itemId) => relevant.has(itemId)).length / relevant.size);
  }
  const scores = {
    recall: mean(recall),
    ndcg: mean(ndcg),
    hitRate: mean(hits),
    precision: mean(precision),
    bothTastes: mean(bothTastes),
    coverage: recommended.size / context.catalogueSize,
    diversity: mean(diversity),
    coldHitRate: mean(coldHits),
    recallAfterUpload: mean(recallAfterUpload),
  };
  return { scores, perUser: { recall, ndcg, precision, coldHit: coldHits, recallAfterUpload } };
}

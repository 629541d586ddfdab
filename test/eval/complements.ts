/**
 * The complements' offline check (issue 22), a simulation apart from the main one (which has no
 * category structure): categories come in pairs (A, B), and each buyer buys one item of A and one
 * of B in the same visual style (a black boot with a black belt). A share of buyers is held out; for
 * each, the question is whether complements of their A item, built from the other buyers' baskets,
 * list their B item in the top 10, against "the 10 most popular items of the paired category".
 * The real use case runs (complementItems) over in-memory ports; the counters are what the Events
 * stream's consumer would write (basketPartners, coPurchaseIncrements). `npm run eval:complements`.
 */
import { coPurchaseIncrements } from '../../functions/adapters/dynamodb/co-purchases';
import type { CoPurchases } from '../../functions/app/ports';
import { complementItems, type RecommendDeps } from '../../functions/app/recommend';
import { DEFAULT_TRACKING_POLICY } from '../../functions/app/track-events';
import { basketPartners } from '../../functions/domain/complements';
import { DEFAULT_PROFILE_SETTINGS } from '../../functions/domain/interest-profile';
import { DEFAULT_RANKING_SETTINGS } from '../../functions/domain/ranking';
import { ExactIndex } from '../../functions/vector-index';
import { InMemoryItemViews } from '../support/fakes/item-views';
import { InMemoryProfileRepository } from '../support/fakes/profile-repository';
import { inMemoryServing } from '../support/fakes/serving';
import { SeededRandom } from './prng';

export const COMPLEMENTS_SIMULATION = {
  dim: 32,
  /** Four pairs of categories: (c0, c1), (c2, c3)... */
  categories: 8,
  stylesPerCategory: 5,
  itemsPerStyle: 8,
  /** Spread of an item around its style's centre (per coordinate, before normalising). */
  styleNoise: 0.35,
  buyers: 2000,
  heldOutShare: 0.2,
  cutoff: 10,
} as const;

const S = COMPLEMENTS_SIMULATION;
const itemId = (category: number, style: number, k: number) => `c${category}-s${style}-${k}`;

function unitGaussian(random: SeededRandom, centre?: Float32Array, noise = 1): Float32Array {
  const v = new Float32Array(S.dim);
  for (let i = 0; i < S.dim; i++) {
    const u = Math.max(random.next(), 1e-12);
    const g = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.next());
    v[i] = (centre?.[i] ?? 0) + noise * g;
  }
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

/** An index in a list weighted 1/(rank + 1): buyers prefer some items of a style (popularity has signal). */
function zipf(random: SeededRandom, n: number): number {
  const total = Array.from({ length: n }, (_, i) => 1 / (i + 1)).reduce((a, b) => a + b, 0);
  let r = random.next() * total;
  for (let i = 0; i < n; i++) {
    r -= 1 / (i + 1);
    if (r <= 0) return i;
  }
  return n - 1;
}

export interface ComplementsResult {
  heldOut: number;
  arms: Array<{ name: string; hitRate: number; standardError: number }>;
  /** Held-out A items with co-purchases of their own in the training baskets. */
  withCoPurchases: number;
}

export async function runComplements(seed: number): Promise<ComplementsResult> {
  const random = new SeededRandom(seed, 22);
  const index = new ExactIndex(S.dim);
  const reader = new InMemoryItemViews();
  for (let c = 0; c < S.categories; c++)
    for (let s = 0; s < S.stylesPerCategory; s++) {
      const centre = unitGaussian(random);
      for (let k = 0; k < S.itemsPerStyle; k++) {
        const id = itemId(c, s, k);
        const vector = unitGaussian(random, centre, S.styleNoise);
        index.upsert(id, vector, { available: true, category: `c${c}` });
        reader.putItem({
          itemId: id,
          status: 'ready',
          source: { bucket: 'sim', key: `catalogue/${id}.png`, sequencer: '01', eventAt: 0 },
          vectors: { sim: vector },
          category: `c${c}`,
          available: true,
          createdAt: 0,
          updatedAt: 0,
        });
      }
    }
  // Styles correspond across a pair by number: style s of A goes with style s of B.
  const baskets = Array.from({ length: S.buyers }, () => {
    const pair = Math.floor(random.next() * (S.categories / 2));
    const [a, b] = random.next() < 0.5 ? [2 * pair, 2 * pair + 1] : [2 * pair + 1, 2 * pair];
    const style = Math.floor(random.next() * S.stylesPerCategory);
    return {
      first: { itemId: itemId(a, style, zipf(random, S.itemsPerStyle)), category: `c${a}` },
      second: { itemId: itemId(b, style, zipf(random, S.itemsPerStyle)), category: `c${b}` },
    };
  });
  const heldOutCount = Math.round(S.buyers * S.heldOutShare);
  const heldOut = baskets.slice(0, heldOutCount);
  const training = baskets.slice(heldOutCount);

  // The counters the consumer would write for the training baskets (weight 1: no decay within the run).
  const rows = new Map<string, Map<string, number>>();
  const popularity = new Map<string, number>();
  for (const { first, second } of training) {
    const earlier = { eventId: 'e1', at: 0, ...first };
    const later = { eventId: 'e2', at: 1, ...second };
    for (const { pk, sk, weight } of coPurchaseIncrements(
      { ...later, basketWeight: 1 },
      basketPartners(later, [earlier, later]),
    )) {
      const partition = rows.get(pk) ?? new Map<string, number>();
      partition.set(sk, (partition.get(sk) ?? 0) + weight);
      rows.set(pk, partition);
    }
    for (const bought of [first, second])
      popularity.set(bought.itemId, (popularity.get(bought.itemId) ?? 0) + 1);
  }
  const read = (pk: string) => new Map(rows.get(pk) ?? []);
  const counters: CoPurchases = {
    with: async (id) => read(`cp#${id}`),
    categoriesWith: async (category) => read(`cpc#${category}`),
    itemsBoughtWith: async (category, partner) =>
      new Map([...read(`cpi#${category}\u0000${partner}`)].sort(([, x], [, y]) => y - x).slice(0, 50)),
  };
  const fallbackOnly: CoPurchases = { ...counters, with: async () => new Map() };
  const store = new InMemoryProfileRepository();
  const depsWith = (coPurchases: CoPurchases): RecommendDeps => ({
    serving: inMemoryServing(index),
    reader,
    profiles: store,
    history: store,
    catalogue: store,
    aggregates: store,
    coPurchases,
    embedder: async () => {
      throw new Error('not used');
    },
    modelId: 'sim',
    dim: S.dim,
    profileSettings: DEFAULT_PROFILE_SETTINGS,
    ranking: DEFAULT_RANKING_SETTINGS,
    popularityEpoch: DEFAULT_TRACKING_POLICY.popularityEpoch,
  });
  const popularIn = (category: string) =>
    [...popularity]
      .filter(([id]) => id.startsWith(`${category}-`))
      .sort(([x, a], [y, b]) => b - a || (x < y ? -1 : 1))
      .slice(0, S.cutoff)
      .map(([id]) => id);

  const hits = { complements: 0, fallback: 0, popular: 0 };
  let withCoPurchases = 0;
  for (const { first, second } of heldOut) {
    if ((rows.get(`cp#${first.itemId}`)?.size ?? 0) > 0) withCoPurchases++;
    const full = await complementItems(depsWith(counters), first.itemId, { limit: S.cutoff });
    const thin = await complementItems(depsWith(fallbackOnly), first.itemId, { limit: S.cutoff });
    if (full.items.some((i) => i.itemId === second.itemId)) hits.complements++;
    if (thin.items.some((i) => i.itemId === second.itemId)) hits.fallback++;
    if (popularIn(second.category).includes(second.itemId)) hits.popular++;
  }
  const arm = (name: string, count: number) => {
    const p = count / heldOutCount;
    return { name, hitRate: p, standardError: Math.sqrt((p * (1 - p)) / heldOutCount) };
  };
  return {
    heldOut: heldOutCount,
    withCoPurchases,
    arms: [
      arm('Complements (co-purchases, then the category fallback)', hits.complements),
      arm('Category fallback only (no item co-purchases)', hits.fallback),
      arm('Most popular of the paired category', hits.popular),
    ],
  };
}

/** The seeds the section reports (the doc's runs are these). */
export const COMPLEMENTS_SEEDS = [1, 2, 3] as const;

/** The "Complements" section of docs/evaluation.md, from one result per seed. */
export function complementsSection(
  results: ReadonlyArray<{ seed: number; result: ComplementsResult }>,
): string {
  const names = results[0]?.result.arms.map((a) => a.name) ?? [];
  const header = `| Hit rate@${S.cutoff} of the held-out B item | ${results.map((r) => `seed ${r.seed}`).join(' | ')} |`;
  const rule = `| --- | ${results.map(() => '---:').join(' | ')} |`;
  const rows = names.map(
    (name, i) =>
      `| ${name} | ${results
        .map(({ result }) => {
          const arm = result.arms[i];
          return arm ? `${arm.hitRate.toFixed(3)} ± ${arm.standardError.toFixed(3)}` : '';
        })
        .join(' | ')} |`,
  );
  const first = results[0]?.result;
  return [
    '## Complements ("Goes with this")',
    '',
    `Generated by \`npm run eval:complements -- --markdown\` (test/eval/complements.ts, under a second; \`npm run eval\` writes it too): a simulation ` +
      `of its own, since the main one has no category structure. ${S.categories} categories in ${S.categories / 2} pairs, ` +
      `${S.stylesPerCategory} visual styles per category, ${S.itemsPerStyle} items per style (${S.dim}-d synthetic vectors). ` +
      `Each of ${S.buyers} buyers buys one item of a category A and one of its pair B in the same style, the items within ` +
      `a style chosen with weights 1/rank (so popularity carries signal). ${Math.round(S.heldOutShare * 100)}% of the baskets ` +
      `(${first?.heldOut ?? 0}) are held out; the counters are those the Events stream's consumer would write for the rest ` +
      '(`basketPartners`, `coPurchaseIncrements`), and the real use case (`complementItems`) answers each held-out A item. ' +
      `A hit: the buyer's B item is in the top ${S.cutoff}. ± is the standard error over held-out baskets.`,
    '',
    header,
    rule,
    ...rows,
    '',
    '- Complements beat "the 10 most popular items of the paired category" by about 0.25–0.30, many standard errors: ' +
      'co-purchases of the item itself carry the style, which category popularity does not.',
    "- The category fallback alone (what an item without co-purchases gets) ranks the paired category's items by " +
      "closeness to each item A's buyers chose there (a sharpened cosine, summed over them by how often each was " +
      'chosen): fallback − that baseline per seed ' +
      `${results.map((r) => signed((r.result.arms[1]?.hitRate ?? 0) - (r.result.arms[2]?.hitRate ?? 0))).join(', ')}. ` +
      "Here B's looks are unrelated to A's, so what it recovers is what buyers chose most, about what the baseline knows; " +
      'in a catalogue where goods bought together look alike it also keeps the look. (Ranking by closeness to the ' +
      'centroid of everything chosen, its first version, scored 0.29–0.40: the average of several looks looks like none.)',
    '- Easy setting: almost every held-out item has co-purchases of its own in the training baskets ' +
      `(${results.map((r) => `${r.result.withCoPurchases}/${r.result.heldOut}`).join(', ')}); ` +
      'real catalogues have a long tail where the fallback matters more. Baskets here are pairs without noise items.',
    '',
  ].join('\n');
}

const signed = (value: number) => `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(3)}`;

async function main() {
  const markdown = process.argv.includes('--markdown');
  const seeds = process.argv.slice(2).map(Number).filter(Number.isFinite);
  if (markdown) {
    const results = [];
    for (const seed of seeds.length > 0 ? seeds : COMPLEMENTS_SEEDS)
      results.push({ seed, result: await runComplements(seed) });
    process.stdout.write(complementsSection(results));
    return;
  }
  for (const seed of seeds.length > 0 ? seeds : COMPLEMENTS_SEEDS) {
    const started = performance.now();
    const result = await runComplements(seed);
    console.log(
      `seed ${seed}: ${result.heldOut} held-out baskets (${result.withCoPurchases} with co-purchases of their item), ${Math.round(performance.now() - started)} ms`,
    );
    for (const { name, hitRate, standardError } of result.arms)
      console.log(`  | ${name} | ${hitRate.toFixed(3)} ± ${standardError.toFixed(3)} |`);
  }
}

if (process.argv[1]?.endsWith('complements.ts')) void main();

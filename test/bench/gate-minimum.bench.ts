/**
 * `npm run bench:gate-minimum`: where the learned-similarity gate's decision becomes reliable. On the
 * planted-metric world of the unit tests (128-d, class signal in 8 dimensions under noise), with the
 * data minimum switched off, for a growing number of users: how often the gate promotes the real
 * trainer, how often it promotes one fed shuffled pairs, and how many users and pairs it saw.
 * DEFAULT_GATE_POLICY's minimum comes from the evaluation's gate table on emoji (docs/evaluation.md);
 * this shows the same refusal of shuffled pairs and the same rise with data on planted data.
 */
import {
  DEFAULT_GATE_POLICY,
  type GateDeps,
  gateProjection,
  kissmeTrainer,
} from '../../functions/app/learned-similarity-gate';
import { plantedWorld } from '../support/planted-metric';

const SEEDS = 10;
const policy = { ...DEFAULT_GATE_POLICY, minEvaluatedUsers: 0, minSimilarPairs: 0 };

async function main(): Promise<void> {
  process.stdout.write(
    '| users | co-engaged pairs (mean) | promoted (real) | promoted (shuffled) | Recall@10 margin (mean) |\n',
  );
  process.stdout.write('| ---: | ---: | ---: | ---: | ---: |\n');
  for (const users of [10, 20, 40, 60, 100, 150]) {
    let promoted = 0;
    let pairs = 0;
    let margin = 0;
    let shuffledPromoted = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const world = plantedWorld({ seed, users, dim: 128, signalDims: 8, classes: 12, itemsPerClass: 30 });
      const deps: GateDeps = {
        events: { currentEvents: async () => world.events },
        base: { modelId: 'planted', dim: world.dim, vectors: async () => world.vectors },
        now: () => Date.UTC(2026, 0, 20),
      };
      const report = await gateProjection(deps, { policy });
      if (report.decision === 'promote') promoted++;
      pairs += report.data.similarPairs;
      margin += report.figures?.margins.recall.mean ?? 0;
      // Shuffled: every item id replaced by another through a seeded permutation before training.
      const ids = [...world.vectors.keys()].sort();
      const rotated = new Map(ids.map((id, i) => [id, ids[(i * 7 + seed) % ids.length] as string]));
      const shuffled = await gateProjection(deps, {
        policy,
        trainer: (input) =>
          kissmeTrainer()({
            ...input,
            events: input.events.map((e) => ({ ...e, itemId: rotated.get(e.itemId) as string })),
          }),
      });
      if (shuffled.decision === 'promote') shuffledPromoted++;
    }
    process.stdout.write(
      `| ${users} | ${Math.round(pairs / SEEDS)} | ${promoted}/${SEEDS} | ${shuffledPromoted}/${SEEDS} | ${(margin / SEEDS).toFixed(3)} |\n`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

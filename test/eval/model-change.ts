/**
 * A change of embedding model, measured on the evaluation: the same run of the protocol once per
 * model (same catalogue split, users, events and held-out items), Lookalike's default through the
 * endpoint each time, and the paired difference per user.
 */
import type { EvaluationResult, MethodResult } from './evaluate';
import { type Alignment, alignedTable } from './markdown';
import { METRICS, type MetricId, type PerUser, pairedDifference } from './metrics';

/** The acceptance of a new default model: on these metrics, at most this many paired SEs below the previous. */
export const MODEL_CHANGE_ACCEPTANCE = {
  metrics: ['recall', 'ndcg'] as Array<keyof PerUser & MetricId>,
  standardErrors: 2,
};

/** The metrics with a value per user, so with a paired difference. */
const PAIRED: Array<keyof PerUser & MetricId> = ['recall', 'ndcg', 'precision'];

/** What a comparison reads from a run. */
export type ComparedResult = Pick<
  EvaluationResult,
  'emojiPackage' | 'seed' | 'preset' | 'modelId' | 'simulationDigest' | 'methods' | 'timings'
>;

export interface ModelRun {
  /** Where the model was read from (a folder with manifest.json and the ONNX file). */
  modelDir: string;
  result: ComparedResult;
}

export interface ModelDifference {
  metric: keyof PerUser & MetricId;
  /** Mean over users of new - previous. */
  mean: number;
  standardError: number;
}

export interface ModelComparison {
  current: ModelRun;
  previous: ModelRun;
  differences: ModelDifference[];
  holds: boolean;
  failures: string[];
}

export class IncomparableRuns extends Error {
  readonly code = 'incomparable_runs';
  constructor(reason: string) {
    super(`the two model runs cannot be paired: ${reason}`);
    this.name = 'IncomparableRuns';
  }
}

const lookalikeOf = (result: ComparedResult): MethodResult => {
  const method = result.methods.find((m) => m.id === 'lookalike');
  if (!method) throw new IncomparableRuns(`no Lookalike default in the run of ${result.modelId}`);
  return method;
};

/**
 * New model minus previous model for Lookalike's default, per user. Pairing is by position in the
 * per-user arrays, so the two runs must have simulated exactly the same users: the simulation digest
 * (catalogue split, users, events, held-out items) must match.
 */
export function compareModels(current: ModelRun, previous: ModelRun): ModelComparison {
  const a = current.result;
  const b = previous.result;
  if (a.emojiPackage !== b.emojiPackage || a.seed !== b.seed || a.preset !== b.preset)
    throw new IncomparableRuns(
      `${a.emojiPackage} seed ${a.seed} ${a.preset} against ${b.emojiPackage} seed ${b.seed} ${b.preset}`,
    );
  if (a.simulationDigest !== b.simulationDigest)
    throw new IncomparableRuns(`simulation digests differ (${a.simulationDigest} vs ${b.simulationDigest})`);
  const mine = lookalikeOf(a);
  const theirs = lookalikeOf(b);
  const differences = PAIRED.map((metric) => {
    if (mine.perUser[metric].length !== theirs.perUser[metric].length)
      throw new IncomparableRuns(`${metric} has a different number of users`);
    return { metric, ...pairedDifference(mine.perUser[metric], theirs.perUser[metric]) };
  });
  const { metrics, standardErrors } = MODEL_CHANGE_ACCEPTANCE;
  const failures = differences
    .filter((d) => metrics.includes(d.metric) && d.mean < -standardErrors * d.standardError)
    .map(
      (d) =>
        `${labelOf(d.metric)} ${signed(d.mean)} < −${standardErrors} × ${d.standardError.toFixed(3)} (${mine.scores[d.metric].toFixed(3)} vs ${theirs.scores[d.metric].toFixed(3)})`,
    );
  return { current, previous, differences, holds: failures.length === 0, failures };
}

const labelOf = (metric: MetricId) => METRICS.find((m) => m.id === metric)?.label ?? metric;
/** Three decimals with a sign; a value that rounds to zero is +0.000, not −0.000. */
const signed = (value: number) => `${Number(value.toFixed(3)) >= 0 ? '+' : '−'}${Math.abs(value).toFixed(3)}`;

/** The per-model figures of Lookalike's default, and the paired differences new − previous. */
export function modelChangeTables(comparison: ModelComparison): string {
  const row = (label: string, run: ModelRun) => [
    `${label} \`${run.result.modelId}\``,
    ...METRICS.map((m) => lookalikeOf(run.result).scores[m.id].toFixed(3)),
  ];
  const figures = alignedTable(
    ['Lookalike default with', ...METRICS.map((m) => m.label)],
    ['left', ...METRICS.map((): Alignment => 'right')],
    [row('new:', comparison.current), row('previous:', comparison.previous)],
  );
  const differences = alignedTable(
    ['', ...comparison.differences.map((d) => labelOf(d.metric))],
    ['left', ...comparison.differences.map((): Alignment => 'right')],
    [
      [
        'new − previous',
        ...comparison.differences.map((d) => `${signed(d.mean)} ± ${d.standardError.toFixed(3)}`),
      ],
    ],
  );
  return `${figures}\n\n${differences}`;
}

export function modelChangeVerdict(comparison: ModelComparison): string {
  const { metrics, standardErrors } = MODEL_CHANGE_ACCEPTANCE;
  const names = metrics.map(labelOf).join(' and ');
  return comparison.holds
    ? `The new model is no more than ${standardErrors} paired standard errors below the previous one on ${names}: the change is accepted.`
    : `The new model is **more than ${standardErrors} paired standard errors below** the previous one: ${comparison.failures.join('; ')}.`;
}

/** The "Model change" section of docs/evaluation.md. */
export function modelChangeSection(comparison: ModelComparison, runTitle: string): string {
  const { current, previous } = comparison;
  return [
    '## Model change',
    '',
    `${runTitle}, run once with each model, each run in its own process: the new model \`${current.result.modelId}\` ` +
      `(from \`${current.modelDir}\`) and the previous one \`${previous.result.modelId}\` (from \`${previous.modelDir}\`). ` +
      'Nothing in the simulation reads the model (the catalogue split, users, events and held-out items come from the ' +
      `package and the seed alone), and both runs check it: their simulations have the same digest (\`${current.result.simulationDigest}\`). ` +
      'Only the vectors differ, so every per-user difference below is paired.',
    '',
    modelChangeTables(comparison),
    '',
    `${modelChangeVerdict(comparison)} (The difference must be at least −${MODEL_CHANGE_ACCEPTANCE.standardErrors} × its ` +
      'standard error over users, the same paired standard error as the margins above.)',
    '',
  ].join('\n');
}

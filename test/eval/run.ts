/**
 * `npm run eval`: offline evaluation of Lookalike against baselines and ablations (see
 * docs/evaluation.md, which this writes with docs/evaluation.svg).
 *
 *   npm run eval                      tuning run (google, seed 1) + report run (twitter, seed 2), full preset
 *   npm run eval -- --preset ci       the same, smaller (under 3 minutes); prints, writes only with --out
 *   npm run eval -- --package twitter --seed 7 --users 100
 *   npm run eval -- --only report --model <dir> --compare-model <dir>   one model against another
 *
 * The full preset's report run also runs with the previous default model when .cache/models/previous
 * holds it (`npm run model -- --descriptor previous .cache/models/previous`) and it is not the model
 * evaluated: docs/evaluation.md then has a "Model change" section (see model-change.ts).
 *
 * Each run of the protocol is its own process: the handlers read their configuration and create
 * their clients once per process (like a Lambda cold start), so one process hosts one local app.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { defaultManifestPath } from '../../functions/embedding/embedder';
import { loadManifest } from '../../functions/embedding/model-manifest';
import { PREVIOUS_DEFAULT_DESCRIPTOR } from '../../layers/model/chosen-descriptor';
import { modelIdLabel } from '../../layers/model/descriptor';
import { groupedBarChart } from './chart';
import { COMPLEMENTS_SEEDS, complementsSection, runComplements } from './complements';
import { type EvaluationResult, evaluate, markdownTable } from './evaluate';
import { interestsSection, runInterests } from './interests';
import { tuningSweep } from './methods';
import { compareModels, type ModelComparison, modelChangeTables, modelChangeVerdict } from './model-change';
import { claimHolds, evaluationDocument, type LabelledRun, reportFirst, runTitle } from './report';
import type { EmojiPackage, PresetName } from './simulation';

export const PROTOCOL = {
  tune: { emojiPackage: 'google', seed: 1 },
  report: { emojiPackage: 'twitter', seed: 2 },
} as const satisfies Record<string, { emojiPackage: EmojiPackage; seed: number }>;

/**
 * What the tuning run's sweep says and what was done about it. Written by hand against the sweep
 * printed below it in the report: after a change to the ranking or the profile, read the new sweep
 * and update this text.
 */
const TUNING_NOTES = `### Tuning

Settings were only looked at on the tuning run (google, seed 1), through the sweep below: each setting
varied alone around the defaults, scored offline with the same code as the ablations. **This evaluation
changed no default but exploration's** (below); the settings above are the ones the README documents. Differences of about 0.01 or
less on one metric are the size of the paired standard errors above: noise, not a reason to move a default.

- \`joinSimilarity\`, \`halfLifeDays\`: no change that matters. Emoji of one subcategory are far apart for
  these models (median cosine about 0.3 for the previous default), so most positives open a centroid whatever the threshold and the
  merges above K decide; all events are within 14 days, so the half-life barely changes relative weights.
- \`maxCentroids\` 8 and \`calibrationFloor\` 0.7 gain about 0.01 of recall and precision, within the noise,
  and each loses some two-taste coverage or cold-item hits. Kept.
- \`mmrLambda\` trades two-taste coverage and diversity (lower λ) against cold-item hits (higher λ) at the
  same recall and precision: a choice between secondary metrics, left at the documented value.
- \`penaltyWeight\` 0 is as good or slightly better here because every simulated dislike is of another subcategory; a
  real dislike is often of something close to what the user likes, which the simulation does not model. Kept.
- \`coEngagementWeight\`: more of it raises every accuracy metric and sharply lowers the cold-item hit rate.
  Simulated users pick the items of their tastes uniformly, so co-engagement is a cleaner label signal here
  than it would be in a shop; raising it would tune to the simulation and against new items. Kept.

- Exploration: the first rule, stated before the sweep was read, was the least exploration (fewest
  slots, then the highest \`minRelevance\`) whose cold-item hit rate reaches the mean vector's (0.700
  here). Exploration off gives 0.545. Against the list's best score (\`floor\` best), one slot (share
  0.1) reaches 0.675 at a floor of 0.6, 0.705 at 0.5 and 0.725 at 0.4; two slots (share 0.2) 0.640 at
  0.7 and 0.715 at 0.6. That chose share 0.1 at 0.5, whose price is in the lists after the upload,
  where the new item takes a slot: known-item recall there fell by about 0.02 against exploration off
  (0.463 → 0.444). A second floor then came in, against the score of the organic item a pick displaces
  (\`floor\` displaced), and with it a second rule, stated before its rows were read: of the settings
  whose cold-item hit rate reaches the mean vector's, the one with the least fall in known-item recall.
  One slot with that floor reaches 0.725 at 0.8 (recall 0.447), 0.710 at 0.825 (0.449), 0.695 at 0.85
  (0.452), 0.675 at 0.875 and 0.655 at 0.9 (0.457); the best floor at 0.5 gives 0.705 at 0.444. So the
  default is share 0.1, \`floor\` displaced, \`minRelevance\` 0.825: a fall of about 0.014 here, still
  above the 0.01 the issue allows, where every setting at or under 0.01 stays below the mean vector's
  cold-item hit rate. Recall@10 before the upload (no item is new) is unchanged by construction.
- Exploration, second mechanism (issue 21): the share became the least share of new items rather than
  an addition to it. A slot stays organic when the list above it already shows as many new items as
  the slots so far, because a new item that wins an ordinary slot has already been explored, and a
  second new item only pushes out a known one. The knobs were kept; the sweep above was re-read with
  the mechanism in place. One slot now costs known items 0.009 of recall at 0.825 (0.454 against
  0.463) and 0.010 at 0.8 (0.453), for a cold-item hit rate of 0.680 and 0.690 against the mean
  vector's 0.700 (within its standard error, 0.032). The second rule would now move to two slots at
  0.85 (0.710, recall 0.448: a fall of 0.015, beyond the 0.01 the issue allows). No setting meets both
  of the issue's bounds on this run, so the recall bound, which every shopper pays, came first, and
  the default stayed at share 0.1, \`floor\` displaced, \`minRelevance\` 0.825. This rule was stated
  after the sweep was read.

The learned similarity's rows use the trainer's own knobs (\`DEFAULT_LEARNED_SIMILARITY_KNOBS\`); they are the only
knobs its sweep varies (the rows "+ learned, ..." below), and the profile and ranking settings stay at the defaults above.
On this tuning run, less shrinkage scores higher (shrinkage 0: +0.02 to +0.04 Recall@10 on the two learned rows, 0.5:
−0.04 to −0.05); \`priorPairs\`, \`covarianceRidge\`, \`dissimilarPerSimilar\` and \`windowDays\` move Recall@10 by about 0.02 or less,
the size of the noise; taking views as positives loses 0.05 to 0.06. Co-engaged items share the label here, so fitting the
pairs more closely is rewarded more than it would be in a shop; the noisier-simulation row shows how much of the gain
is left when engagement crosses tastes, and the issue's probe saw weak shrinkage overfit on a second style and on items
in no pair. The defaults (shrinkage 0.2, as in that probe; positives are the types of weight 1 or more) are kept.`;

/** Where `npm run model -- --descriptor previous .cache/models/previous` builds the previous default. */
export const PREVIOUS_MODEL_DIR = resolve(__dirname, '../../.cache/models/previous');

interface CliOptions {
  /** Folder of the model evaluated (manifest.json + ONNX file). */
  model?: string;
  /** Folder of the model to compare it with; false with --no-compare-model. */
  compareModel?: string | false;
  package?: EmojiPackage;
  seed?: number;
  users?: number;
  preset: PresetName;
  only?: 'tune' | 'report';
  out?: string;
  workerOut?: string;
  sweep?: boolean;
}

const integerFrom = (min: number) => (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min)
    throw new InvalidArgumentError(`expected an integer >= ${min}`);
  return parsed;
};

const manifestIn = (modelDir: string) => join(modelDir, 'manifest.json');

function modelFolder(value: string): string {
  const dir = resolve(value);
  if (!existsSync(manifestIn(dir))) throw new InvalidArgumentError(`no manifest.json in ${dir}`);
  return dir;
}

/** A path for people to read: relative to the working directory when it is inside it. */
const shown = (path: string) => (relative('.', path).startsWith('..') ? path : relative('.', path));

interface PlannedRun {
  role: LabelledRun['role'];
  emojiPackage: EmojiPackage;
  seed: number;
  modelDir: string;
}

function plan(options: CliOptions): PlannedRun[] {
  const modelDir = options.model ?? dirname(defaultManifestPath());
  if (options.package !== undefined || options.seed !== undefined) {
    return [
      {
        role: 'custom',
        emojiPackage: options.package ?? PROTOCOL.report.emojiPackage,
        seed: options.seed ?? PROTOCOL.report.seed,
        modelDir,
      },
    ];
  }
  const roles = options.only ? [options.only] : (['tune', 'report'] as const);
  return roles.map((role) => ({ role, ...PROTOCOL[role], modelDir }));
}

/**
 * The model to compare with: the one given, or by default (full preset) the previous default model
 * when .cache/models/previous holds it and it is not the model evaluated.
 */
function comparedModel(options: CliOptions, modelDir: string): string | undefined {
  if (options.compareModel !== undefined)
    return options.compareModel === false ? undefined : options.compareModel;
  if (options.preset !== 'full') return undefined;
  const say = (line: string) => process.stderr.write(`${line}; no "Model change" section\n`);
  const folder = shown(PREVIOUS_MODEL_DIR);
  if (!existsSync(manifestIn(PREVIOUS_MODEL_DIR))) {
    say(`no previous default model in ${folder} (npm run model -- --descriptor previous ${folder})`);
    return undefined;
  }
  const previous = loadManifest(manifestIn(PREVIOUS_MODEL_DIR)).manifest.modelId;
  if (!previous.startsWith(`${modelIdLabel(PREVIOUS_DEFAULT_DESCRIPTOR)}-`)) {
    say(`${folder} holds ${previous}, not the previous default descriptor's model`);
    return undefined;
  }
  if (previous === loadManifest(manifestIn(modelDir)).manifest.modelId) {
    say(`the model evaluated is the previous default (${previous})`);
    return undefined;
  }
  return PREVIOUS_MODEL_DIR;
}

/** The tuning run of the full preset also scores the sweep: what the defaults were chosen from. */
const wantsSweep = (run: PlannedRun, options: CliOptions) =>
  options.sweep === true || (run.role === 'tune' && options.preset === 'full');

function evaluateRun(run: PlannedRun, options: CliOptions): Promise<EvaluationResult> {
  return evaluate({
    emojiPackage: run.emojiPackage,
    seed: run.seed,
    preset: options.preset,
    users: options.users,
    manifestPath: manifestIn(run.modelDir),
    ...(wantsSweep(run, options) ? { sweep: tuningSweep() } : {}),
  });
}

/** Runs one evaluation in a fresh process (see the module comment) and reads its result back. */
async function runInWorker(run: PlannedRun, options: CliOptions): Promise<EvaluationResult> {
  const folder = await mkdtemp(join(tmpdir(), 'lookalike-eval-run-'));
  const out = join(folder, 'result.json');
  try {
    const args = [
      ...process.execArgv,
      __filename,
      '--package',
      run.emojiPackage,
      '--seed',
      String(run.seed),
      '--preset',
      options.preset,
      ...(options.users !== undefined ? ['--users', String(options.users)] : []),
      '--model',
      run.modelDir,
      ...(wantsSweep(run, options) ? ['--sweep'] : []),
      '--worker-out',
      out,
    ];
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0)
      throw new Error(
        `the ${run.role} run (${run.emojiPackage}, seed ${run.seed}, model in ${run.modelDir}) failed with exit code ${code}`,
      );
    return JSON.parse(await readFile(out, 'utf8')) as EvaluationResult;
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

function commandLine(argv: readonly string[]): string {
  return argv.length === 0 ? 'npm run eval' : `npm run eval -- ${argv.join(' ')}`;
}

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('npm run eval --')
    .description(
      'Offline evaluation: Lookalike against random, most-popular and mean-vector baselines, and ablations.',
    )
    .addOption(
      new Option(
        '--model <dir>',
        "folder of the model evaluated (manifest.json + model.onnx; default: the model layer's)",
      ).argParser(modelFolder),
    )
    .addOption(
      new Option(
        '--compare-model <dir>',
        `also run the report run (or the single run) with this model, each run in its own process, and compare Lookalike's default with the two models, paired over the same users (default for the full preset: ${shown(PREVIOUS_MODEL_DIR)} when it holds the previous default model)`,
      ).argParser(modelFolder),
    )
    .option('--no-compare-model', 'no model comparison')
    .addOption(
      new Option('--package <package>', 'a single run on this emoji package').choices(['google', 'twitter']),
    )
    .addOption(new Option('--seed <n>', 'seed of a single run').argParser(integerFrom(0)))
    .addOption(
      new Option('--users <n>', "number of simulated users (default: the preset's)").argParser(
        integerFrom(2),
      ),
    )
    .addOption(
      new Option('--preset <preset>', 'catalogue and user counts').choices(['ci', 'full']).default('full'),
    )
    .addOption(
      new Option('--only <role>', 'only one run of the protocol (e.g. while tuning)').choices([
        'tune',
        'report',
      ]),
    )
    .option(
      '--out <file>',
      'Markdown report; the chart is written next to it as .svg (default for the full preset: docs/evaluation.md)',
    )
    .addOption(new Option('--worker-out <file>').hideHelp())
    .addOption(
      new Option(
        '--sweep',
        'also score the tuning sweep (the tuning run of the full preset does)',
      ).hideHelp(),
    )
    .parse(argv, { from: 'user' });
  const options = program.opts<CliOptions>();
  const runs = plan(options);

  if (options.workerOut) {
    const [run] = runs as [PlannedRun];
    await writeFile(options.workerOut, JSON.stringify(await evaluateRun(run, options)));
    return;
  }

  const judgedRun = runs.find((run) => run.role === 'report') ?? (runs[runs.length - 1] as PlannedRun);
  const previousModelDir = comparedModel(options, judgedRun.modelDir);
  const inProcess = runs.length === 1 && previousModelDir === undefined;

  const started = performance.now();
  const results: LabelledRun[] = [];
  for (const run of runs) {
    const result = inProcess ? await evaluateRun(run, options) : await runInWorker(run, options);
    results.push({ role: run.role, result });
  }
  let modelChange: ModelComparison | undefined;
  if (previousModelDir !== undefined) {
    const previousRun = { ...judgedRun, modelDir: previousModelDir };
    const current = results[runs.indexOf(judgedRun)] as LabelledRun;
    modelChange = compareModels(
      { modelDir: shown(judgedRun.modelDir), result: current.result },
      { modelDir: shown(previousModelDir), result: await runInWorker(previousRun, options) },
    );
  }
  const wallSeconds = (performance.now() - started) / 1000;

  for (const run of results) {
    process.stdout.write(`\n## ${runTitle(run)}\n\n${markdownTable(run.result)}\n`);
    const check = run.result.endpointCheck;
    process.stdout.write(
      `\nendpoint check: ${check.identicalLists}/${check.users} identical lists (${check.identicalAfterColdUpload}/${check.users} after the cold upload)\n`,
    );
  }
  if (modelChange) {
    process.stdout.write(
      `\n## Model change (${runTitle(results[runs.indexOf(judgedRun)] as LabelledRun)})\n\n` +
        `${modelChangeTables(modelChange)}\n\n${modelChangeVerdict(modelChange)}\n`,
    );
  }
  process.stdout.write(`\n${Math.round(wallSeconds)} s in all\n`);

  const out = options.out ?? (options.preset === 'full' ? 'docs/evaluation.md' : undefined);
  if (out) {
    const chart = `${out.replace(/\.md$/, '')}.svg`;
    await writeFile(
      chart,
      groupedBarChart(
        reportFirst(results).map((run) => ({ title: runTitle(run), methods: run.result.methods })),
      ),
    );
    await writeFile(
      out,
      evaluationDocument({
        runs: results,
        command: commandLine(argv),
        chartFile: basename(chart),
        wallSeconds,
        tuningNotes: TUNING_NOTES,
        ...(modelChange ? { modelChange } : {}),
        complementsSection: complementsSection(
          await Promise.all(
            COMPLEMENTS_SEEDS.map(async (seed) => ({ seed, result: await runComplements(seed) })),
          ),
        ),
        interestsSection: interestsSection(await runInterests()),
      }),
    );
    process.stdout.write(`wrote ${out} and ${chart}\n`);
  }

  const judged = results.find((run) => run.role === 'report') ?? results[results.length - 1];
  const claim = judged ? claimHolds(judged.result) : { holds: true, failures: [] };
  if (!claim.holds) {
    process.stderr.write(`Lookalike's default does not beat the baselines: ${claim.failures.join('; ')}\n`);
    process.exitCode = 1;
  }
  if (modelChange && !modelChange.holds) {
    process.stderr.write(`The new model is below the previous one: ${modelChange.failures.join('; ')}\n`);
    process.exitCode = 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    // The handlers' SDK clients keep sockets open in this process: leave once the work is done.
    () => process.exit(),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

/**
 * `npm run rollout -- status [--bucket <b>] [--items-table <t>] [--model <manifest or id>]...`: every
 * vector space (model id) in the items' vectors or deployed, with its coverage (ready items holding
 * its vector out of all ready items), whether its index snapshot exists, which space is active and
 * when each last was (the spaces registry, functions/adapters/s3/spaces-registry.ts).
 * The first --model is the deployed active model (default: the model layer's manifest), the others
 * the models embedded beside it (default: $EXTRA_MODEL_MANIFESTS).
 * `switch --to <id> [--force]` checks coverage (100% unless forced), writes the space's index
 * snapshot, records the switch and prints the configuration change to deploy; `rollback` does the
 * same for the previous space; `retire --space <id>` removes a space's vectors from the items
 * (refused for the active space, one active in the last 7 days, or the vector index's model).
 * With the `dynamodb-vector` backend, set VECTOR_INDEX_MODEL_ID and VECTOR_INDEX_DIMENSION as the
 * stack does for the embed function: a switch keeps the index's dimension.
 * Readable lines go to stderr; one JSON line goes to stdout.
 */
import { Command } from 'commander';
import { type LearnedRollbackResult, rollbackProjection } from '../../functions/app/learned-space';
import {
  type DeployedSpaces,
  RolloutRefused,
  type RolloutStatus,
  retireSpace,
  rollbackSpace,
  rolloutStatus,
  type SwitchResult,
  switchSpace,
  type VectorIndexSpace,
} from '../../functions/app/rollout';
import { ENV } from '../../functions/contract/environment';
import { defaultManifestPath } from '../../functions/embedding/embedder';
import { loadManifest } from '../../functions/embedding/model-manifest';
import { dynamoClient, s3Client } from '../../functions/platform/clients';
import { listEnv, numberEnv, optionalEnv } from '../../functions/platform/env';
import { createPromotionDeps, DEFAULT_SPACE_REFRESH_MS } from '../../functions/wiring/learned-space';
import { createRolloutDeps, type RolloutConfig } from '../../functions/wiring/rollout';
import { resolveModel } from './backfill';

/** The deployed models from manifests: the first is the active one. */
export function deployedSpaces(manifests: string[]): DeployedSpaces {
  const models = [...new Set(manifests.map(resolveModel))].map((path) => {
    const { manifest } = loadManifest(path);
    return { modelId: manifest.modelId, dim: manifest.output.dim };
  });
  const [active, ...extras] = models;
  if (!active) throw new Error('no deployed model');
  return { active, extras: extras.filter((extra) => extra.modelId !== active.modelId) };
}

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;

/** The status as a table, a row per space. */
export function formatStatus(status: RolloutStatus, now: number): string {
  const rows = status.spaces.map((space) =>
    [
      space.active ? '*' : ' ',
      space.space,
      space.dim ?? '?',
      space.deployed ?? 'not deployed',
      `${space.covered}/${space.ready} (${percent(space.coverage)})`,
      space.snapshot ? `snapshot of ${space.snapshot.count}` : 'no snapshot',
      space.active
        ? 'active'
        : space.lastActiveAt !== undefined
          ? `last active ${((now - space.lastActiveAt) / 86_400_000).toFixed(1)} days ago`
          : 'never active',
    ].join('  '),
  );
  const learned = Object.entries(status.learned ?? {}).map(
    ([base, state]) =>
      `learned: ${base} serves ${state.active ?? 'its own space'}` +
      `${state.pending && state.pending !== state.active ? ` (promoting ${state.pending})` : ''}` +
      `${state.previous ? `; rollback-learned returns to ${state.previous}` : ''}`,
  );
  return `${[...rows, ...learned].join('\n')}\n`;
}

interface CommonOptions {
  bucket?: string;
  itemsTable?: string;
  model?: string[];
}

function config(program: Command, options: CommonOptions): RolloutConfig {
  return {
    dynamo: dynamoClient(),
    s3: s3Client(),
    bucket:
      options.bucket ??
      optionalEnv(ENV.CATALOGUE_BUCKET) ??
      program.error('error: --bucket or CATALOGUE_BUCKET is required'),
    itemsTable:
      options.itemsTable ??
      optionalEnv(ENV.ITEMS_TABLE) ??
      program.error('error: --items-table or ITEMS_TABLE is required'),
  };
}

const deployedFrom = (options: CommonOptions) =>
  deployedSpaces(options.model ?? [defaultManifestPath(), ...listEnv(ENV.EXTRA_MODEL_MANIFESTS)]);

function withCommonOptions(command: Command): Command {
  return command
    .option('--bucket <name>', 'catalogue bucket (default: $CATALOGUE_BUCKET)')
    .option('--items-table <name>', 'items table (default: $ITEMS_TABLE)')
    .option(
      '--model <manifest or id>',
      'a deployed model, the active one first (repeatable; default: the model layer and $EXTRA_MODEL_MANIFESTS)',
      (value: string, previous: string[] = []) => [...previous, value],
    );
}

/** The `dynamodb-vector` backend's index, as the stack configures the embed function with it. */
function vectorIndexFromEnv(): VectorIndexSpace | undefined {
  const modelId = optionalEnv(ENV.VECTOR_INDEX_MODEL_ID);
  const attribute = optionalEnv(ENV.VECTOR_INDEX_ATTRIBUTE);
  return modelId && attribute
    ? { modelId, attribute, dim: numberEnv(ENV.VECTOR_INDEX_DIMENSION, 0, { min: 0 }) }
    : undefined;
}

/** What to tell the operator after a switch or a rollback. */
export function formatSwitch(result: SwitchResult): string {
  return [
    `recorded ${result.from} -> ${result.to} (coverage ${percent(result.coverage)}, snapshot of ${result.snapshot.count} items` +
      `${result.indexed !== undefined ? `, ${result.indexed} items in the vector index` : ''})`,
    'deploy the change to serve it:',
    `  ${result.deploy.context}`,
    `  or set the stack prop: ${result.deploy.prop}`,
    '',
  ].join('\n');
}

/** Runs one command; a refusal is an exit code of 3 with its message, not a stack trace. */
async function run(action: () => Promise<unknown>, human: (result: never) => string): Promise<void> {
  try {
    const result = await action();
    process.stderr.write(human(result as never));
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (error) {
    if (!(error instanceof RolloutRefused)) throw error;
    process.stderr.write(`refused (${error.code}): ${error.message}\n`);
    process.exitCode = 3;
  }
}

export function rolloutProgram(): Command {
  const program = new Command()
    .name('rollout')
    .description('Roll a vector space (model id) out, back or away');
  withCommonOptions(program.command('status'))
    .description('coverage, snapshot and activity of every space')
    .action((options: CommonOptions) =>
      run(
        () => rolloutStatus(createRolloutDeps(config(program, options)), deployedFrom(options)),
        (status: RolloutStatus) => formatStatus(status, Date.now()),
      ),
    );
  withCommonOptions(program.command('switch'))
    .description('serve another space: check coverage, write its snapshot, record it, print what to deploy')
    .requiredOption('--to <id>', 'the space (model id) to serve')
    .option('--force', 'switch below 100% coverage (items without its vector are not served)')
    .action((options: CommonOptions & { to: string; force?: boolean }) =>
      run(
        () =>
          switchSpace(createRolloutDeps(config(program, options)), deployedFrom(options), {
            to: options.to,
            force: options.force === true,
            now: Date.now(),
            vectorIndex: vectorIndexFromEnv(),
          }),
        formatSwitch,
      ),
    );
  withCommonOptions(program.command('rollback'))
    .description('serve the previous space again, on the same rules as switch')
    .option('--force', 'roll back below 100% coverage')
    .action((options: CommonOptions & { force?: boolean }) =>
      run(
        () =>
          rollbackSpace(createRolloutDeps(config(program, options)), deployedFrom(options), {
            force: options.force === true,
            now: Date.now(),
            vectorIndex: vectorIndexFromEnv(),
          }),
        formatSwitch,
      ),
    );
  withCommonOptions(program.command('rollback-learned'))
    .description(
      "serve the space that served before the active model's last learned-projection promotion (no deploy)",
    )
    .option(
      '--settle-ms <ms>',
      "the functions' SPACE_REFRESH_MS: how long to wait before re-projecting, when returning to a projected space",
      String(DEFAULT_SPACE_REFRESH_MS),
    )
    .action((options: CommonOptions & { settleMs: string }) =>
      run(
        () =>
          rollbackProjection(
            createPromotionDeps({ ...config(program, options), settleMs: Number(options.settleMs) }),
            deployedFrom(options).active,
          ),
        (result: LearnedRollbackResult) =>
          `now serving ${result.to} (was ${result.from}); the functions follow within SPACE_REFRESH_MS\n`,
      ),
    );
  withCommonOptions(program.command('retire'))
    .description(
      "remove a space's vectors from the items (not the active one, nor one active in the last 7 days)",
    )
    .requiredOption('--space <id>', 'the space (model id) to retire')
    .action((options: CommonOptions & { space: string }) =>
      run(
        () =>
          retireSpace(createRolloutDeps(config(program, options)), deployedFrom(options), {
            space: options.space,
            now: Date.now(),
            vectorIndexModelId: vectorIndexFromEnv()?.modelId,
          }),
        (result: { space: string; items: number }) => `retired ${result.space}: ${result.items} items\n`,
      ),
    );
  return program;
}

if (require.main === module) {
  rolloutProgram()
    .parseAsync()
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}

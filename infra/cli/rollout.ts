/**
 * `npm run rollout -- status [--bucket <b>] [--items-table <t>] [--model <manifest or id>]...`: every
 * vector space (model id) in the items' vectors or deployed, with its coverage (ready items holding
 * its vector out of all ready items), whether its index snapshot exists, which space is active and
 * when each last was (the spaces registry, functions/adapters/s3/spaces-registry.ts).
 * The first --model is the deployed active model (default: the model layer's manifest), the others
 * the models embedded beside it (default: $EXTRA_MODEL_MANIFESTS).
 * A readable table goes to stderr; one JSON line goes to stdout.
 */
import { Command } from 'commander';
import { type DeployedSpaces, type RolloutStatus, rolloutStatus } from '../../functions/app/rollout';
import { ENV } from '../../functions/contract/environment';
import { defaultManifestPath } from '../../functions/embedding/embedder';
import { loadManifest } from '../../functions/embedding/model-manifest';
import { dynamoClient, s3Client } from '../../functions/platform/clients';
import { listEnv, optionalEnv } from '../../functions/platform/env';
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
  return `${rows.join('\n')}\n`;
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

export function rolloutProgram(): Command {
  const program = new Command()
    .name('rollout')
    .description('Roll a vector space (model id) out, back or away');
  withCommonOptions(program.command('status'))
    .description('coverage, snapshot and activity of every space')
    .action(async (options: CommonOptions) => {
      const status = await rolloutStatus(createRolloutDeps(config(program, options)), deployedFrom(options));
      process.stderr.write(formatStatus(status, Date.now()));
      process.stdout.write(`${JSON.stringify(status)}\n`);
    });
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

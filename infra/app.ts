import { resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { ensureModel } from '../layers/model/build';
import { ensureRuntimeLayer } from '../layers/runtime/build';
import { LookalikeStack } from './lookalike-stack';

async function main(): Promise<void> {
  const app = new App();
  // `-c modelDir=<dir>` deploys another model as the model layer: pinning the previous default model
  // on upgrade is `npm run deploy -- -c modelDir=.cache/models/previous` (see the README, "Upgrading").
  const modelDir: unknown = app.node.tryGetContext('modelDir');
  // `cdk synth` right after `npm ci` works: the model and the runtime layer are built when missing.
  if (typeof modelDir !== 'string' || !modelDir) await ensureModel();
  ensureRuntimeLayer();
  // The rollout's knobs (`npm run rollout -- switch` prints the exact `-c activeModelId=<id>` to deploy).
  const models = contextList(app.node.tryGetContext('models'));
  const activeModelId: unknown = app.node.tryGetContext('activeModelId');
  // `-c expectedCatalogueItems=500000` sizes the recommend function (README, "Capacity").
  const expectedCatalogueItems = Number(app.node.tryGetContext('expectedCatalogueItems') ?? Number.NaN);
  new LookalikeStack(app, app.node.tryGetContext('stackName') ?? 'Lookalike', {
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    ...(typeof modelDir === 'string' && modelDir ? { modelDir: resolve(modelDir) } : {}),
    ...(models.length ? { models } : {}),
    ...(typeof activeModelId === 'string' && activeModelId ? { activeModelId } : {}),
    ...(Number.isNaN(expectedCatalogueItems) ? {} : { expectedCatalogueItems }),
  });
  app.synth();
}

/** `-c models=a,b` on the command line, or a list in cdk.json's context. */
function contextList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return typeof value === 'string'
    ? value
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean)
    : [];
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

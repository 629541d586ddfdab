import { App } from 'aws-cdk-lib';
import { ensureModel } from '../layers/model/build';
import { ensureRuntimeLayer } from '../layers/runtime/build';
import { LookalikeStack } from './lookalike-stack';

async function main(): Promise<void> {
  // `cdk synth` right after `npm ci` works: the model and the runtime layer are built when missing.
  await ensureModel();
  ensureRuntimeLayer();
  const app = new App();
  new LookalikeStack(app, app.node.tryGetContext('stackName') ?? 'Lookalike', {
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  app.synth();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

import { assertJavaAvailable, startDynamoDbLocal } from '../../infra/local/dynamodb-local';
import { synthStackRoles } from '../../infra/local/iam/stack-roles';
import { ensureModel } from '../../layers/model/build';
import { ensureRuntimeLayer } from '../../layers/runtime/build';
import {
  DYNAMODB_ENDPOINT_ENV,
  integrationTestsSelected,
  type JestRunSelection,
  sharedDynamoDb,
} from './shared-dynamodb';

/**
 * Starts the one slow stand-in (DynamoDB Local, ~2.5 s) once per run, and only when integration tests
 * are part of it. s3rver is not started here: its event emitter would live in this process, out of
 * reach of the test workers, so each integration test file starts its own (see local-stack.ts).
 */
export default async function globalSetup(globalConfig: JestRunSelection): Promise<void> {
  // Every tier but unit needs the model and the runtime layer; build them once, before the workers.
  await ensureModel();
  ensureRuntimeLayer();
  // The local twin enforces the stack's IAM: synthesize the roles once, before the workers.
  await synthStackRoles();
  // Still running from the previous run in watch mode, or provided by the developer.
  if (sharedDynamoDb.get() || process.env[DYNAMODB_ENDPOINT_ENV]) return;
  if (!integrationTestsSelected(globalConfig)) return;
  assertJavaAvailable();
  const dynamodb = await startDynamoDbLocal({ port: 0 });
  sharedDynamoDb.set(dynamodb);
  process.env[DYNAMODB_ENDPOINT_ENV] = dynamodb.endpoint;
}

import { DYNAMODB_ENDPOINT_ENV, type JestRunSelection, sharedDynamoDb } from './shared-dynamodb';

export default async function globalTeardown(globalConfig: JestRunSelection): Promise<void> {
  const dynamodb = sharedDynamoDb.get();
  // Watch mode runs setup and teardown around every run: keep the instance for the next one
  // (an exit hook kills it when Jest quits).
  if (!dynamodb || globalConfig.watch || globalConfig.watchAll) return;
  sharedDynamoDb.set(undefined);
  delete process.env[DYNAMODB_ENDPOINT_ENV];
  await dynamodb.stop();
}

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { ItemSpaces } from '../adapters/dynamodb/item-spaces';
import { S3SpaceSnapshots } from '../adapters/s3/space-snapshots';
import { S3SpacesRegistry } from '../adapters/s3/spaces-registry';
import type { ModelGuardDeps } from '../app/model-guard';
import type { RolloutStatusDeps } from '../app/rollout';

export interface RolloutConfig {
  dynamo: DynamoDBClient;
  s3: S3Client;
  itemsTable: string;
  bucket: string;
}

/** The rollout's ports on the stack's Items table and catalogue bucket. */
export function createRolloutDeps(config: RolloutConfig) {
  const items = new ItemSpaces(config.dynamo, config.itemsTable);
  return {
    catalogue: items,
    items,
    snapshots: new S3SpaceSnapshots(config),
    registry: new S3SpacesRegistry(config.s3, config.bucket),
  } satisfies RolloutStatusDeps & { items: ItemSpaces };
}

/** The deploy-time model guard's ports: the registry and a bounded sample of the Items table, read-only. */
export function createModelGuardDeps(config: RolloutConfig): ModelGuardDeps {
  return {
    registry: new S3SpacesRegistry(config.s3, config.bucket),
    catalogue: new ItemSpaces(config.dynamo, config.itemsTable),
  };
}

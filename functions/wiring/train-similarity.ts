import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { EventsTableLog } from '../adapters/dynamodb/engagement-log';
import { ItemSpaces } from '../adapters/dynamodb/item-spaces';
import { S3TrainingReports } from '../adapters/s3/training-reports';
import type { ProjectionPromotion, TrainSimilarityDeps } from '../app/train-similarity';
import type { FunctionConfig } from './environment';

/** The trainer's ports on the stack's tables and bucket; `promotion` serves what the gate passes. */
export function createTrainSimilarityDeps(
  config: FunctionConfig<'train-similarity'>,
  clients: { dynamo: DynamoDBClient; s3: S3Client },
  promotion: ProjectionPromotion,
  now: () => number = Date.now,
): TrainSimilarityDeps {
  const items = new ItemSpaces(clients.dynamo, config.tables.items);
  return {
    events: new EventsTableLog(clients.dynamo, config.tables, now),
    base: {
      modelId: config.modelId,
      dim: config.dim,
      // The scan a promotion re-projects from: every ready item's vector in the base space.
      async vectors() {
        const found = new Map<string, Float32Array>();
        for await (const item of items.readyVectors(config.modelId)) found.set(item.itemId, item.vector);
        return found;
      },
    },
    reports: new S3TrainingReports(clients.s3, config.bucket),
    promotion,
    now,
  };
}

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { EventsTableLog, ItemsTableVectors } from '../adapters/dynamodb/engagement-log';
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
  return {
    events: new EventsTableLog(clients.dynamo, config.tables, now),
    base: new ItemsTableVectors(clients.dynamo, config.tables.items, config.modelId, config.dim),
    reports: new S3TrainingReports(clients.s3, config.bucket),
    promotion,
    now,
  };
}

// TEMPORARY on branch wtJ: replaced by the serving branch's promotion at merge.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ProjectionPromotion } from '../app/train-similarity';
import type { FunctionConfig } from './environment';

export function createProjectionPromotion(
  _config: FunctionConfig<'train-similarity'>,
  _clients: { dynamo: DynamoDBClient; s3: S3Client },
): ProjectionPromotion {
  return {
    lastAutomaticPromotionAt: async () => undefined,
    promote: async () => {
      throw new Error('TEMPORARY');
    },
  };
}

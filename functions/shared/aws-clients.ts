import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';

/**
 * SDK clients, created once per process. Endpoints come from the standard AWS_ENDPOINT_URL_* variables
 * (the local stand-ins set them); the local S3 stand-in needs path-style addressing.
 */
let s3: S3Client | undefined;
let dynamo: DynamoDBClient | undefined;

export function s3Client(): S3Client {
  s3 ??= new S3Client({
    forcePathStyle: process.env.LOOKALIKE_S3_FORCE_PATH_STYLE === '1',
    // Flexible checksums are only sent when an operation requires them (s3rver stores aws-chunked bodies otherwise).
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  return s3;
}

export function dynamoClient(): DynamoDBClient {
  dynamo ??= new DynamoDBClient({});
  return dynamo;
}

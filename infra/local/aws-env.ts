/**
 * How code written for AWS talks to the local stand-ins without a code change: the SDK v3 reads
 * per-service endpoints, credentials, region and the checksum mode from the environment.
 */

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { ENV } from '../../functions/contract/environment';

export const LOCAL_REGION = 'us-east-1';
/** DynamoDB Local rejects non-alphanumeric key ids; s3rver only accepts this pair. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface LocalEndpoints {
  /** e.g. `http://127.0.0.1:4569`; an IP host, so the SDK addresses buckets path-style by itself. */
  readonly s3: string;
  readonly dynamodb: string;
}

/**
 * Environment that points every SDK v3 client created with `new XClient({})` at the stand-ins.
 *
 * - The endpoints must use an IP host: the SDK then uses path-style URLs without `forcePathStyle`
 *   (with `localhost` it would call `bucket.localhost`).
 * - `WHEN_REQUIRED` checksums: with the default, s3rver stores stream bodies with their aws-chunked
 *   framing, silently.
 * - `LOOKALIKE_S3_FORCE_PATH_STYLE=1` is only for code that must reach a non-IP host (no SDK env var
 *   exists for path style); clients that read it pass `forcePathStyle: true`.
 * - NODE_OPTIONS is not needed: s3-local serves ListObjectsV2 continuation tokens itself, without
 *   s3rver's DES (see s3rver-compat.ts). Only an s3rver run outside s3-local needs
 *   `--openssl-legacy-provider`.
 */
export function localAwsEnv(endpoints: LocalEndpoints, region = LOCAL_REGION): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    [ENV.LOOKALIKE_S3_FORCE_PATH_STYLE]: '1',
  };
}

/** An S3 client for harness code and tests (explicit config, independent of process.env). */
export function createLocalS3Client(endpoint: string, region = LOCAL_REGION): S3Client {
  return new S3Client({
    endpoint,
    region,
    credentials: LOCAL_CREDENTIALS,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export function createLocalDynamoDbClient(endpoint: string, region = LOCAL_REGION): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region, credentials: LOCAL_CREDENTIALS });
}

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { ENV } from '../contract/environment';
import { FairQueue, flowName } from './fair-queue';
import { tracer } from './tracing';

/**
 * SDK clients, created once per process and traced (platform/tracing.ts). Endpoints come from the standard AWS_ENDPOINT_URL_* variables
 * (the local stand-ins set them); the local S3 stand-in needs path-style addressing.
 */
let s3: S3Client | undefined;
let dynamo: DynamoDBClient | undefined;

/**
 * DynamoDB requests in flight per process. The agent gets as many sockets, so nothing queues
 * unfairly inside it; everything beyond waits in the fair queue, each invocation in turn. In Lambda
 * an instance serves one invocation, so this bounds that invocation's fan-out; in the local twin,
 * where one process hosts every function, it also keeps one request's flood from starving another.
 */
export const DYNAMODB_MAX_IN_FLIGHT = 32;
export const dynamoQueue = new FairQueue(DYNAMODB_MAX_IN_FLIGHT);

export function s3Client(): S3Client {
  s3 ??= tracer.captureAWSv3Client(
    new S3Client({
      forcePathStyle: process.env[ENV.LOOKALIKE_S3_FORCE_PATH_STYLE] === '1',
      // Flexible checksums are only sent when an operation requires them (s3rver stores aws-chunked bodies otherwise).
      requestChecksumCalculation: 'WHEN_REQUIRED',
    }),
  );
  return s3;
}

export function dynamoClient(): DynamoDBClient {
  if (dynamo) return dynamo;
  const agent = { keepAlive: true, maxSockets: DYNAMODB_MAX_IN_FLIGHT };
  // Traced: each call is an X-Ray subsegment (operation, table, retries) when tracing is on.
  dynamo = tracer.captureAWSv3Client(
    new DynamoDBClient({ requestHandler: { httpAgent: agent, httpsAgent: agent } }),
  );
  // Below the retry middleware: each attempt takes a slot, and a retry's back-off holds none.
  dynamo.middlewareStack.add((next) => (args) => dynamoQueue.run(flowName(), () => next(args)), {
    step: 'deserialize',
    name: 'fairQueue',
  });
  return dynamo;
}

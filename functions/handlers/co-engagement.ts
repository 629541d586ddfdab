import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { CoEngagementCounters, countRecord } from '../adapters/dynamodb/co-engagement-counters';
import { dynamoClient } from '../platform/clients';
import { inFlow } from '../platform/fair-queue';
import { observability } from '../platform/observability';
import { traced } from '../platform/tracing';
import { functionConfig } from '../wiring/environment';

/**
 * The Events table's stream consumer: adds each accepted event's co-engagement pairs to the
 * counters. A record that still fails after a few conflicts is reported alone (partial batch
 * response); the stream mapping retries from it and, after its retries, sends it to the DLQ.
 */
const { logger, metrics } = observability('co-engagement');
const counters = new CoEngagementCounters(dynamoClient(), functionConfig('co-engagement').statsTable);
const processor = new BatchProcessor(EventType.DynamoDBStreams);

async function handleRecord(record: DynamoDBRecord): Promise<void> {
  try {
    const pairs = await countRecord(counters, record);
    if (pairs > 0) metrics.addMetric('co_engagement_pairs', MetricUnit.Count, pairs);
  } catch (error) {
    metrics.addMetric('co_engagement_failure', MetricUnit.Count, 1);
    logger.warn('co-engagement update failed; the record will be retried', {
      sequenceNumber: record.dynamodb?.SequenceNumber,
      error: error as Error,
    });
    throw error;
  }
}

export const handler = (event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> =>
  traced(async () => {
    logger.addContext(context);
    try {
      return await inFlow(`co-engagement:${context.awsRequestId}`, () =>
        processPartialResponse(event, handleRecord, processor, { context }),
      );
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  });

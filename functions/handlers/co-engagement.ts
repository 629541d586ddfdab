import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { CoEngagementCounters, countBatch } from '../adapters/dynamodb/co-engagement-counters';
import { dynamoClient } from '../platform/clients';
import { inFlow } from '../platform/fair-queue';
import { observability } from '../platform/observability';
import { traced } from '../platform/tracing';
import { functionConfig } from '../wiring/environment';

/**
 * The Events table's stream consumer: adds the batch's co-engagement pairs to the counters, merged
 * per counter, each record exactly once (see countBatch). Records whose transaction still fails after
 * a few conflicts are reported (partial batch response); the stream mapping retries from the first
 * and, after its retries, sends it to the DLQ.
 */
const { logger, metrics } = observability('co-engagement');
const counters = new CoEngagementCounters(dynamoClient(), functionConfig('co-engagement').statsTable);

export const handler = (event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> =>
  traced(async () => {
    logger.addContext(context);
    try {
      const { pairs, failed, errors } = await inFlow(`co-engagement:${context.awsRequestId}`, () =>
        countBatch(counters, event.Records),
      );
      if (pairs > 0) metrics.addMetric('co_engagement_pairs', MetricUnit.Count, pairs);
      if (failed.length > 0) {
        metrics.addMetric('co_engagement_failure', MetricUnit.Count, failed.length);
        logger.warn('co-engagement update failed; the records will be retried', {
          sequenceNumbers: failed.map((record) => record.dynamodb?.SequenceNumber),
          error: errors[0] as Error,
        });
      }
      return {
        batchItemFailures: failed.map((record) => ({
          itemIdentifier: record.dynamodb?.SequenceNumber ?? '',
        })),
      };
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  });

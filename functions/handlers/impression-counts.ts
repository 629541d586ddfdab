import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { ImpressionCounters } from '../adapters/dynamodb/impression-counts';
import { DEFAULT_TRACKING_POLICY } from '../app/track-events';
import { dynamoClient } from '../platform/clients';
import { inFlow } from '../platform/fair-queue';
import { observability } from '../platform/observability';
import { traced } from '../platform/tracing';
import { functionConfig } from '../wiring/environment';

/**
 * The Impressions table's stream consumer: adds each list's items to the per-item impression
 * counts, merged per counter, each record exactly once (see ImpressionCounters). Records whose
 * transaction still fails after a few conflicts are reported (partial batch response); the stream
 * mapping retries from the first and, after its retries, sends it to the DLQ.
 */
const { logger, metrics } = observability('impression-counts');
const counters = new ImpressionCounters(
  dynamoClient(),
  functionConfig('impression-counts').statsTable,
  // Counts are weighed in popularity's frame, so ranking decays both from the same epoch.
  DEFAULT_TRACKING_POLICY.popularityEpoch,
);

export const handler = (event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> =>
  traced(async () => {
    logger.addContext(context);
    try {
      const { impressions, failed, errors } = await inFlow(`impression-counts:${context.awsRequestId}`, () =>
        counters.countBatch(event.Records),
      );
      if (impressions > 0) metrics.addMetric('impressions_counted', MetricUnit.Count, impressions);
      if (failed.length > 0) {
        metrics.addMetric('impression_count_failure', MetricUnit.Count, failed.length);
        logger.warn('impression count update failed; the records will be retried', {
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

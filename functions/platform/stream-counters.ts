import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { inFlow } from './fair-queue';
import { observability } from './observability';
import { traced } from './tracing';

/** What one batch's counting did: records it could not apply (to be retried) and why. */
export interface CountedBatch {
  failed: DynamoDBRecord[];
  errors: unknown[];
}

export interface CounterStreamOptions<T extends CountedBatch> {
  /** Powertools service name, metric namespace dimension and the fair queue's flow prefix. */
  service: string;
  /** Applies the batch's records to the counters, each record exactly once. */
  count: (records: DynamoDBRecord[]) => Promise<T>;
  /** The metric of what a batch counted, and its value (not published when 0). */
  counted: (result: T) => { metric: string; value: number };
  /** More metrics of what a batch counted (attribution's, with their dimensions). */
  publish?: (result: T, metrics: Metrics) => void;
  /** Metric and log line for records whose update failed (they are retried by the stream mapping). */
  failureMetric: string;
  failureMessage: string;
}

/**
 * A DynamoDB stream consumer that keeps counters (co-engagement, impressions): the batch is counted,
 * and records whose transaction still fails after a few conflicts are reported as a partial batch
 * response; the stream mapping retries from the first and, after its retries, sends it to the DLQ.
 */
export function counterStreamHandler<T extends CountedBatch>(
  options: CounterStreamOptions<T>,
): (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse> {
  const { logger, metrics } = observability(options.service);
  return (event, context) =>
    traced(async () => {
      logger.addContext(context);
      try {
        const result = await inFlow(`${options.service}:${context.awsRequestId}`, () =>
          options.count(event.Records),
        );
        const { metric, value } = options.counted(result);
        if (value > 0) metrics.addMetric(metric, MetricUnit.Count, value);
        options.publish?.(result, metrics);
        if (result.failed.length > 0) {
          metrics.addMetric(options.failureMetric, MetricUnit.Count, result.failed.length);
          logger.warn(options.failureMessage, {
            sequenceNumbers: result.failed.map((record) => record.dynamodb?.SequenceNumber),
            error: result.errors[0] as Error,
          });
        }
        return {
          batchItemFailures: result.failed.map((record) => ({
            itemIdentifier: record.dynamodb?.SequenceNumber ?? '',
          })),
        };
      } finally {
        if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
      }
    });
}

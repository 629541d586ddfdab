import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import {
  objectChangeOf,
  parseUploadMessage,
  TEST_EVENT,
  type UploadMessage,
} from '../adapters/s3/notifications';
import { type IngestDeps, type IngestOutcome, ingest } from '../app/ingest';
import { dynamoClient, s3Client } from '../platform/clients';
import { observability } from '../platform/observability';
import { traced } from '../platform/tracing';
import { functionConfig } from '../wiring/environment';
import { createIngestDeps } from '../wiring/ingest';

const { logger, metrics } = observability('embed');
/** The ingestion wiring's configuration, as the embed function's environment gives it. */
const config = functionConfig('embed');
const processor = new BatchProcessor(EventType.SQS);
let deps: Promise<IngestDeps> | undefined;

/** One SQS message holds one S3 notification (or S3's test event); its records are applied in order. */
async function handleMessage(message: SQSRecord): Promise<void> {
  let notification: UploadMessage;
  try {
    notification = parseUploadMessage(message.body);
  } catch (error) {
    // Retrying cannot fix it: it ends in the dead-letter queue, where this log line explains it.
    logger.warn('the message is not an S3 event notification', {
      messageId: message.messageId,
      // The parser's ParseError carries the schema's issues (which field, what is wrong) as its cause.
      error: error as Error,
    });
    throw error;
  }
  if (notification.Event === TEST_EVENT) return;
  if (!deps) {
    deps = createIngestDeps({ ...config, clients: { dynamo: dynamoClient(), s3: s3Client() } });
    // A failed load (say, a corrupt layer) must not poison every later message of this container.
    deps.catch(() => {
      deps = undefined;
    });
  }
  const ready = await deps;
  for (const record of notification.Records ?? []) {
    // Per log line, not logger.appendKeys: the batch processor runs messages concurrently, and
    // appended keys are shared by all of them.
    const keys = { s3Key: record.s3.object.key, sequencer: record.s3.object.sequencer };
    try {
      const started = performance.now();
      const change = objectChangeOf(record);
      const result: IngestOutcome =
        'ignored' in change
          ? { outcome: 'ignored', key: change.key, reason: change.ignored }
          : await ingest(ready, change);
      metrics.addMetric(`item_${result.outcome}`, MetricUnit.Count, 1);
      metrics.addMetric('ingest_ms', MetricUnit.Milliseconds, performance.now() - started);
      logger.info('ingested', { ...keys, ...result });
    } catch (error) {
      metrics.addMetric('ingest_transient_failure', MetricUnit.Count, 1);
      logger.warn('ingest failed; the message will be retried', { ...keys, error: error as Error });
      throw error;
    }
  }
}

export const handler = (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
  traced(async () => {
    logger.addContext(context);
    try {
      return await processPartialResponse(event, handleMessage, processor, {
        context,
        // A batch where every message failed is reported like any other: each is retried on its own.
        throwOnFullBatchFailure: false,
      });
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  });

import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, S3Event, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { CatalogueRepository } from '../adapters/dynamodb/item-store';
import { S3ObjectStore } from '../adapters/s3/object-store';
import { type IngestDeps, ingestRecord } from '../app/ingest';
import { ENV } from '../contract/environment';
import { DEFAULT_IMAGE_LIMITS, defaultManifestPath, Embedder } from '../embedding/embedder';
import { dynamoClient, s3Client } from '../platform/clients';
import { listEnv, numberEnv, optionalEnv, requiredEnv } from '../platform/env';
import { observability } from '../platform/observability';

const { logger, metrics } = observability('embed');
const config = {
  itemsTable: requiredEnv(ENV.ITEMS_TABLE),
  maxImageBytes: numberEnv(ENV.MAX_IMAGE_BYTES, DEFAULT_IMAGE_LIMITS.maxBytes, { min: 1 }),
  /** Models being rolled out are embedded beside the active one. */
  extraManifests: listEnv(ENV.EXTRA_MODEL_MANIFESTS),
  vectorIndexAttribute: optionalEnv(ENV.VECTOR_INDEX_ATTRIBUTE),
  vectorIndexModelId: optionalEnv(ENV.VECTOR_INDEX_MODEL_ID),
  vectorIndexDim: numberEnv(ENV.VECTOR_INDEX_DIMENSION, 0, { min: 0 }),
};
const processor = new BatchProcessor(EventType.SQS);
let deps: Promise<IngestDeps> | undefined;

async function createDeps(): Promise<IngestDeps> {
  const limits = { maxBytes: config.maxImageBytes };
  const embedders = await Promise.all(
    [defaultManifestPath(), ...config.extraManifests].map((manifestPath) =>
      Embedder.load({ manifestPath, limits }),
    ),
  );
  const vectorIndex =
    config.vectorIndexAttribute && config.vectorIndexModelId
      ? {
          attribute: config.vectorIndexAttribute,
          modelId: config.vectorIndexModelId,
          dim: config.vectorIndexDim,
        }
      : undefined;
  return {
    repository: new CatalogueRepository(dynamoClient(), config.itemsTable, vectorIndex),
    objects: new S3ObjectStore(s3Client(), config.maxImageBytes),
    embedders,
  };
}

/** One SQS message holds one S3 notification (or S3's test event); its records are applied in order. */
async function handleMessage(message: SQSRecord): Promise<void> {
  const notification = JSON.parse(message.body) as Partial<S3Event> & { Event?: string };
  if (notification.Event === 's3:TestEvent') return;
  if (!Array.isArray(notification.Records)) throw new Error('message is not an S3 event notification');
  if (!deps) {
    deps = createDeps();
    // A failed load (say, a corrupt layer) must not poison every later message of this container.
    deps.catch(() => {
      deps = undefined;
    });
  }
  const ready = await deps;
  for (const record of notification.Records) {
    // Per log line, not logger.appendKeys: the batch processor runs messages concurrently, and
    // appended keys are shared by all of them.
    const keys = { s3Key: record.s3?.object?.key, sequencer: record.s3?.object?.sequencer };
    try {
      const started = performance.now();
      const result = await ingestRecord(ready, record);
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

export async function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
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
}

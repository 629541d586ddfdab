import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { parseListedBatch } from '../adapters/s3/listed-batch';
import { type BatchReport, backfillBatch } from '../app/backfill';
import type { IngestDeps } from '../app/ingest';
import { defaultManifestPath } from '../embedding/embedder';
import { dynamoClient, s3Client } from '../platform/clients';
import { observability } from '../platform/observability';
import { traced } from '../platform/tracing';
import { functionConfig } from '../wiring/environment';
import { createIngestDeps, manifestsForModels } from '../wiring/ingest';

const { logger, metrics } = observability('reembed');
const env = functionConfig('reembed');
/** The models this function can embed with: the active one (the model layer's), then the extras. */
const knownManifests = [env.activeManifest ?? defaultManifestPath(), ...env.extraManifests];
/** One set of loaded models per selection (a container serves one execution's batches, usually one). */
const depsByModels = new Map<string, Promise<IngestDeps>>();

/** The output of a batch: its counts, which the Distributed Map's ResultWriter writes to S3. */
export interface ReembedBatchResult extends BatchReport {
  modelIds: string[];
  /** Inventory items that are not a current object (old versions, delete markers). */
  notCurrent: number;
  otherBucket: number;
}

/**
 * Some keys of the batch failed for transient trouble. Thrown after every other key was done, so
 * the map's Retry runs the batch again (done keys are then skipped: every write is conditional) and,
 * after its last try, counts it against the tolerated failure percentage. The message is the report.
 */
export class BatchIncomplete extends Error {
  constructor(readonly report: ReembedBatchResult) {
    super(JSON.stringify(report));
    this.name = 'BatchIncomplete';
  }
}

function depsFor(manifests: string[]): Promise<IngestDeps> {
  const cacheKey = manifests.join('\n');
  let deps = depsByModels.get(cacheKey);
  if (!deps) {
    const [activeManifest, ...extraManifests] = manifests;
    deps = createIngestDeps({
      itemsTable: env.itemsTable,
      maxImageBytes: env.maxImageBytes,
      ...(activeManifest ? { activeManifest } : {}),
      extraManifests,
      vectorIndex: env.vectorIndex,
      clients: { dynamo: dynamoClient(), s3: s3Client() },
      spaces: env.spaces,
    });
    depsByModels.set(cacheKey, deps);
    // A failed load (say, a corrupt layer) must not poison every later batch of this container.
    deps.catch(() => depsByModels.delete(cacheKey));
  }
  return deps;
}

/**
 * One batch of a Distributed Map over the catalogue: each listed object is brought up to date with
 * the selected models through the embed function's ingestion (`backfillBatch`), and the counts are
 * returned for the ResultWriter.
 */
export const handler = (event: unknown, context: Context): Promise<ReembedBatchResult> =>
  traced(async () => {
    logger.addContext(context);
    try {
      const batch = parseListedBatch(event, env.bucket);
      // An unknown model throws UnknownModel: the map does not retry it.
      const manifests = manifestsForModels(knownManifests, batch.input.models);
      const deps = await depsFor(manifests);
      const started = performance.now();
      const report = await backfillBatch(deps, env.bucket, batch.objects, {
        concurrency: env.keyConcurrency,
      });
      const result: ReembedBatchResult = {
        ...report,
        modelIds: deps.embedders.map((embedder) => embedder.modelId),
        notCurrent: batch.notCurrent,
        otherBucket: batch.otherBucket,
      };
      for (const [outcome, count] of Object.entries(report.outcomes))
        metrics.addMetric(`reembed_${outcome}`, MetricUnit.Count, count);
      metrics.addMetric('reembed_failed', MetricUnit.Count, report.counts.failed);
      metrics.addMetric(
        'reembed_ms_per_key',
        MetricUnit.Milliseconds,
        (performance.now() - started) / Math.max(1, batch.objects.length),
      );
      logger.info('batch done', { ...result });
      if (report.counts.failed > 0) throw new BatchIncomplete(result);
      return result;
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  });

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { CatalogueIndex } from '../adapters/s3/snapshot-index';
import { dynamoClient, s3Client } from '../platform/clients';
import { observability } from '../platform/observability';
import { traced } from '../platform/tracing';
import { functionConfig } from '../wiring/environment';
import { spaceResolver } from '../wiring/learned-space';

/**
 * The one writer of index snapshots. The items table's stream wakes it (batched over a window, with
 * a concurrency of one, so bursts of uploads make one snapshot); the payload itself is not needed:
 * everything changed since the last watermark is read from the change index. It keeps the deployed
 * model's space current and, when the spaces registry names one, its active learned projection's.
 */
const { logger, metrics } = observability('compact');
const config = functionConfig('compact');
const spaces = spaceResolver(
  { s3: s3Client(), bucket: config.bucket, ttlMs: config.spaceRefreshMs, artefacts: false },
  { modelId: config.modelId, dim: config.dim },
);
const catalogues = new Map<string, CatalogueIndex>();

export const handler = (event: DynamoDBStreamEvent): Promise<void> => traced(() => compact(event));

async function compact(event: DynamoDBStreamEvent): Promise<void> {
  const { served } = await spaces.resolve();
  const current = [...new Set([config.modelId, served])];
  for (const space of catalogues.keys()) if (!current.includes(space)) catalogues.delete(space);
  for (const space of current) {
    const started = performance.now();
    let catalogue = catalogues.get(space);
    if (!catalogue) {
      catalogue = await CatalogueIndex.load({
        dynamo: dynamoClient(),
        s3: s3Client(),
        ...config,
        modelId: space,
      });
      catalogues.set(space, catalogue);
    } else {
      await catalogue.refresh();
    }
    const { pointer, written } = await catalogue.writeSnapshot();
    metrics.addMetric('snapshot_items', MetricUnit.Count, pointer.count);
    metrics.addMetric('compaction_ms', MetricUnit.Milliseconds, performance.now() - started);
    logger.info(written ? 'snapshot written' : 'snapshot already current', {
      space,
      ...pointer,
      streamRecords: event.Records?.length ?? 0,
    });
  }
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { CatalogueIndex } from '../adapters/s3/snapshot-index';
import { dynamoClient, s3Client } from '../platform/clients';
import { observability } from '../platform/observability';
import { traced } from '../platform/tracing';
import { functionConfig } from '../wiring/environment';

/**
 * The one writer of index snapshots. The items table's stream wakes it (batched over a window, with
 * a concurrency of one, so bursts of uploads make one snapshot); the payload itself is not needed:
 * everything changed since the last watermark is read from the change index.
 */
const { logger, metrics } = observability('compact');
const config = functionConfig('compact');
let catalogue: CatalogueIndex | undefined;

export const handler = (event: DynamoDBStreamEvent): Promise<void> => traced(() => compact(event));

async function compact(event: DynamoDBStreamEvent): Promise<void> {
  const started = performance.now();
  if (!catalogue) {
    catalogue = await CatalogueIndex.load({ dynamo: dynamoClient(), s3: s3Client(), ...config });
  } else {
    await catalogue.refresh();
  }
  const { pointer, written } = await catalogue.writeSnapshot();
  metrics.addMetric('snapshot_items', MetricUnit.Count, pointer.count);
  metrics.addMetric('compaction_ms', MetricUnit.Milliseconds, performance.now() - started);
  logger.info(written ? 'snapshot written' : 'snapshot already current', {
    ...pointer,
    streamRecords: event.Records?.length ?? 0,
  });
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}

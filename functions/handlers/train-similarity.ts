import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import { type TrainingRecord, type TrainingTrigger, trainSimilarity } from '../app/train-similarity';
import { VECTOR_ATTRIBUTE } from '../contract/storage';
import { dynamoClient, s3Client } from '../platform/clients';
import { observability } from '../platform/observability';
import { traced } from '../platform/tracing';
import { functionConfig } from '../wiring/environment';
import { createProjectionPromotion } from '../wiring/learned-space';
import { createTrainSimilarityDeps } from '../wiring/train-similarity';

/**
 * The learned-similarity trainer: EventBridge's schedule invokes it (daily by default, the stack's
 * `learnedSimilarity.schedule`), an operator with `{ "trigger": "manual" }` (`npm run train`
 * locally). One run gates a projection trained on the raw events, stores its record under
 * index/learned/reports/, publishes its figures as metrics, and promotes when the gate passes
 * (scheduled runs at most once per 7 days). Returns the record.
 */
const { logger, metrics } = observability('train-similarity');
const config = functionConfig('train-similarity');

const TriggerSchema = z.union([
  z
    .object({ source: z.literal('aws.events'), 'detail-type': z.literal('Scheduled Event') })
    .transform(() => 'schedule' as const),
  z.object({ trigger: z.literal('manual') }).transform(() => 'manual' as const),
]);

/** An invocation that is neither the schedule's nor an operator's. */
export class InvalidTrainingTrigger extends Error {
  readonly code = 'invalid_trigger';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTrainingTrigger';
  }
}

export const handler = (event: unknown): Promise<TrainingRecord> => traced(() => train(event));

async function train(event: unknown): Promise<TrainingRecord> {
  const parsed = TriggerSchema.safeParse(event);
  if (!parsed.success)
    throw new InvalidTrainingTrigger('expected an EventBridge scheduled event or { "trigger": "manual" }');
  const trigger: TrainingTrigger = parsed.data;
  const started = performance.now();
  const clients = { dynamo: dynamoClient(), s3: s3Client() };
  const promotion = createProjectionPromotion(
    {
      ...clients,
      itemsTable: config.tables.items,
      bucket: config.bucket,
      settleMs: config.spaceRefreshMs,
    },
    { modelId: config.modelId, dim: config.dim },
    config.backend === 'dynamodb-vector'
      ? { modelId: config.modelId, dim: config.dim, attribute: VECTOR_ATTRIBUTE }
      : undefined,
  );
  const deps = createTrainSimilarityDeps(config, clients, promotion);
  try {
    const record = await trainSimilarity(deps, { trigger });
    const { data, figures } = record.gate;
    metrics.addMetric('training_promoted', MetricUnit.Count, record.outcome === 'promoted' ? 1 : 0);
    metrics.addMetric('training_events', MetricUnit.Count, data.events);
    metrics.addMetric('training_evaluated_users', MetricUnit.Count, data.evaluatedUsers);
    metrics.addMetric('training_similar_pairs', MetricUnit.Count, data.similarPairs);
    if (figures) {
      metrics.addMetric('training_recall_margin', MetricUnit.NoUnit, figures.margins.recall.mean);
      metrics.addMetric('training_ndcg_margin', MetricUnit.NoUnit, figures.margins.ndcg.mean);
    }
    metrics.addMetric('training_ms', MetricUnit.Milliseconds, performance.now() - started);
    logger.info('training run', {
      trigger,
      outcome: record.outcome,
      summary: record.summary,
      reportKey: record.reportKey,
      data,
    });
    return record;
  } finally {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}

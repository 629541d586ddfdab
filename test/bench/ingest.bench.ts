/**
 * `npm run bench:ingest [-- --model <dir> [--model <dir>]]`: catalogue ingestion throughput on the
 * local stack. Uploads N catalogue-like JPEGs (1000 px, built before the clock starts) to s3rver, whose
 * notifications go through the local queue (batch size as deployed, one consumer) to the real embed
 * handler on DynamoDB Local; the clock runs from the first upload to the queue drained. The last
 * stdout line is a JSON summary. Timings are reported, never asserted on.
 *
 * Each model (default: the model layer's) gets its own instance of the embed handler, configured with
 * it as the active model. With several models, BENCH_ROUNDS runs of each alternate (the order flips
 * every round) on the same stack, so the figures are side by side under the same load. For each model
 * after the first, embedder_speedup r is the first's embedder time per item over its own, and
 * target_items_per_s is issue 17's bar: 0.8 / ((1 - s) + s / r) x the first's items/s, with s the
 * first's embedder share.
 *
 * embedder_share is the time at least one Embedder.embed call was running, over the time the handler
 * was running. p50_ms_per_item is the median over invocations of handler time / records. The records
 * of a batch run concurrently and queue at the (serialised) model, so the handler's own per-record
 * `ingest_ms` (p50_record_ms) is a latency inside a batch, not a cost per item.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import type { CatalogueItem } from '../../functions/domain/catalogue-item';
import { Embedder } from '../../functions/embedding/embedder';
import { loadManifest } from '../../functions/embedding/model-manifest';
import { createLocalDynamoDbClient, createLocalS3Client } from '../../infra/local/aws-env';
import { routeObjectEvents, startLocalStack } from '../../infra/local/harness';
import { LocalQueue, type SqsBatchHandler } from '../../infra/local/queue';
import { catalogueJpeg, emojiImages } from '../support/images';
import { modelManifestsFromArgs } from './support/models';

/** Items per run (one run = one model ingesting this many new images). */
const ITEMS = Number(process.env.BENCH_ITEMS ?? 200);
const UPLOAD_CONCURRENCY = 8;
/** As deployed (CatalogueIngestion's default batch size). */
const BATCH_SIZE = 5;

type Interval = [start: number, end: number];

/** Total length of the union of intervals: overlapping calls are counted once. */
function busyMs(intervals: Interval[]): number {
  let total = 0;
  let end = Number.NEGATIVE_INFINITY;
  for (const [s, e] of [...intervals].sort((a, b) => a[0] - b[0])) {
    if (e <= end) continue;
    total += e - Math.max(s, end);
    end = e;
  }
  return total;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

interface RunFigures {
  items: number;
  seconds: number;
  embedMs: number;
  handlerMs: number;
  msPerRecord: number[];
  ingestMs: number[];
  invocations: number;
}

interface ModelUnderTest {
  manifest: string;
  modelId: string;
  handler: SqsBatchHandler;
  runs: RunFigures[];
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

async function main(): Promise<void> {
  const manifests = modelManifestsFromArgs();
  const rounds = Number(process.env.BENCH_ROUNDS ?? (manifests.length > 1 ? 3 : 1));
  const images = emojiImages();
  const log = (line: string) => process.stderr.write(`[ingest] ${line}\n`);
  log(`building ${ITEMS} catalogue JPEGs...`);
  const bodies: Buffer[] = [];
  for (let i = 0; i < ITEMS; i++) {
    bodies.push(await catalogueJpeg(images[(i * 7) % images.length]?.file ?? ''));
  }

  const stack = await startLocalStack({ bucketName: 'lookalike-bench', tablePrefix: 'bench-' });
  const s3 = createLocalS3Client(stack.endpoints.s3);
  const dynamo = createLocalDynamoDbClient(stack.endpoints.dynamodb);
  let queue: LocalQueue | undefined;
  try {
    Object.assign(process.env, stack.env, {
      ITEMS_TABLE: stack.tables.Items,
      CATALOGUE_BUCKET: stack.bucket,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });

    // Measurement only: wrap the embedder and read the handler's own per-record timing metric.
    const embedIntervals: Interval[] = [];
    const embed = Embedder.prototype.embed;
    Embedder.prototype.embed = async function (this: Embedder, bytes: Uint8Array) {
      const started = performance.now();
      try {
        return await embed.call(this, bytes);
      } finally {
        embedIntervals.push([started, performance.now()]);
      }
    };
    const ingestMs: number[] = [];
    const addMetric = Metrics.prototype.addMetric;
    Metrics.prototype.addMetric = function (this: Metrics, ...args: Parameters<Metrics['addMetric']>) {
      if (args[0] === 'ingest_ms') ingestMs.push(args[2]);
      return addMetric.apply(this, args);
    };

    // One instance of the handler module per model: it reads its environment (the active model's
    // manifest) at module load, and keeps its embedder for its lifetime, as a Lambda container does.
    const handlerModule = require.resolve('../../functions/handlers/embed');
    const models: ModelUnderTest[] = manifests.map((manifest) => {
      process.env.LOOKALIKE_MODEL_MANIFEST = manifest;
      delete require.cache[handlerModule];
      const { handler } = require(handlerModule) as { handler: SqsBatchHandler };
      return { manifest, modelId: loadManifest(manifest).manifest.modelId, handler, runs: [] };
    });

    let current: ModelUnderTest = models[0] as ModelUnderTest;
    const handlerIntervals: Interval[] = [];
    const msPerRecord: number[] = [];
    queue = new LocalQueue({
      name: 'lookalike-ingest',
      batchSize: BATCH_SIZE,
      maxReceiveCount: 3,
      visibilityTimeoutMs: 1_000,
      handler: async (event, context) => {
        const started = performance.now();
        try {
          return await current.handler(event, context);
        } finally {
          const ended = performance.now();
          handlerIntervals.push([started, ended]);
          msPerRecord.push((ended - started) / event.Records.length);
        }
      },
    });
    routeObjectEvents(stack.s3, queue, { bucket: stack.bucket });
    const repository = new CatalogueRepository(dynamo, stack.tables.Items ?? '');

    // Cold start (model load) is outside the clock: one warm-up object per model, under another prefix.
    for (const [m, model] of models.entries()) {
      current = model;
      log(`model ${m + 1}: ${model.modelId} (${model.manifest}): warm-up`);
      await s3.send(
        new PutObjectCommand({
          Bucket: stack.bucket,
          Key: `catalogue/warmup/warmup-${m}.jpg`,
          Body: bodies[0],
        }),
      );
      await queue.drain({ timeoutMs: 120_000 });
    }

    for (let run = 0; run < rounds; run++) {
      const order = run % 2 === 0 ? models : [...models].reverse();
      for (const model of order) {
        current = model;
        const m = models.indexOf(model);
        embedIntervals.length = 0;
        handlerIntervals.length = 0;
        msPerRecord.length = 0;
        ingestMs.length = 0;
        const id = (i: number) => `bench-m${m}-r${run}-${i}`;
        const started = performance.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: UPLOAD_CONCURRENCY }, async () => {
            for (let i = next++; i < ITEMS; i = next++) {
              await s3.send(
                new PutObjectCommand({
                  Bucket: stack.bucket,
                  Key: `catalogue/${id(i)}.jpg`,
                  Body: bodies[i],
                  ContentType: 'image/jpeg',
                }),
              );
            }
          }),
        );
        await queue.drain({ timeoutMs: 600_000 });
        const seconds = (performance.now() - started) / 1000;

        const items = await Promise.all(Array.from({ length: ITEMS }, (_, i) => repository.get(id(i))));
        const ready = items.filter(
          (item): item is CatalogueItem => item?.status === 'ready' && model.modelId in item.vectors,
        ).length;
        if (ready !== ITEMS || queue.dlq().length > 0) {
          throw new Error(`only ${ready} of ${ITEMS} items are ready; ${queue.dlq().length} dead letters`);
        }
        model.runs.push({
          items: ITEMS,
          seconds,
          embedMs: busyMs(embedIntervals),
          handlerMs: busyMs(handlerIntervals),
          msPerRecord: [...msPerRecord],
          ingestMs: [...ingestMs],
          invocations: handlerIntervals.length,
        });
        log(`round ${run + 1}/${rounds}, model ${m + 1}: ${round(ITEMS / seconds, 2)} items/s`);
      }
    }

    const figures = models.map((model) => {
      const items = sum(model.runs.map((r) => r.items));
      const embedMs = sum(model.runs.map((r) => r.embedMs));
      const handlerMs = sum(model.runs.map((r) => r.handlerMs));
      return {
        model_id: model.modelId,
        model_manifest: model.manifest,
        items_per_s: round(items / sum(model.runs.map((r) => r.seconds)), 2),
        items_per_s_runs: model.runs.map((r) => round(r.items / r.seconds, 2)),
        seconds: round(sum(model.runs.map((r) => r.seconds)), 2),
        embedder_share: round(embedMs / handlerMs, 3),
        embedder_ms_per_item: round(embedMs / items, 2),
        p50_ms_per_item: round(
          percentile(
            model.runs.flatMap((r) => r.msPerRecord),
            50,
          ),
        ),
        p50_record_ms: round(
          percentile(
            model.runs.flatMap((r) => r.ingestMs),
            50,
          ),
        ),
        handler_invocations: sum(model.runs.map((r) => r.invocations)),
        items,
        embedMs,
        handlerMs,
      };
    });
    const [first, ...others] = figures;
    if (!first) throw new Error('no model measured');
    const published = ({ embedMs: _e, handlerMs: _h, ...shown }: (typeof figures)[number]) => shown;
    const summary =
      others.length === 0
        ? { ...published(first), items: ITEMS, rounds, batch_size: BATCH_SIZE }
        : {
            items_per_run: ITEMS,
            rounds,
            batch_size: BATCH_SIZE,
            models: [
              published(first),
              ...others.map((other) => {
                const s = first.embedMs / first.handlerMs;
                const r = first.embedMs / first.items / (other.embedMs / other.items);
                const target = (0.8 / (1 - s + s / r)) * first.items_per_s;
                return {
                  ...published(other),
                  embedder_speedup: round(r, 2),
                  target_items_per_s: round(target, 2),
                  over_target: round(other.items_per_s / target, 3),
                };
              }),
            ],
          };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    await queue?.stop();
    s3.destroy();
    dynamo.destroy();
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

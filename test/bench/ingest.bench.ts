/**
 * `npm run bench:ingest`: catalogue ingestion throughput on the local stack. Uploads N catalogue-like
 * JPEGs (1000 px, built before the clock starts) to s3rver, whose notifications go through the local
 * queue (batch size as deployed, one consumer) to the real embed handler on DynamoDB Local; the clock
 * runs from the first upload to the queue drained. The last stdout line is a JSON summary. Timings are
 * reported, never asserted on.
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
import { createLocalDynamoDbClient, createLocalS3Client } from '../../infra/local/aws-env';
import { routeObjectEvents, startLocalStack } from '../../infra/local/harness';
import { LocalQueue, type SqsBatchHandler } from '../../infra/local/queue';
import { catalogueJpeg, emojiImages } from '../support/images';

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

async function main(): Promise<void> {
  const images = emojiImages();
  const log = (line: string) => process.stderr.write(`${line}\n`);
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

    // Loaded only now: the handler reads its environment at module load.
    const { handler } = require('../../functions/handlers/embed') as { handler: SqsBatchHandler };
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
          return await handler(event, context);
        } finally {
          const ended = performance.now();
          handlerIntervals.push([started, ended]);
          msPerRecord.push((ended - started) / event.Records.length);
        }
      },
    });
    routeObjectEvents(stack.s3, queue, { bucket: stack.bucket });

    // Cold start (model load) is outside the clock: one warm-up object first, under another prefix.
    await s3.send(
      new PutObjectCommand({ Bucket: stack.bucket, Key: 'catalogue/warmup/warmup.jpg', Body: bodies[0] }),
    );
    await queue.drain({ timeoutMs: 120_000 });
    embedIntervals.length = 0;
    handlerIntervals.length = 0;
    msPerRecord.length = 0;
    ingestMs.length = 0;

    log(`uploading ${ITEMS} images and ingesting them...`);
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: UPLOAD_CONCURRENCY }, async () => {
        for (let i = next++; i < ITEMS; i = next++) {
          await s3.send(
            new PutObjectCommand({
              Bucket: stack.bucket,
              Key: `catalogue/bench-${i}.jpg`,
              Body: bodies[i],
              ContentType: 'image/jpeg',
            }),
          );
        }
      }),
    );
    await queue.drain({ timeoutMs: 600_000 });
    const seconds = (performance.now() - started) / 1000;

    const repository = new CatalogueRepository(dynamo, stack.tables.Items ?? '');
    const items = await Promise.all(Array.from({ length: ITEMS }, (_, i) => repository.get(`bench-${i}`)));
    const ready = items.filter((item): item is CatalogueItem => item?.status === 'ready').length;
    if (ready !== ITEMS || queue.dlq().length > 0) {
      throw new Error(`only ${ready} of ${ITEMS} items are ready; ${queue.dlq().length} dead letters`);
    }

    const handlerMs = busyMs(handlerIntervals);
    const summary = {
      items: ITEMS,
      items_per_s: round(ITEMS / seconds, 2),
      seconds: round(seconds, 2),
      embedder_share: round(busyMs(embedIntervals) / handlerMs, 3),
      p50_ms_per_item: round(percentile(msPerRecord, 50)),
      p50_record_ms: round(percentile(ingestMs, 50)),
      handler_invocations: handlerIntervals.length,
      batch_size: BATCH_SIZE,
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

/**
 * `npm run bench:reembed`: the per-image cost of the distributed re-embedding's batch function, and
 * what it projects for 1M and 10M images. N catalogue-like JPEGs (1000 px, built before the clock)
 * are put in the local S3 stand-in without notifications (a bucket filled before the stack existed),
 * listed as the Distributed Map's ItemReader lists them and handed to the real reembed handler on
 * DynamoDB Local in batches of the deployed size, one batch at a time (one Lambda instance). A
 * first, smaller batch pays the cold start (model load) outside the clock.
 *
 * The projection assumes one Lambda instance does what one core of this machine does (the function
 * has 3008 MB, ~1.7 vCPU; the model runs one intra-op thread), and list prices of us-east-1; every
 * assumption is printed. The last stdout line is a JSON summary. Nothing is asserted on time.
 */
import { loadavg } from 'node:os';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import type { ListedItem } from '../../functions/adapters/s3/listed-batch';
import { CATALOGUE_PREFIX } from '../../functions/contract/storage';
import type { ReembedBatchResult } from '../../functions/handlers/reembed';
import { createLocalDynamoDbClient, createLocalS3Client } from '../../infra/local/aws-env';
import { startLocalStack } from '../../infra/local/harness';
import { lambdaContext } from '../../infra/local/lambda/context';
import { catalogueJpeg, emojiImages } from '../support/images';
import { progress, round } from './support/stats';

const ITEMS = Number(process.env.BENCH_ITEMS ?? 200);
/** As deployed: Reembedding's defaults. */
const BATCH = 100;
const CONCURRENCY = 50;
const MEMORY_MB = 3008;
const WARMUP = 5;

/** List prices, us-east-1, on-demand (USD). */
const PRICES = {
  lambdaGbSecond: 0.0000166667,
  lambdaRequest: 0.2 / 1e6,
  stepFunctionsTransition: 0.025 / 1000,
  s3Get: 0.0004 / 1000,
  s3List: 0.005 / 1000,
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
};
/** A batch is one child execution: its start, the task, its end; the parent's own few are negligible. */
const TRANSITIONS_PER_BATCH = 3;
/** Per new image: HEAD + GET of the object; one item read (eventually 1 RRU) and one write (~2 KB: 2 WRU). */
const S3_GETS_PER_IMAGE = 2;
const DYNAMO_READ_UNITS = 1;
const DYNAMO_WRITE_UNITS = 2;

type Handler = (event: unknown, context: Context) => Promise<ReembedBatchResult>;

async function main(): Promise<void> {
  const log = progress('reembed');
  const images = emojiImages();
  log(`building ${ITEMS + WARMUP} catalogue JPEGs...`);
  const bodies: Buffer[] = [];
  for (let i = 0; i < ITEMS + WARMUP; i++)
    bodies.push(await catalogueJpeg(images[(i * 7) % images.length]?.file ?? ''));

  const stack = await startLocalStack({ bucketName: 'lookalike-bench', tablePrefix: 'bench-reembed-' });
  const s3 = createLocalS3Client(stack.endpoints.s3);
  try {
    Object.assign(process.env, stack.env, {
      ITEMS_TABLE: stack.tables.Items,
      CATALOGUE_BUCKET: stack.bucket,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    // No notification routing: the objects reach no queue, only the re-embedding sees them.
    const keys = bodies.map((_, i) => `${CATALOGUE_PREFIX}bench/reembed-${i}.jpg`);
    const listed: ListedItem[] = [];
    for (const [i, key] of keys.entries()) {
      const put = await s3.send(
        new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: bodies[i], ContentType: 'image/jpeg' }),
      );
      listed.push({
        Key: key,
        Etag: put.ETag ?? '',
        Size: bodies[i]?.length ?? 0,
        LastModified: Math.floor(Date.now() / 1000),
        StorageClass: 'STANDARD',
      });
    }
    const bytesPerImage = bodies.reduce((sum, body) => sum + body.length, 0) / bodies.length;

    // Loaded only now: the handler reads its environment at module load.
    const { handler } = require('../../functions/handlers/reembed') as { handler: Handler };
    const invoke = (items: ListedItem[]) =>
      handler({ Items: items, BatchInput: { models: [], inventory: false } }, lambdaContext('reembed'));

    log('cold start: the first batch loads the model...');
    const coldStarted = performance.now();
    await invoke(listed.slice(0, WARMUP));
    const coldBatchMs = performance.now() - coldStarted;

    log(`re-embedding ${ITEMS} images in batches of ${BATCH}...`);
    const batchMs: number[] = [];
    let embedded = 0;
    const started = performance.now();
    for (let i = WARMUP; i < listed.length; i += BATCH) {
      const batchStarted = performance.now();
      const result = await invoke(listed.slice(i, i + BATCH));
      batchMs.push(performance.now() - batchStarted);
      embedded += result.counts.embedded;
    }
    const seconds = (performance.now() - started) / 1000;
    const loadAverage = loadavg()[0] ?? 0;
    if (embedded !== ITEMS) throw new Error(`only ${embedded} of ${ITEMS} images were embedded`);
    const repository = new CatalogueRepository(
      createLocalDynamoDbClient(stack.endpoints.dynamodb),
      stack.tables.Items ?? '',
    );
    if ((await repository.get(`reembed-${ITEMS + WARMUP - 1}`))?.status !== 'ready')
      throw new Error('the last image is not ready');

    log('a rerun of the same keys (nothing to write)...');
    const rerunStarted = performance.now();
    for (let i = WARMUP; i < listed.length; i += BATCH) await invoke(listed.slice(i, i + BATCH));
    const rerunMsPerImage = (performance.now() - rerunStarted) / ITEMS;

    const msPerImage = (seconds * 1000) / ITEMS;
    const project = (images: number) => {
      const batches = Math.ceil(images / BATCH);
      const lambdaSeconds = (images * msPerImage) / 1000 + (CONCURRENCY * coldBatchMs) / 1000;
      const gbSeconds = lambdaSeconds * (MEMORY_MB / 1024);
      const cost = {
        lambda_compute: gbSeconds * PRICES.lambdaGbSecond,
        lambda_requests: batches * PRICES.lambdaRequest,
        step_functions: batches * TRANSITIONS_PER_BATCH * PRICES.stepFunctionsTransition,
        s3_requests: images * S3_GETS_PER_IMAGE * PRICES.s3Get + Math.ceil(images / 1000) * PRICES.s3List,
        dynamodb:
          images * (DYNAMO_READ_UNITS * PRICES.dynamoReadUnit + DYNAMO_WRITE_UNITS * PRICES.dynamoWriteUnit),
      };
      const total = Object.values(cost).reduce((sum, usd) => sum + usd, 0);
      return {
        images,
        batches,
        wall_hours: round(lambdaSeconds / CONCURRENCY / 3600, 2),
        single_core_hours: round(lambdaSeconds / 3600, 1),
        lambda_gb_seconds: Math.round(gbSeconds),
        usd: Object.fromEntries(
          [...Object.entries(cost), ['total', total]].map(([k, v]) => [k, round(v as number, 2)]),
        ),
      };
    };
    const assumptions = {
      per_image_ms:
        'measured here, warm, batch of 100, 2 keys at once, one model; one Lambda instance = one core here',
      memory_mb: MEMORY_MB,
      concurrency: CONCURRENCY,
      batch: BATCH,
      cold_starts: `${CONCURRENCY} (one per concurrent instance), ${round(coldBatchMs)} ms each as measured here`,
      step_functions: `standard workflow, ${TRANSITIONS_PER_BATCH} state transitions per batch, no retries`,
      prices_usd: PRICES,
      not_included:
        'the ItemReader listing time (1000 keys a page), throttling, free tiers, CloudWatch Logs and X-Ray, data transfer',
    };
    const projections = [project(1_000_000), project(10_000_000)];
    process.stderr.write(`assumptions: ${JSON.stringify(assumptions, null, 2)}\n`);
    for (const p of projections)
      log(
        `${p.images.toLocaleString('en')} images: ~${p.wall_hours} h at concurrency ${CONCURRENCY} (${p.single_core_hours} h on one core), ~$${p.usd.total} (Lambda $${p.usd.lambda_compute}, Step Functions $${p.usd.step_functions})`,
      );
    const summary = {
      items: ITEMS,
      image_kb: round(bytesPerImage / 1024, 1),
      per_image_ms: round(msPerImage, 1),
      rerun_per_image_ms: round(rerunMsPerImage, 2),
      cold_batch_ms: round(coldBatchMs),
      /** Over the last minute of the run: above the core count, other work inflated per_image_ms. */
      load_average_1m: round(loadAverage),
      batch_ms: batchMs.map((ms) => round(ms)),
      projections,
      assumptions,
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    s3.destroy();
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/**
 * `npm run bench:coldstart`: the recommend function's cold start and memory on the local stack, at
 * 100k, 500k and 1M catalogue items and at 128 and 256 dimensions (COLDSTART_SIZES=100k,500k,1m,
 * COLDSTART_DIMS=128,256; BENCH_COLD_RUNS=3 cold starts per point, the median reported;
 * COLDSTART_FORMAT=5 (int16 rows), 4 or 3 (float32 rows) stores an older format instead, quantised
 * to int8 at load, for a before/after in one run; COLDSTART_LAYOUT=0 stores a format-6 pointer
 * without its snapshot's layout, as written before it had one: the snapshot is then read into one
 * buffer and its rows copied, instead of downloaded straight into the index).
 *
 * For each dimension, the index snapshot of each size is built as the compactor builds it
 * (ExactIndex.upsert of every item, ExactIndex.serialise: format 6) from seeded synthetic unit
 * vectors (FastSyntheticVectors: 200 styles, row r of style r % 200), and stored with its pointer
 * as CatalogueIndex.writeSnapshot stores them. The items table holds the rows a list can show: every
 * item of the two styles the user likes (1% of the catalogue), in the format
 * CatalogueRepository.putIfNewer writes, the last minute of them after the snapshot's watermark minus
 * the change feed's overlap, so a load applies about 60 changes as it would in service. Items are
 * old (published over a year ago): no exploration slot asks for a row that is not there. One user per
 * dimension gets a profile through the track core (recordEvents).
 *
 * Then a fresh `node` process loads the esbuild bundle of functions/handlers/recommend.ts (built as
 * deployed: CJS from the packages' ES module builds, minified, the SDK bundled, the native modules
 * external) and asks for that user's recommendations twice. It runs as Lambda's Node.js runtime runs
 * the function the stack sizes for that catalogue (recommendMemoryMb): with the runtime's options
 * for that memory (lambdaNodeArgs: young and old generation sizes, --expose-gc) and
 * AWS_LAMBDA_FUNCTION_MEMORY_SIZE. cold_ms is the time from the child's start to its first response, which must
 * be `personal` and list the same items in the same order as the warm second response. The phases:
 * boot (node itself), module load (require of the bundle), and the first request, with the handler's
 * own 'vector index loaded' log line: pointer, download, build (decode + index), change feed (read
 * beside the download) and the load's wall clock (index_load_ms). The load starts with the request
 * and runs beside its reads (profile, page, aggregates); request_rest_ms is the first request's time
 * outside it (the search, item views and impression after it, and whatever did not overlap).
 *
 * Memory: the child's peak RSS after its first response. A first child over a 1k-item snapshot gives
 * the base (runtime, SDK, code); MB per item at a size is (peak - base) / items. The fit over all sizes
 * (least squares, per dimension) gives the figures infra/constructs/recommend-capacity.ts sizes the
 * function with, printed at the end. cold_cpu_ms is the child's CPU time to its first answer, a
 * figure a shared machine inflates less than the wall clock. Progress goes to stderr; a table and, last, one JSON object go
 * to stdout. Timings are never asserted on.
 */
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CHANGE_FEED, vectorToBytes } from '../../functions/adapters/dynamodb/item-table';
import { ProfileStore, storeTablesOf } from '../../functions/adapters/dynamodb/profile-store';
import {
  type IndexLoad,
  type SnapshotPointer,
  snapshotPrefix,
} from '../../functions/adapters/s3/snapshot-index';
import { DEFAULT_TRACKING_POLICY, recordEvents } from '../../functions/app/track-events';
import type { CatalogueItem } from '../../functions/domain/catalogue-item';
import { DEFAULT_PROFILE_SETTINGS } from '../../functions/domain/interest-profile';
import { defaultManifestPath } from '../../functions/embedding/embedder';
import { loadManifest } from '../../functions/embedding/model-manifest';
import { ExactIndex, SNAPSHOT_VERSION, snapshotLayout } from '../../functions/vector-index';
import { EXTERNAL_MODULES } from '../../infra/constructs/model-layers';
import { recommendMemoryMb } from '../../infra/constructs/recommend-capacity';
import { createLocalDynamoDbClient, createLocalS3Client } from '../../infra/local/aws-env';
import { startLocalStack } from '../../infra/local/harness';
import { bundleForNode, lambdaNodeArgs, REPO_ROOT, runNodeChild, scratchDir } from './support/child-process';
import { median, progress, round } from './support/stats';
import { FastSyntheticVectors } from './support/synthetic-vectors';

const SIZES = { '100k': 100_000, '500k': 500_000, '1m': 1_000_000 } as const;
type SizeLabel = keyof typeof SIZES;
/** The catalogue the base memory is measured over: small enough to be all runtime and code. */
const BASE_ITEMS = 1_000;
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 3);
/** COLDSTART_FORMAT=5 (int16 rows), 4 (float32 rows and an int8 copy) or 3 (float32 rows), for a before/after. */
const FORMAT = Number(process.env.COLDSTART_FORMAT ?? SNAPSHOT_VERSION) as 3 | 4 | 5 | 6;
const WRITE_BATCH = 25;
const WRITES_IN_FLIGHT = 8;
const STYLES = 200;
/** The two styles the user likes; their items are the rows in the items table. */
const LIKED_STYLES = [12, 77];
const LIKED = [12, 212, 412, 77, 277, 477];
/** The change feed's default overlap (CatalogueIndex), which a load re-reads behind the watermark. */
const OVERLAP_MS = 60_000;
const YEAR_MS = 365 * 86_400_000;

const log = progress('coldstart');

interface ChildReport {
  bootMs: number;
  requireMs: number;
  firstRequestMs: number;
  coldMs: number;
  warmMs: number;
  peakRssMb: number;
  cpuMs: number;
  indexLoad?: IndexLoad;
  first: { statusCode?: number; strategy?: string; itemIds: string[]; body?: string };
  second: { statusCode?: number; strategy?: string; itemIds: string[]; body?: string };
}

interface Point {
  dim: number;
  items: number;
  /** The recommend function's memory at this size (recommendMemoryMb): the child's node options follow it. */
  memory_mb: number;
  cold_ms: number;
  /** The child's CPU time (user + system) to its first answer: cold_ms on an idle machine, roughly. */
  cold_cpu_ms: number;
  mb_per_item: number;
  peak_rss_mb: number;
  snapshot_mb: number;
  boot_ms: number;
  module_load_ms: number;
  pointer_ms: number;
  download_ms: number;
  build_ms: number;
  change_feed_ms: number;
  change_feed_rows: number;
  /** The load's wall clock, pointer to index ready (the change feed runs beside the download). */
  index_load_ms: number;
  /** The first request's time outside the index load (before it starts, after it ends). */
  request_rest_ms: number;
  warm_ms: number;
}

const itemId = (row: number) => `item-${String(row).padStart(7, '0')}`;
const categoryOf = (row: number) => `category-${row % 40}`;
const priceOf = (row: number) => 10 + (row % 90);

/** A catalogue item as ingestion creates it (see functions/app/ingest.ts). */
function catalogueItem(row: number, vector: Float32Array, modelId: string, changedAt: number): CatalogueItem {
  return {
    itemId: itemId(row),
    title: `Item ${row}`,
    category: categoryOf(row),
    price: priceOf(row),
    available: true,
    status: 'ready',
    source: {
      bucket: 'lookalike-coldstart',
      key: `catalogue/${itemId(row)}.jpg`,
      etag: row.toString(16).padStart(32, '0'),
      size: 120_000,
      sequencer: changedAt.toString(16).toUpperCase().padStart(16, '0'),
      eventAt: changedAt,
    },
    vectors: { [modelId]: vector },
    dim: vector.length,
    createdAt: changedAt,
    updatedAt: changedAt,
  };
}

/**
 * The row CatalogueRepository.putIfNewer writes for an item (no vector index configured), published
 * a year before its change.
 */
function itemRow(item: CatalogueItem, changedAt: number): Record<string, unknown> {
  return {
    ...item,
    publishedAt: changedAt - YEAR_MS,
    vectors: Object.fromEntries(Object.entries(item.vectors).map(([model, v]) => [model, vectorToBytes(v)])),
    changeFeed: CHANGE_FEED,
    changedAt,
  };
}

async function writeRows(documents: DynamoDBDocumentClient, table: string, rows: Record<string, unknown>[]) {
  let next = 0;
  const writer = async () => {
    while (next < rows.length) {
      const first = next;
      next = Math.min(rows.length, first + WRITE_BATCH);
      let requests = rows.slice(first, next).map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt > 0)
          await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
        const result = await documents.send(new BatchWriteCommand({ RequestItems: { [table]: requests } }));
        requests = (result.UnprocessedItems?.[table] ?? []) as typeof requests;
      }
    }
  };
  await Promise.all(Array.from({ length: WRITES_IN_FLIGHT }, writer));
}

/** The snapshot of rows [0, items), as the compactor writes it, and its pointer. */
async function storeSnapshot(
  s3: S3Client,
  bucket: string,
  modelId: string,
  vectors: FastSyntheticVectors,
  items: number,
  watermark: number,
): Promise<number> {
  const index = new ExactIndex(vectors.dim, { initialCapacity: items });
  const vector = new Float32Array(vectors.dim);
  const publishedAt = watermark - YEAR_MS;
  for (let row = 0; row < items; row++) {
    index.upsert(itemId(row), vectors.vector(row, vector), {
      category: categoryOf(row),
      available: true,
      publishedAt,
      price: priceOf(row),
    });
  }
  const body = index.serialise(FORMAT);
  const key = `${snapshotPrefix(modelId)}snapshot-${String(watermark).padStart(15, '0')}-${items}.bin`;
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/octet-stream' }),
  );
  const layout = snapshotLayout(body);
  const pointer: SnapshotPointer = {
    key,
    watermark,
    count: items,
    modelId,
    createdAt: watermark,
    format: FORMAT,
    bytes: body.byteLength,
    // COLDSTART_LAYOUT=0: a pointer as written before layouts, whose snapshot is read into one buffer.
    ...(layout && process.env.COLDSTART_LAYOUT !== '0' ? { layout } : {}),
  };
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: `${snapshotPrefix(modelId)}latest.json`,
      Body: JSON.stringify(pointer),
      ContentType: 'application/json',
    }),
  );
  return body.byteLength;
}

async function giveUserAProfile(
  dynamo: DynamoDBClient,
  tables: Record<string, string>,
  userId: string,
  modelId: string,
  dim: number,
) {
  const store = new ProfileStore(dynamo, storeTablesOf(tables), modelId);
  const results = await recordEvents(
    {
      store,
      policy: { ...DEFAULT_TRACKING_POLICY, settings: DEFAULT_PROFILE_SETTINGS },
      space: modelId,
      dim,
    },
    LIKED.map((row, i) => ({ eventId: `like-${dim}-${i}`, userId, itemId: itemId(row), type: 'like' })),
  );
  const refused = results.filter((r) => r.status !== 'accepted');
  if (refused.length > 0) throw new Error(`events not accepted: ${JSON.stringify(refused)}`);
  const stored = await store.getProfile(userId);
  if (!stored || stored.profile.centroids.length === 0) throw new Error('the user has no interest profile');
}

/** Least squares y = slope * x + intercept. */
function straightLine(points: ReadonlyArray<readonly [number, number]>) {
  const n = points.length;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - meanX) * (y - meanY);
    sxx += (x - meanX) ** 2;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return { slope, intercept: meanY - slope * meanX };
}

async function main(): Promise<void> {
  const labels = (process.env.COLDSTART_SIZES?.split(',') ?? Object.keys(SIZES)) as SizeLabel[];
  for (const label of labels) {
    if (!(label in SIZES)) throw new Error(`unknown size ${label}; use ${Object.keys(SIZES).join(',')}`);
  }
  const sizes = labels.map((label) => SIZES[label]).sort((a, b) => a - b);
  const dims = (process.env.COLDSTART_DIMS ?? '128,256').split(',').map(Number);
  const manifestPath = defaultManifestPath();
  const { manifest } = loadManifest(manifestPath);
  const largest = Math.max(...sizes);
  // Every snapshot's watermark: its rows' changes end a minute after it (see the header).
  const watermark = Date.now() - 3_600_000;

  const dir = scratchDir('coldstart-bench');
  const stack = await startLocalStack({ bucketName: 'lookalike-coldstart', tablePrefix: 'coldstart-' });
  const dynamo = createLocalDynamoDbClient(stack.endpoints.dynamodb);
  const s3: S3Client = createLocalS3Client(stack.endpoints.s3);
  try {
    log('bundling functions/handlers/recommend.ts and the child');
    const handlerBundle = await bundleForNode(
      join(REPO_ROOT, 'functions/handlers/recommend.ts'),
      join(dir, 'recommend/index.js'),
      { external: EXTERNAL_MODULES, minify: true },
    );
    const childScript = await bundleForNode(
      join(__dirname, 'support/recommend-cold-start.ts'),
      join(dir, 'child.js'),
      { external: [] },
    );
    const tables = stack.tables as Record<string, string>;
    const documents = DynamoDBDocumentClient.from(dynamo, {
      marshallOptions: { removeUndefinedValues: true },
    });

    const points: Point[] = [];
    if (![3, 4, 5, 6].includes(FORMAT)) throw new Error(`COLDSTART_FORMAT ${FORMAT}: use 3, 4, 5 or 6`);
    const report: Record<string, unknown> = {
      cold_runs: COLD_RUNS,
      model_id: manifest.modelId,
      snapshot_format: FORMAT,
    };
    const capacity: Record<string, unknown> = {};
    for (const dim of dims) {
      // The manifest's own space at its dimension; a bench space at any other (recommend only needs
      // the id and the dimension, image search is not asked).
      const modelId = dim === manifest.output.dim ? manifest.modelId : `coldstart-bench-${dim}d`;
      const userId = `coldstart-user-${dim}`;
      const vectors = new FastSyntheticVectors(dim, 20_260_101, STYLES);

      const shown: number[] = [];
      for (let row = 0; row < largest; row++) if (LIKED_STYLES.includes(row % STYLES)) shown.push(row);
      log(`${dim}-d: writing the ${shown.length} rows of the liked styles`);
      const rows = shown.map((row, k) => {
        // The last minute of them lands after the snapshot's watermark minus the overlap.
        const changedAt = watermark - OVERLAP_MS + 60_000 - (shown.length - 1 - k) * 1000;
        return itemRow(catalogueItem(row, vectors.vector(row), modelId, changedAt), changedAt);
      });
      await writeRows(documents, tables.Items as string, rows);
      await giveUserAProfile(dynamo, tables, userId, modelId, dim);

      const childEnv: Record<string, string> = {
        ...stack.env,
        ITEMS_TABLE: tables.Items as string,
        PROFILES_TABLE: tables.Profiles as string,
        STATS_TABLE: tables.Stats as string,
        EVENTS_TABLE: tables.Events as string,
        IMPRESSIONS_TABLE: tables.Impressions as string,
        RULES_TABLE: tables.Rules as string,
        CATALOGUE_BUCKET: stack.bucket,
        ACTIVE_MODEL_ID: modelId,
        MODEL_DIMENSION: String(dim),
        LOOKALIKE_MODEL_MANIFEST: manifestPath,
        // INFO: the child reads the handler's 'vector index loaded' line (and prints no log).
        POWERTOOLS_LOG_LEVEL: 'INFO',
        POWERTOOLS_METRICS_DISABLED: 'true',
        ...(process.env.COLDSTART_TRACE ? { COLDSTART_TRACE: process.env.COLDSTART_TRACE } : {}),
      };
      // Each child runs as Lambda runs the function the stack sizes for that catalogue: with the
      // runtime's node options for its memory, and the variable saying it.
      const coldStarts = async (label: string, items: number) => {
        const memoryMb = recommendMemoryMb(items, dim);
        const runs: ChildReport[] = [];
        for (let run = 0; run < COLD_RUNS; run++) {
          const { report: child } = await runNodeChild<ChildReport>(
            childScript,
            [handlerBundle, userId],
            { ...childEnv, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb) },
            lambdaNodeArgs(memoryMb),
          );
          const { first, second } = child;
          if (first.statusCode !== 200 || first.strategy !== 'personal' || first.itemIds.length === 0) {
            throw new Error(`first answer is not a personal list: ${JSON.stringify(first)}`);
          }
          if (second.statusCode !== 200 || JSON.stringify(second.itemIds) !== JSON.stringify(first.itemIds)) {
            throw new Error(
              `cold and warm answers differ: ${JSON.stringify(first)} vs ${JSON.stringify(second)}`,
            );
          }
          if (child.indexLoad?.format !== FORMAT) {
            throw new Error(`the snapshot was not loaded: ${JSON.stringify(child.indexLoad)}`);
          }
          log(
            `${label}: cold run ${run + 1}/${COLD_RUNS}: ${round(child.coldMs, 0)} ms (boot ${round(child.bootMs, 0)}, module load ${round(child.requireMs, 0)}, first request ${round(child.firstRequestMs, 0)}: ${JSON.stringify(child.indexLoad)}; peak RSS ${round(child.peakRssMb, 0)} MB)`,
          );
          runs.push(child);
        }
        return runs;
      };

      log(`${dim}-d: base memory over ${BASE_ITEMS} items`);
      await storeSnapshot(s3, stack.bucket, modelId, vectors, BASE_ITEMS, watermark);
      const baseRssMb = median((await coldStarts(`${dim}-d base`, BASE_ITEMS)).map((run) => run.peakRssMb));

      const dimPoints: Point[] = [];
      for (const items of sizes) {
        const label = `${dim}-d ${items}`;
        log(`${label}: building and storing the snapshot`);
        const started = performance.now();
        const snapshotBytes = await storeSnapshot(s3, stack.bucket, modelId, vectors, items, watermark);
        log(
          `${label}: ${round(snapshotBytes / 1e6, 0)} MB in ${round((performance.now() - started) / 1000, 1)} s`,
        );
        const runs = await coldStarts(label, items);
        const m = (pick: (run: ChildReport) => number) => round(median(runs.map(pick)), 1);
        const loadOf = (run: ChildReport) => run.indexLoad as IndexLoad;
        const peak = median(runs.map((run) => run.peakRssMb));
        const point: Point = {
          dim,
          items,
          memory_mb: recommendMemoryMb(items, dim),
          cold_ms: m((run) => run.coldMs),
          cold_cpu_ms: m((run) => run.cpuMs),
          mb_per_item: round((peak - baseRssMb) / items, 6),
          peak_rss_mb: round(peak, 0),
          snapshot_mb: round(snapshotBytes / 1e6, 1),
          boot_ms: m((run) => run.bootMs),
          module_load_ms: m((run) => run.requireMs),
          pointer_ms: m((run) => loadOf(run).pointerMs),
          download_ms: m((run) => loadOf(run).downloadMs),
          build_ms: m((run) => loadOf(run).buildMs),
          change_feed_ms: m((run) => loadOf(run).changeFeedMs),
          change_feed_rows: loadOf(runs[0] as ChildReport).changedRows,
          index_load_ms: m((run) => loadOf(run).totalMs),
          request_rest_ms: m((run) => run.firstRequestMs - loadOf(run).totalMs),
          warm_ms: m((run) => run.warmMs),
        };
        log(`${label}: ${JSON.stringify(point)}`);
        dimPoints.push(point);
        points.push(point);
        report[`cold_ms_${Object.keys(SIZES).find((key) => SIZES[key as SizeLabel] === items)}_${dim}d`] =
          point.cold_ms;
      }
      // The stack's sizing inputs (infra/constructs/recommend-capacity.ts): memory and cold start
      // as straight lines in the item count.
      const memory = straightLine(dimPoints.map((p) => [p.items, p.peak_rss_mb] as const));
      // CPU time, not the wall clock: on a shared machine the wall clock measures the other work too.
      const cold = straightLine(dimPoints.map((p) => [p.items, p.cold_cpu_ms] as const));
      const wall = straightLine(dimPoints.map((p) => [p.items, p.cold_ms] as const));
      capacity[`${dim}d`] = {
        base_rss_mb: round(baseRssMb, 0),
        mb_per_item: round(memory.slope, 7),
        rss_intercept_mb: round(memory.intercept, 0),
        cold_cpu_ms_per_million_items: round(cold.slope * 1e6, 0),
        cold_cpu_ms_intercept: round(cold.intercept, 0),
        items_at_2s_cold_cpu: cold.slope > 0 ? Math.round((2000 - cold.intercept) / cold.slope) : null,
        cold_wall_ms_per_million_items: round(wall.slope * 1e6, 0),
        cold_wall_ms_intercept: round(wall.intercept, 0),
      };
    }
    const manifestDim = manifest.output.dim;
    const headline = points.find((p) => p.items === SIZES['100k'] && p.dim === manifestDim);
    if (headline) {
      report.cold_ms_100k = headline.cold_ms;
      report.cold_cpu_ms_100k = headline.cold_cpu_ms;
    }
    report.load_average = loadavg().map((load) => round(load, 2));
    report.capacity = capacity;
    report.points = points;

    const columns = [
      'dim',
      'items',
      'cold_ms',
      'cold_cpu_ms',
      'mb_per_item',
      'peak_rss_mb',
      'snapshot_mb',
      'module_load_ms',
      'download_ms',
      'build_ms',
      'change_feed_ms',
      'index_load_ms',
      'request_rest_ms',
    ] as const;
    process.stdout.write(`${columns.join('\t')}\n`);
    for (const point of points) process.stdout.write(`${columns.map((c) => point[c]).join('\t')}\n`);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    dynamo.destroy();
    s3.destroy();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});

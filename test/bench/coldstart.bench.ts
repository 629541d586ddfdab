/**
 * `npm run bench:coldstart`: the recommend function's cold start on the local stack, at 10k and
 * 100k catalogue items (COLDSTART_SIZES=10k,100k).
 *
 * The items table is filled with synthetic unit vectors at the manifest dimension, in the row format
 * CatalogueRepository.putIfNewer writes; the catalogue is back-dated (one change a second, the last
 * an hour ago), so the snapshot's change-feed overlap at load holds about a minute of changes. The
 * index snapshot is written as the compactor writes it (CatalogueIndex.load + writeSnapshot), and one
 * user gets a profile through the track core (recordEvents). Then a fresh `node` process loads the
 * esbuild bundle of functions/handlers/recommend.ts (built as deployed: CJS, minified, the SDK
 * bundled, the native modules external) and asks for that user's recommendations twice; cold_ms is the time
 * from the child's start to its first response, which must be `personal` and list the same items in
 * the same order as the warm second response.
 *
 * The where-does-the-time-go figures (load_*) are the same steps as CatalogueIndex.load, timed in
 * this (warm) process. Progress goes to stderr; the last stdout line is one JSON object. Timings are
 * never asserted on.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import { CHANGE_FEED, vectorToBytes } from '../../functions/adapters/dynamodb/item-table';
import { ProfileStore, storeTablesOf } from '../../functions/adapters/dynamodb/profile-store';
import {
  CatalogueIndex,
  type CatalogueIndexDeps,
  readPointer,
} from '../../functions/adapters/s3/snapshot-index';
import { DEFAULT_TRACKING_POLICY, recordEvents } from '../../functions/app/track-events';
import type { CatalogueItem } from '../../functions/domain/catalogue-item';
import { DEFAULT_PROFILE_SETTINGS } from '../../functions/domain/interest-profile';
import { defaultManifestPath } from '../../functions/embedding/embedder';
import { loadManifest } from '../../functions/embedding/model-manifest';
import { ExactIndex } from '../../functions/vector-index';
import { EXTERNAL_MODULES } from '../../infra/constructs/model-layers';
import { createLocalDynamoDbClient, createLocalS3Client } from '../../infra/local/aws-env';
import { startLocalStack } from '../../infra/local/harness';
import { bundleForNode, REPO_ROOT, runNodeChild, scratchDir } from './support/child-process';
import { median, progress, round } from './support/stats';
import { SyntheticVectors } from './support/synthetic-vectors';

const SIZES = { '10k': 10_000, '100k': 100_000 } as const;
type SizeLabel = keyof typeof SIZES;
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 5);
const BREAKDOWN_REPEATS = 3;
const WRITE_BATCH = 25;
const WRITES_IN_FLIGHT = 8;
/** One catalogue change a second, the last one an hour before the bench started. */
const CHANGE_STEP_MS = 1000;
const USER_ID = 'coldstart-user';
/** The items the user likes: three of style 12 and three of style 77 (see SyntheticVectors). */
const LIKED = [12, 212, 412, 77, 277, 477];

const log = progress('coldstart');

interface ChildReport {
  bootMs: number;
  requireMs: number;
  firstRequestMs: number;
  coldMs: number;
  warmMs: number;
  first: { statusCode?: number; strategy?: string; itemIds: string[]; body?: string };
  second: { statusCode?: number; strategy?: string; itemIds: string[]; body?: string };
}

const itemId = (row: number) => `item-${String(row).padStart(6, '0')}`;

/** A catalogue item as ingestion creates it (see functions/app/ingest.ts). */
function catalogueItem(row: number, vector: Float32Array, modelId: string, changedAt: number): CatalogueItem {
  return {
    itemId: itemId(row),
    title: `Item ${row}`,
    category: `category-${row % 40}`,
    price: 10 + (row % 90),
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

/** The row CatalogueRepository.putIfNewer writes for an item (no vector index configured). */
function itemRow(item: CatalogueItem, changedAt: number): Record<string, unknown> {
  return {
    ...item,
    vectors: Object.fromEntries(Object.entries(item.vectors).map(([model, v]) => [model, vectorToBytes(v)])),
    changeFeed: CHANGE_FEED,
    changedAt,
  };
}

async function writeItems(
  documents: DynamoDBDocumentClient,
  table: string,
  rows: { from: number; to: number },
  itemAt: (row: number) => { item: CatalogueItem; changedAt: number },
): Promise<void> {
  let next = rows.from;
  let written = 0;
  const started = performance.now();
  const writer = async () => {
    while (next < rows.to) {
      const first = next;
      const end = Math.min(rows.to, first + WRITE_BATCH);
      next = end;
      let requests = Array.from({ length: end - first }, (_, i) => {
        const { item, changedAt } = itemAt(first + i);
        return { PutRequest: { Item: itemRow(item, changedAt) } };
      });
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt > 0)
          await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
        const result = await documents.send(new BatchWriteCommand({ RequestItems: { [table]: requests } }));
        requests = (result.UnprocessedItems?.[table] ?? []) as typeof requests;
      }
      written += end - first;
      if (written % 10_000 < WRITE_BATCH) {
        log(
          `  ${rows.from + written} items written (${Math.round(written / ((performance.now() - started) / 1000))}/s)`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: WRITES_IN_FLIGHT }, writer));
}

/**
 * The steps of CatalogueIndex.load one by one, in this (warm) process, median of a few repeats:
 * pointer read, snapshot download, deserialise (int8 re-quantisation included), and the change-feed
 * read after the watermark (a refresh of a loaded index re-reads the same overlap window).
 */
async function loadBreakdown(deps: CatalogueIndexDeps) {
  const pointerMs: number[] = [];
  const downloadMs: number[] = [];
  const deserialiseMs: number[] = [];
  const changeFeedMs: number[] = [];
  let snapshotBytes = 0;
  let items = 0;
  let changedRows = 0;
  for (let repeat = 0; repeat < BREAKDOWN_REPEATS; repeat++) {
    const pointer = await time(pointerMs, () => readPointer(deps.s3, deps.bucket, deps.modelId));
    if (!pointer) throw new Error('no snapshot pointer');
    const bytes = await time(downloadMs, async () => {
      const object = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: pointer.key }));
      return object.Body?.transformToByteArray();
    });
    if (!bytes) throw new Error('empty snapshot');
    snapshotBytes = bytes.byteLength;
    items = (await time(deserialiseMs, () => ExactIndex.deserialise(bytes))).size;
  }
  const catalogue = await CatalogueIndex.load(deps);
  for (let repeat = 0; repeat < BREAKDOWN_REPEATS; repeat++) {
    changedRows = await time(changeFeedMs, () => catalogue.refresh());
  }
  return {
    snapshot_mb: round(snapshotBytes / 1e6, 1),
    items,
    load_pointer_ms: round(median(pointerMs), 1),
    load_download_ms: round(median(downloadMs), 1),
    load_deserialise_ms: round(median(deserialiseMs), 1),
    load_change_feed_ms: round(median(changeFeedMs), 1),
    change_feed_rows: changedRows,
  };
}

async function time<T>(samples: number[], work: () => Promise<T> | T): Promise<T> {
  const started = performance.now();
  const result = await work();
  samples.push(performance.now() - started);
  return result;
}

async function giveUserAProfile(
  dynamo: DynamoDBClient,
  tables: Record<string, string>,
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
    LIKED.map((row, i) => ({ eventId: `like-${i}`, userId: USER_ID, itemId: itemId(row), type: 'like' })),
  );
  const refused = results.filter((r) => r.status !== 'accepted');
  if (refused.length > 0) throw new Error(`events not accepted: ${JSON.stringify(refused)}`);
  const stored = await store.getProfile(USER_ID);
  if (!stored || stored.profile.centroids.length === 0) throw new Error('the user has no interest profile');
  return stored.profile.centroids.length;
}

async function main(): Promise<void> {
  const labels = (process.env.COLDSTART_SIZES?.split(',') ?? Object.keys(SIZES)) as SizeLabel[];
  for (const label of labels) {
    if (!(label in SIZES)) throw new Error(`unknown size ${label}; use ${Object.keys(SIZES).join(',')}`);
  }
  const manifestPath = defaultManifestPath();
  const { manifest } = loadManifest(manifestPath);
  const { modelId } = manifest;
  const { dim } = manifest.output;
  const largest = Math.max(...labels.map((label) => SIZES[label]));
  const firstChangeAt = Date.now() - 3_600_000 - largest * CHANGE_STEP_MS;
  const vectors = new SyntheticVectors(dim, 20_260_101);

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
      {
        external: [],
      },
    );
    const tables = stack.tables as Record<string, string>;
    const childEnv: Record<string, string> = {
      ...stack.env,
      ITEMS_TABLE: tables.Items as string,
      PROFILES_TABLE: tables.Profiles as string,
      STATS_TABLE: tables.Stats as string,
      // Recommend reads these too (a refold, the lists' impressions, the merchandising rules).
      EVENTS_TABLE: tables.Events as string,
      IMPRESSIONS_TABLE: tables.Impressions as string,
      RULES_TABLE: tables.Rules as string,
      CATALOGUE_BUCKET: stack.bucket,
      ACTIVE_MODEL_ID: modelId,
      MODEL_DIMENSION: String(dim),
      LOOKALIKE_MODEL_MANIFEST: manifestPath,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    };
    const documents = DynamoDBDocumentClient.from(dynamo, {
      marshallOptions: { removeUndefinedValues: true },
    });
    const repository = new CatalogueRepository(dynamo, tables.Items as string);
    const deps: CatalogueIndexDeps = {
      dynamo,
      s3,
      itemsTable: tables.Items as string,
      bucket: stack.bucket,
      modelId,
      dim,
    };
    const itemAt = (row: number) => {
      const changedAt = firstChangeAt + row * CHANGE_STEP_MS;
      return { item: catalogueItem(row, vectors.vector(row), modelId, changedAt), changedAt };
    };

    const report: Record<string, unknown> = { dim, model_id: modelId, cold_runs: COLD_RUNS };
    let loaded = 0;
    let profileCentroids = 0;
    for (const label of [...labels].sort((a, b) => SIZES[a] - SIZES[b])) {
      const size = SIZES[label];
      log(
        `${label}: writing items ${loaded}..${size - 1} (batches of ${WRITE_BATCH}, ${WRITES_IN_FLIGHT} in flight)`,
      );
      const writeStarted = performance.now();
      await writeItems(documents, tables.Items as string, { from: loaded, to: size }, itemAt);
      log(`${label}: ${size - loaded} items in ${round((performance.now() - writeStarted) / 1000, 1)} s`);
      loaded = size;
      // The rows must read back as the repository's own items, or the bench would test another format.
      const sample = itemAt(size - 1).item;
      const readBack = await repository.get(sample.itemId);
      const sampleVector = sample.vectors[modelId] as Float32Array;
      if (
        readBack?.status !== 'ready' ||
        readBack.category !== sample.category ||
        !Buffer.from((readBack.vectors[modelId] as Float32Array).buffer).equals(
          Buffer.from(sampleVector.buffer),
        )
      ) {
        throw new Error(`item ${sample.itemId} does not read back as written`);
      }

      log(`${label}: compacting (CatalogueIndex.load + writeSnapshot)`);
      const compactStarted = performance.now();
      const compactor = await CatalogueIndex.load(deps);
      const { pointer } = await compactor.writeSnapshot();
      const compactMs = performance.now() - compactStarted;
      if (pointer.count !== size) throw new Error(`snapshot holds ${pointer.count} items, not ${size}`);
      log(
        `${label}: snapshot of ${pointer.count} items, watermark ${new Date(pointer.watermark).toISOString()}`,
      );
      if (profileCentroids === 0) profileCentroids = await giveUserAProfile(dynamo, tables, modelId, dim);

      const runs: ChildReport[] = [];
      for (let run = 0; run < COLD_RUNS; run++) {
        const { report: child } = await runNodeChild<ChildReport>(
          childScript,
          [handlerBundle, USER_ID],
          childEnv,
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
        log(
          `${label}: cold run ${run + 1}/${COLD_RUNS}: ${round(child.coldMs, 0)} ms (boot ${round(child.bootMs, 0)}, require ${round(child.requireMs, 0)}, first request ${round(child.firstRequestMs, 0)}; warm ${round(child.warmMs, 1)})`,
        );
        runs.push(child);
      }
      log(`${label}: load breakdown`);
      const breakdown = await loadBreakdown(deps);
      report[`cold_ms_${label}`] = round(median(runs.map((r) => r.coldMs)), 1);
      report[label] = {
        cold_ms: round(median(runs.map((r) => r.coldMs)), 1),
        boot_ms: round(median(runs.map((r) => r.bootMs)), 1),
        require_ms: round(median(runs.map((r) => r.requireMs)), 1),
        first_request_ms: round(median(runs.map((r) => r.firstRequestMs)), 1),
        warm_ms: round(median(runs.map((r) => r.warmMs)), 1),
        compaction_ms: round(compactMs, 0),
        ...breakdown,
      };
      log(`${label}: ${JSON.stringify(report[label])}`);
    }
    report.profile_centroids = profileCentroids;
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

/**
 * `npm run backfill -- --bucket <name> [--prefix catalogue/] [--concurrency n] [--model <manifest or id>]...
 * [--items-table <name>] [--reconcile]`: embeds every catalogue image that has no item, or no vector for
 * a target model, through the same ordered, conditional writes as the embed function. Safe to rerun and
 * safe to run while events flow: it never overwrites what an event wrote and never resurrects a deleted
 * item. With --reconcile it also applies what lost notifications would have: objects whose content or
 * metadata changed are ingested again, and items whose image vanished are tombstoned.
 * Progress goes to stderr; one summary JSON line goes to stdout.
 *
 * `npm run backfill -- --distributed --stack <name> [--model <id>]...` does the same in AWS, at scale:
 * it starts the stack's re-embedding state machine and follows it (infra/cli/distributed-backfill.ts).
 */

import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import {
  type BackfillSummary,
  backfillListedObject,
  type ListedObject,
  newestSequencer,
} from '../../functions/app/backfill';
import { type IngestDeps, removeSource } from '../../functions/app/ingest';
import { ENV } from '../../functions/contract/environment';
import { CATALOGUE_PREFIX } from '../../functions/contract/storage';
import type { CatalogueItem } from '../../functions/domain/catalogue-item';
import { catalogueObjectFromKey, reconciledSequencer } from '../../functions/domain/catalogue-key';
import { isDomainError } from '../../functions/domain/errors';
import { DEFAULT_IMAGE_LIMITS, defaultManifestPath } from '../../functions/embedding/embedder';
import { loadManifest } from '../../functions/embedding/model-manifest';
import { dynamoClient, s3Client } from '../../functions/platform/clients';
import { listEnv, numberEnv, optionalEnv } from '../../functions/platform/env';
import { createIngestDeps, vectorIndexTarget } from '../../functions/wiring/ingest';
import { DEFAULT_SPACE_REFRESH_MS } from '../../functions/wiring/learned-space';
import { type DistributedSummary, runDistributed, type StepFunctions } from './distributed-backfill';

export type { BackfillSummary, ListedObject };

/** Lists a bucket: a port, so a test can hand the backfill a listing taken at another moment. */
export interface ObjectListing {
  list(bucket: string, prefix: string): AsyncIterable<ListedObject>;
}

export interface BackfillDeps extends IngestDeps {
  listing: ObjectListing;
}

export interface BackfillOptions {
  bucket: string;
  /** @default CATALOGUE_PREFIX */
  prefix?: string;
  /** Objects handled at the same time. @default 4 */
  concurrency?: number;
  /** Called after every object; `listed` grows while the listing pages in. */
  onProgress?: (progress: { listed: number; done: number }) => void;
  /** Called for each object that failed (transient trouble; a rerun retries it). */
  onFailure?: (failure: { key: string; error: string }) => void;
  /**
   * Make the items match the bucket, as after notifications were lost (a crash of the local twin, a
   * message dropped from the DLQ): re-ingest objects whose content or metadata differs from their
   * item, let a copy created after the item's image take over, and tombstone items whose image is
   * gone. Every write is ordered after the state it replaces and before any real event newer than
   * it, so a notification still on its way wins. @default false
   */
  reconcile?: boolean;
}

export { BACKFILL_SEQUENCER } from '../../functions/app/backfill';

export function s3Listing(client: S3Client, pageSize = 1000): ObjectListing {
  return {
    async *list(bucket, prefix) {
      for await (const page of paginateListObjectsV2(
        { client, pageSize },
        { Bucket: bucket, Prefix: prefix },
      )) {
        for (const object of page.Contents ?? []) {
          if (!object.Key) continue;
          yield {
            key: object.Key,
            ...(object.ETag ? { etag: stripQuotes(object.ETag) } : {}),
            ...(object.Size !== undefined ? { size: object.Size } : {}),
            ...(object.LastModified ? { lastModified: object.LastModified } : {}),
          };
        }
      }
    },
  };
}

export async function backfill(deps: BackfillDeps, options: BackfillOptions): Promise<BackfillSummary> {
  const prefix = options.prefix ?? CATALOGUE_PREFIX;
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  if (deps.embedders.length === 0) throw new Error('backfill needs at least one model');
  const now = deps.now ?? Date.now;
  const summary: BackfillSummary = {
    listed: 0,
    embedded: 0,
    added_vectors: 0,
    skipped: 0,
    rejected: 0,
    failed: 0,
    updated: 0,
    removed: 0,
  };
  let done = 0;
  /** Reconcile: every catalogue key listed, so that only the others need a HEAD to tell they are gone. */
  const listedKeys = new Set<string>();
  const failed = (key: string, error: unknown) => {
    summary.failed++;
    options.onFailure?.({ key, error: describeError(error) });
  };

  /** Reconcile: tombstones the item if its image is gone (its delete notification was lost). */
  const removeIfVanished = async (entry: Pick<CatalogueItem, 'itemId' | 'status' | 'source'>) => {
    const { key } = entry.source;
    if (entry.status === 'deleted' || entry.source.bucket !== options.bucket) return;
    if (!key.startsWith(prefix) || listedKeys.has(key)) return;
    // Not listed, but perhaps put since the listing: only S3 can tell.
    if (await deps.objects.head(options.bucket, key)) return;
    const stored = await deps.repository.get(entry.itemId);
    if (!stored || stored.status === 'deleted' || stored.source.key !== key) return;
    const result = await removeSource(deps, entry.itemId, {
      bucket: options.bucket,
      key,
      sequencer: reconciledSequencer(newestSequencer(stored, key), now()),
      eventAt: stored.source.eventAt,
    });
    if (result.outcome === 'deleted') summary.removed++;
  };

  /** What one object adds to the summary. */
  const backfillObject = async (listed: ListedObject) => {
    if (options.reconcile && catalogueObjectFromKey(listed.key)) listedKeys.add(listed.key);
    const { counts } = await backfillListedObject(deps, options.bucket, listed, {
      reconcile: options.reconcile === true,
    });
    return counts;
  };

  const worker = async (iterator: AsyncIterator<ListedObject>) => {
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      summary.listed++;
      options.onProgress?.({ listed: summary.listed, done });
      try {
        const counts = await backfillObject(next.value);
        for (const [field, count] of Object.entries(counts) as Array<[keyof BackfillSummary, number]>)
          summary[field] += count;
      } catch (error) {
        failed(next.value.key, error);
      }
      done++;
      options.onProgress?.({ listed: summary.listed, done });
    }
  };

  // An async generator queues concurrent next() calls, so the workers can share one listing.
  const iterator = deps.listing.list(options.bucket, prefix)[Symbol.asyncIterator]();
  await Promise.all(Array.from({ length: concurrency }, () => worker(iterator)));
  if (options.reconcile) {
    // After the listing, so that a copy that took over above is not mistaken for a vanished image.
    for await (const entry of deps.repository.itemSources()) {
      try {
        await removeIfVanished(entry);
      } catch (error) {
        failed(entry.source?.key ?? entry.itemId, error);
      }
    }
  }
  return summary;
}

function describeError(error: unknown): string {
  if (isDomainError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

const stripQuotes = (etag: string) => etag.replace(/^"|"$/g, '');

/** A manifest path (file or folder), or the id of the active model or of one in EXTRA_MODEL_MANIFESTS. */
export function resolveModel(model: string): string {
  if (existsSync(model))
    return statSync(model).isDirectory() ? join(resolve(model), 'manifest.json') : resolve(model);
  const known = [defaultManifestPath(), ...listEnv(ENV.EXTRA_MODEL_MANIFESTS)].filter((path) =>
    existsSync(path),
  );
  const match = known.find((path) => loadManifest(path).manifest.modelId === model);
  if (!match) {
    const ids = known.map((path) => loadManifest(path).manifest.modelId).join(', ') || 'none';
    throw new InvalidArgumentError(
      `no manifest at "${model}" and no known model with that id (known: ${ids})`,
    );
  }
  return match;
}

const positiveInteger = (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('must be a positive integer');
  return parsed;
};

async function main(): Promise<void> {
  const program = new Command()
    .name('backfill')
    .description(
      'Embed catalogue images that have no item or no vector for a model, without racing live events',
    )
    .option('--bucket <name>', 'catalogue bucket (required without --distributed)')
    .option(
      '--distributed',
      "run in AWS: start the stack's re-embedding state machine (a Distributed Map of Lambda batches) and follow it",
    )
    .option('--stack <name>', 'with --distributed: the deployed stack')
    .option('--prefix <prefix>', 'list only keys under this prefix', CATALOGUE_PREFIX)
    .option('--concurrency <n>', 'objects handled at the same time', positiveInteger, 4)
    .option(
      '--model <manifest or id>',
      'a model every item must have a vector for (repeatable; default: the active model)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--items-table <name>', 'items table (default: $ITEMS_TABLE)')
    .option(
      '--reconcile',
      'also make items match the bucket: re-ingest changed objects, tombstone items whose image is gone',
    )
    .parse();
  const options = program.opts<{
    bucket?: string;
    distributed?: boolean;
    stack?: string;
    prefix: string;
    concurrency: number;
    model?: string[];
    itemsTable?: string;
    reconcile?: boolean;
  }>();
  if (options.distributed) {
    const stack = options.stack ?? program.error('error: --distributed needs --stack <name>');
    // In Lambda a model is one the function has (the model layer, EXTRA_MODEL_MANIFESTS): by id.
    process.exitCode = await distributedMain({ stack, models: options.model ?? [] });
    return;
  }
  const bucket = options.bucket ?? program.error('error: --bucket is required (or --distributed --stack)');
  const itemsTable =
    options.itemsTable ??
    optionalEnv(ENV.ITEMS_TABLE) ??
    program.error('error: --items-table or ITEMS_TABLE is required');

  // The same knobs and the same wiring as the embed function, so both write identical rows.
  const manifests = [...new Set((options.model ?? [defaultManifestPath()]).map(resolveModel))];
  const ingestDeps = await createIngestDeps({
    itemsTable,
    maxImageBytes: numberEnv(ENV.MAX_IMAGE_BYTES, DEFAULT_IMAGE_LIMITS.maxBytes, { min: 1 }),
    ...(manifests[0] ? { activeManifest: manifests[0] } : {}),
    extraManifests: manifests.slice(1),
    vectorIndex: vectorIndexTarget({
      attribute: optionalEnv(ENV.VECTOR_INDEX_ATTRIBUTE),
      modelId: optionalEnv(ENV.VECTOR_INDEX_MODEL_ID),
      dim: numberEnv(ENV.VECTOR_INDEX_DIMENSION, 0, { min: 0 }),
    }),
    clients: { dynamo: dynamoClient(), s3: s3Client() },
    // Items it creates get the active learned projection's vector, as the embed function's do.
    spaces: { bucket, ttlMs: numberEnv(ENV.SPACE_REFRESH_MS, DEFAULT_SPACE_REFRESH_MS, { min: 0 }) },
  });

  const bar = new SingleBar({
    stream: process.stderr,
    format: 'backfill [{bar}] {value}/{total} objects | {duration_formatted}',
    hideCursor: true,
  });
  bar.start(0, 0);
  const failures: Array<{ key: string; error: string }> = [];
  let summary: BackfillSummary;
  try {
    summary = await backfill(
      { ...ingestDeps, listing: s3Listing(s3Client()) },
      {
        bucket,
        prefix: options.prefix,
        concurrency: options.concurrency,
        reconcile: options.reconcile === true,
        onProgress: ({ listed, done }) => {
          bar.setTotal(listed);
          bar.update(done);
        },
        onFailure: (failure) => failures.push(failure),
      },
    );
  } finally {
    bar.stop();
  }
  for (const failure of failures) process.stderr.write(`failed: ${JSON.stringify(failure)}\n`);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = summary.failed > 0 ? 2 : 0;
}

/** Starts the stack's re-embedding, follows it with a progress bar, prints the summary; the exit code. */
export async function distributedMain(
  options: { stack: string; models: string[] },
  client: StepFunctions = new SFNClient({}),
  stream: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  const bar = new SingleBar({
    stream,
    format: 'reembed [{bar}] {value}/{total} objects | {failed} failed | {duration_formatted}',
    hideCursor: true,
  });
  bar.start(0, 0, { failed: 0 });
  let summary: DistributedSummary;
  try {
    summary = await runDistributed(client, {
      stack: options.stack,
      models: options.models,
      onStarted: ({ executionArn }) => stream.write(`started ${executionArn}\n`),
      onProgress: ({ total, done, failed }) => {
        bar.setTotal(total);
        bar.update(done, { failed });
      },
    });
  } finally {
    bar.stop();
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return summary.status === 'SUCCEEDED' ? 0 : 2;
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}

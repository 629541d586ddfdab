/**
 * `npm run backfill -- --bucket <name> [--prefix catalogue/] [--concurrency n] [--model <manifest or id>]...
 * [--items-table <name>] [--reconcile]`: embeds every catalogue image that has no item, or no vector for
 * a target model, through the same ordered, conditional writes as the embed function. Safe to rerun and
 * safe to run while events flow: it never overwrites what an event wrote and never resurrects a deleted
 * item. With --reconcile it also applies what lost notifications would have: objects whose content or
 * metadata changed are ingested again, and items whose image vanished are tombstoned.
 * Progress goes to stderr; one summary JSON line goes to stdout.
 */

import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import {
  type IngestDeps,
  type IngestOutcome,
  ingest,
  ingestObject,
  removeSource,
} from '../../functions/app/ingest';
import type { ObjectChange } from '../../functions/app/ports';
import { ENV } from '../../functions/contract/environment';
import { CATALOGUE_PREFIX } from '../../functions/contract/storage';
import type { CatalogueItem } from '../../functions/domain/catalogue-item';
import {
  type CatalogueObject,
  catalogueObjectFromKey,
  normaliseSequencer,
  reconciledSequencer,
} from '../../functions/domain/catalogue-key';
import { isDomainError } from '../../functions/domain/errors';
import { DEFAULT_IMAGE_LIMITS, defaultManifestPath } from '../../functions/embedding/embedder';
import { loadManifest } from '../../functions/embedding/model-manifest';
import { dynamoClient, s3Client } from '../../functions/platform/clients';
import { listEnv, numberEnv, optionalEnv } from '../../functions/platform/env';
import { createIngestDeps, vectorIndexTarget } from '../../functions/wiring/ingest';

/** One entry of a bucket listing. */
export interface ListedObject {
  key: string;
  /** Without quotes. */
  etag?: string;
  size?: number;
  lastModified?: Date;
}

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

export interface BackfillSummary {
  listed: number;
  /** Items written from scratch (every target model). */
  embedded: number;
  /** Vectors added to ready items that missed a target model. */
  added_vectors: number;
  /** Nothing to do: up to date, not a catalogue image, deleted, or owned by a newer event. */
  skipped: number;
  rejected: number;
  failed: number;
  /** Reconcile: items ingested again because the bucket holds other content, metadata or copy. */
  updated: number;
  /** Reconcile: items tombstoned because their image is no longer in the bucket. */
  removed: number;
}

/**
 * The sequencer of a backfilled create: the lowest there is. S3 sequencers only order events of one
 * key, and the backfill has none, so it claims to be older than every real event: a real create,
 * replace or delete of the key, processed before or after, always wins (the writes are conditional on
 * `stored.sequencer < incoming.sequencer`), and a tombstone can never be overwritten by it.
 */
export const BACKFILL_SEQUENCER = '0';

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

  /** What reconciling one listed object with its item adds to the summary; undefined: nothing to do. */
  const reconcileObject = async (
    object: CatalogueObject,
    listed: ListedObject,
    stored: CatalogueItem,
  ): Promise<Partial<BackfillSummary> | undefined> => {
    const modifiedAt = listed.lastModified?.getTime();
    if (stored.source.key === listed.key) {
      if (isUpToDate(stored, listed)) return undefined;
      // Not stale even for a tombstone: a listed key that HEAD still finds was put again after it.
      return counted(
        await ingestObject(deps, object, {
          bucket: options.bucket,
          key: listed.key,
          sequencer: reconciledSequencer(newestSequencer(stored, listed.key), now()),
          eventAt: modifiedAt ?? now(),
        }),
      );
    }
    // Another copy of the item (another folder or extension): it takes over only if it was created
    // after the item's image, exactly as its lost notification would have; otherwise it is older.
    if (modifiedAt === undefined || modifiedAt <= stored.source.eventAt) return undefined;
    return counted(
      await ingestObject(deps, object, {
        bucket: options.bucket,
        key: listed.key,
        sequencer: normaliseSequencer(BACKFILL_SEQUENCER),
        eventAt: modifiedAt,
      }),
    );
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
  const backfillObject = async (listed: ListedObject): Promise<Partial<BackfillSummary>> => {
    const object = catalogueObjectFromKey(listed.key);
    if (!object) return { skipped: 1 };
    if (options.reconcile) listedKeys.add(listed.key);
    const stored = await deps.repository.get(object.itemId);
    if (!stored) {
      // HEAD pins the exact version (when the bucket is versioned) so the etag matches the bytes read.
      const head = await deps.objects.head(options.bucket, listed.key);
      if (!head) return { skipped: 1 };
      const result = await ingest(deps, listedObjectCreated(options.bucket, listed, head));
      if (result.outcome === 'ready') return { embedded: 1 };
      return result.outcome === 'rejected' ? { rejected: 1 } : { skipped: 1 };
    }
    if (options.reconcile) {
      const reconciled = await reconcileObject(object, listed, stored);
      if (reconciled) return reconciled;
    }
    // Deleted: a stale listing and a lost re-put notification look alike here; only a real event
    // (e.g. CopyObject onto itself) or a reconcile may bring the item back. Rejected: already judged
    // on this content.
    if (stored.status !== 'ready') return { skipped: 1 };
    // Another object holds this item id, or the content changed and its own event is on the way.
    if (stored.source.key !== listed.key || !listed.etag || stored.source.etag !== listed.etag)
      return { skipped: 1 };
    const missing = deps.embedders.filter((embedder) => stored.vectors[embedder.modelId] === undefined);
    if (missing.length === 0) return { skipped: 1 };
    const bytes = await deps.objects.read(options.bucket, listed.key, stored.source.versionId);
    if (!bytes) return { skipped: 1 };
    let added = 0;
    for (const embedder of missing) {
      const { vector } = await embedder.embed(bytes);
      // Conditional on the item still holding this content from this event: never touches newer state.
      if (
        await deps.repository.addVectorIfCurrent(
          object.itemId,
          embedder.modelId,
          vector,
          stored.source,
          now(),
        )
      )
        added++;
    }
    return added > 0 ? { added_vectors: added } : { skipped: 1 };
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

/** How a reconciled object counts in the summary. */
function counted(result: IngestOutcome): Partial<BackfillSummary> {
  switch (result.outcome) {
    case 'ready':
    case 'metadata_updated':
      return { updated: 1 };
    case 'rejected':
    case 'update_rejected':
      return { rejected: 1 };
    default:
      return { skipped: 1 };
  }
}

/**
 * The item holds the listed object as it is now: same content (or the replacement that failed
 * there), and no write to the key since. A listing's time has whole seconds at best, so a metadata
 * change in the second of the item's own event goes unnoticed.
 */
function isUpToDate(stored: CatalogueItem, listed: ListedObject): boolean {
  if (stored.status === 'deleted' || !listed.etag) return false;
  const failed = stored.lastUpdateError?.key === listed.key ? stored.lastUpdateError : undefined;
  if (stored.source.etag !== listed.etag && failed?.etag !== listed.etag) return false;
  const appliedAt = Math.max(stored.source.eventAt, failed?.eventAt ?? 0);
  return listed.lastModified === undefined || listed.lastModified.getTime() <= appliedAt;
}

/** The newest sequencer the item holds for `key`: its image's, or that of a failed replacement. */
function newestSequencer(stored: CatalogueItem, key: string): string {
  const failed = stored.lastUpdateError?.key === key ? stored.lastUpdateError.sequencer : '';
  if (failed > stored.source.sequencer) return failed;
  return stored.source.sequencer;
}

function describeError(error: unknown): string {
  if (isDomainError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The creation of an object found by listing, ordered below every real event. */
function listedObjectCreated(
  bucket: string,
  listed: ListedObject,
  head: { etag?: string; size?: number; versionId?: string },
): ObjectChange {
  const etag = head.etag ?? listed.etag;
  // Only compared with events of other keys that map to the same item id: the object's own age.
  const eventTime = listed.lastModified?.getTime();
  return {
    kind: 'created',
    bucket,
    key: listed.key,
    sequencer: BACKFILL_SEQUENCER,
    size: head.size ?? listed.size ?? 0,
    ...(etag ? { etag } : {}),
    ...(head.versionId ? { versionId: head.versionId } : {}),
    ...(eventTime ? { eventTime } : {}),
  };
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
    .requiredOption('--bucket <name>', 'catalogue bucket')
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
    bucket: string;
    prefix: string;
    concurrency: number;
    model?: string[];
    itemsTable?: string;
    reconcile?: boolean;
  }>();
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
        bucket: options.bucket,
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

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}

import type { CatalogueItem } from '../domain/catalogue-item';
import {
  type CatalogueObject,
  catalogueObjectFromKey,
  normaliseSequencer,
  reconciledSequencer,
} from '../domain/catalogue-key';
import { type IngestDeps, type IngestOutcome, ingest, ingestObject } from './ingest';
import type { ObjectChange } from './ports';

/**
 * One listed object of the catalogue bucket brought up to date, as `npm run backfill` does for each
 * key it lists and the distributed re-embedding function does for each key of its batch: both run
 * this, so both write exactly what the embed function would.
 */

/** One entry of a bucket listing. */
export interface ListedObject {
  key: string;
  /** Without quotes. */
  etag?: string;
  size?: number;
  lastModified?: Date;
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

export type BackfillCounts = Partial<Omit<BackfillSummary, 'listed' | 'failed' | 'removed'>>;

/** What one listed object added, with the ingestion's outcome when it ran one (its code, say). */
export interface ListedResult {
  counts: BackfillCounts;
  outcome?: IngestOutcome;
}

/**
 * The sequencer of a backfilled create: the lowest there is. S3 sequencers only order events of one
 * key, and a listing has none, so it claims to be older than every real event: a real create,
 * replace or delete of the key, processed before or after, always wins (the writes are conditional on
 * `stored.sequencer < incoming.sequencer`), and a tombstone can never be overwritten by it.
 */
export const BACKFILL_SEQUENCER = '0';

export interface BackfillListedOptions {
  /**
   * Also re-ingest an object whose content or metadata differs from its item, and let a copy
   * created after the item's image take over (what a lost notification would have done).
   * @default false
   */
  reconcile?: boolean;
}

/**
 * Brings the item of one listed object up to date with every model in `deps.embedders`: ingests it
 * when it has no item (as a create older than every real event), adds the vectors of models it
 * misses, and with `reconcile` re-ingests it when the bucket holds other content. Never overwrites
 * what a real event wrote and never resurrects a deleted item, so it is safe while uploads continue
 * and safe to rerun. Throws only for transient trouble.
 */
export async function backfillListedObject(
  deps: IngestDeps,
  bucket: string,
  listed: ListedObject,
  options: BackfillListedOptions = {},
): Promise<ListedResult> {
  const now = deps.now ?? Date.now;
  const object = catalogueObjectFromKey(listed.key);
  if (!object) return { counts: { skipped: 1 } };
  const stored = await deps.repository.get(object.itemId);
  if (!stored) {
    // HEAD pins the exact version (when the bucket is versioned) so the etag matches the bytes read.
    const head = await deps.objects.head(bucket, listed.key);
    if (!head) return { counts: { skipped: 1 } };
    const outcome = await ingest(deps, listedObjectCreated(bucket, listed, head));
    if (outcome.outcome === 'ready') return { counts: { embedded: 1 }, outcome };
    return { counts: outcome.outcome === 'rejected' ? { rejected: 1 } : { skipped: 1 }, outcome };
  }
  if (options.reconcile) {
    const reconciled = await reconcileObject(deps, bucket, object, listed, stored, now);
    if (reconciled) return reconciled;
  }
  // Deleted: a stale listing and a lost re-put notification look alike here; only a real event
  // (e.g. CopyObject onto itself) or a reconcile may bring the item back. Rejected: already judged
  // on this content.
  if (stored.status !== 'ready') return { counts: { skipped: 1 } };
  // Another object holds this item id, or the content changed and its own event is on the way.
  if (stored.source.key !== listed.key || !listed.etag || stored.source.etag !== listed.etag)
    return { counts: { skipped: 1 } };
  const missing = deps.embedders.filter((embedder) => stored.vectors[embedder.modelId] === undefined);
  if (missing.length === 0) return { counts: { skipped: 1 } };
  const bytes = await deps.objects.read(bucket, listed.key, stored.source.versionId);
  if (!bytes) return { counts: { skipped: 1 } };
  let added = 0;
  for (const embedder of missing) {
    const { vector } = await embedder.embed(bytes);
    // Conditional on the item still holding this content from this event: never touches newer state.
    if (
      await deps.repository.addVectorIfCurrent(object.itemId, embedder.modelId, vector, stored.source, now())
    )
      added++;
  }
  return { counts: added > 0 ? { added_vectors: added } : { skipped: 1 } };
}

/** What reconciling one listed object with its item adds; undefined: nothing to reconcile. */
async function reconcileObject(
  deps: IngestDeps,
  bucket: string,
  object: CatalogueObject,
  listed: ListedObject,
  stored: CatalogueItem,
  now: () => number,
): Promise<ListedResult | undefined> {
  const modifiedAt = listed.lastModified?.getTime();
  if (stored.source.key === listed.key) {
    if (isUpToDate(stored, listed)) return undefined;
    // Not stale even for a tombstone: a listed key that HEAD still finds was put again after it.
    return counted(
      await ingestObject(deps, object, {
        bucket,
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
      bucket,
      key: listed.key,
      sequencer: normaliseSequencer(BACKFILL_SEQUENCER),
      eventAt: modifiedAt,
    }),
  );
}

/** How a reconciled object counts. */
function counted(outcome: IngestOutcome): ListedResult {
  switch (outcome.outcome) {
    case 'ready':
    case 'metadata_updated':
      return { counts: { updated: 1 }, outcome };
    case 'rejected':
    case 'update_rejected':
      return { counts: { rejected: 1 }, outcome };
    default:
      return { counts: { skipped: 1 }, outcome };
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
export function newestSequencer(stored: CatalogueItem, key: string): string {
  const failed = stored.lastUpdateError?.key === key ? stored.lastUpdateError.sequencer : '';
  if (failed > stored.source.sequencer) return failed;
  return stored.source.sequencer;
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

/** What one batch of listed objects did: the backfill's counts, each ingestion outcome, each rejection code. */
export interface BatchReport {
  listed: number;
  counts: Required<BackfillCounts> & { failed: number };
  /** Ingestion outcomes by name (ready, stale, rejected, ...), for the keys that ran one. */
  outcomes: Record<string, number>;
  /** Rejections (of new images and of replacements) by their code: pixel_limit, unsupported_format... */
  rejectedByCode: Record<string, number>;
  /** The keys that failed for transient trouble (a rerun retries them), at most `maxFailuresListed`. */
  failures: Array<{ key: string; error: string }>;
}

/**
 * Brings each listed object up to date (`backfillListedObject`), `concurrency` at a time. A key that
 * fails is counted and listed, never thrown: the caller decides whether the batch is retried.
 */
export async function backfillBatch(
  deps: IngestDeps,
  bucket: string,
  objects: readonly ListedObject[],
  { concurrency = 1, maxFailuresListed = 20 } = {},
): Promise<BatchReport> {
  const report: BatchReport = {
    listed: objects.length,
    counts: { embedded: 0, added_vectors: 0, skipped: 0, rejected: 0, updated: 0, failed: 0 },
    outcomes: {},
    rejectedByCode: {},
    failures: [],
  };
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < objects.length; index = next++) {
      const listed = objects[index] as ListedObject;
      try {
        const { counts, outcome } = await backfillListedObject(deps, bucket, listed);
        for (const [field, count] of Object.entries(counts) as Array<[keyof BackfillCounts, number]>)
          report.counts[field] += count;
        if (outcome) {
          report.outcomes[outcome.outcome] = (report.outcomes[outcome.outcome] ?? 0) + 1;
          if ('code' in outcome)
            report.rejectedByCode[outcome.code] = (report.rejectedByCode[outcome.code] ?? 0) + 1;
        }
      } catch (error) {
        report.counts.failed++;
        if (report.failures.length < maxFailuresListed)
          report.failures.push({
            key: listed.key,
            error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
          });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return report;
}

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Serving } from '../../app/ports';
import { INDEX_PREFIX, ITEMS_CHANGE_INDEX } from '../../contract/storage';
import {
  ExactIndex,
  SNAPSHOT_VERSION,
  type SnapshotLayout,
  snapshotLayout,
  VectorIndexError,
} from '../../vector-index';
import { batchGetAll } from '../dynamodb/batch-get';
import {
  CHANGE_FEED,
  INDEX_ATTRIBUTES,
  type ItemRow,
  indexAttributes,
  itemProjection,
  rowVector,
} from '../dynamodb/item-table';
import { isConditionFailure, isMissing } from './s3-errors';

/**
 * The exact index's cold start and freshness: a compact snapshot in S3 (written by the compactor)
 * plus every item changed after its watermark, read from the items table's change index, applied at
 * load and then every few seconds. Tombstones remove items, so deletes show as fast as uploads.
 */
export interface SnapshotPointer {
  key: string;
  /** Every change with changedAt <= watermark is in the snapshot. */
  watermark: number;
  count: number;
  modelId: string;
  createdAt: number;
  /** The snapshot this one replaced, deleted when the next one is written. */
  previousKey?: string;
  /** The snapshot's format (SNAPSHOT_VERSION when written); absent from pointers older than format 3. */
  format?: number;
  /**
   * The snapshot's size in bytes: a cold start asks for every part of it at once. Absent from older
   * pointers, whose snapshot's first part is read alone to learn its size.
   */
  bytes?: number;
  /**
   * Where a format-6 snapshot keeps its rows and scales: a cold start downloads them straight into
   * the index and the rest into a buffer of the bytes before them. Absent from older pointers, whose
   * snapshot is read into one buffer and copied.
   */
  layout?: SnapshotLayout;
}

export interface CatalogueIndexDeps {
  dynamo: DynamoDBClient;
  s3: S3Client;
  itemsTable: string;
  bucket: string;
  modelId: string;
  dim: number;
  /** @default 2000 ms */
  refreshIntervalMs?: number;
  /**
   * Changes are re-read this far behind the watermark: writers' clocks and the index's eventual
   * consistency can make a change visible after a later one. @default 60 s
   */
  overlapMs?: number;
  /** Told the ids of items whose rows were (re)applied, after each refresh that found any. */
  onChanged?: (itemIds: string[]) => void;
  /** Told where a load's time went, once it is done (a cold start's log line). */
  onLoaded?: (load: IndexLoad) => void;
}

/** One CatalogueIndex.load, phase by phase (ms). */
export interface IndexLoad {
  /** The snapshot's format; absent when none was read (no snapshot yet, or one of an unread format). */
  format?: number;
  items: number;
  snapshotBytes: number;
  pointerMs: number;
  /** GetObject and reading the body: into the index's memory and a buffer of the rest, or into one buffer. */
  downloadMs: number;
  /** Whether the rows and scales were downloaded straight into the index (a pointer with a layout). */
  rowsInPlace: boolean;
  /**
   * Decoding the snapshot and building the index over it: checking the int8 rows' scales where the
   * download put them (format 6 with a layout), copying the rows and scales in (format 6 without),
   * or quantising them from the int16 (5) or float32 rows (3 and 4).
   */
  buildMs: number;
  /**
   * Reading the changes after the snapshot's watermark, which runs beside the download (it needs only
   * the pointer's watermark), and applying them after the build: the read's own time, not a phase
   * that follows the build.
   */
  changeFeedMs: number;
  changedRows: number;
  /** From the pointer's read to the index ready: the load's wall clock (less than its phases' sum). */
  totalMs: number;
}

/**
 * Snapshot formats that hold every attribute the rows do, so that loading one loses nothing: 3 (tags
 * and prices), 4 (3 plus int8 rows), 5 (int16 rows instead of float32 ones) and 6 (the int8 rows
 * only, as the index holds them).
 */
const LOADED_FORMATS: ReadonlySet<number | undefined> = new Set([3, 4, 5, SNAPSHOT_VERSION]);

export const snapshotPrefix = (modelId: string) => `${INDEX_PREFIX}${modelId}/`;
const pointerKey = (modelId: string) => `${snapshotPrefix(modelId)}latest.json`;

/** What the index reads of a changed row (plus the model's vector). */
const CHANGED_ATTRIBUTES = ['itemId', 'status', ...INDEX_ATTRIBUTES, 'changedAt'] as const;
type ChangedRow = Pick<ItemRow, (typeof CHANGED_ATTRIBUTES)[number] | 'vectors'>;

export class CatalogueIndex {
  readonly index: ExactIndex;
  /** Highest changedAt applied so far. */
  watermark: number;
  private lastRefresh = 0;
  private refreshing: Promise<number> | undefined;
  private readonly documents: DynamoDBDocumentClient;

  private constructor(
    private readonly deps: CatalogueIndexDeps,
    index: ExactIndex,
    watermark: number,
    documents: DynamoDBDocumentClient,
  ) {
    this.index = index;
    this.watermark = watermark;
    this.documents = documents;
  }

  /** Snapshot (if any) + the changes after it. */
  static async load(deps: CatalogueIndexDeps): Promise<CatalogueIndex> {
    let mark = performance.now();
    const lap = () => {
      const now = performance.now();
      const elapsed = now - mark;
      mark = now;
      return elapsed;
    };
    const started = performance.now();
    const pointer = await readPointer(deps.s3, deps.bucket, deps.modelId);
    const pointerMs = lap();
    // A snapshot in a format that lacks attributes the rows hold (before 3), or a newer one than this
    // code reads (after a rollback), is not read. The index is built from the rows instead, as before
    // the first snapshot, and the next compaction writes this code's format even at the same
    // watermark (a format 3 to 5 snapshot is read, and also rewritten as format 6).
    const snapshot = pointer && LOADED_FORMATS.has(pointer.format) ? pointer : undefined;
    const watermark = snapshot?.watermark ?? 0;
    // The changes after the watermark are read while the snapshot downloads: they need only the
    // pointer, and a cold start then waits for the longer of the two, not for both in turn.
    let changeFeedMs = 0;
    const documents = DynamoDBDocumentClient.from(deps.dynamo);
    const changes = changedRowsSince(documents, deps, sinceWatermark(watermark, deps.overlapMs)).then(
      (rows) => {
        changeFeedMs = performance.now() - started - pointerMs;
        return rows;
      },
    );
    // Awaited below; marked handled now, or a failure while the download runs would be unhandled.
    changes.catch(() => undefined);
    let index: ExactIndex | undefined;
    let snapshotBytes = 0;
    let downloadMs = 0;
    let rowsInPlace = false;
    if (snapshot) {
      try {
        // The rows and scales straight into the index when the pointer says where they lie.
        const layout = placedLayout(snapshot, deps.dim);
        if (layout) {
          try {
            const rows = ExactIndex.receiving(deps.dim, snapshot.count);
            const prefix = new Uint8Array(layout.matrixOffset);
            await downloadRanges(deps.s3, deps.bucket, snapshot.key, layout.bytes, [
              { offset: 0, target: prefix },
              { offset: layout.matrixOffset, target: rows.rows },
              { offset: layout.scalesOffset, target: rows.scales },
            ]);
            downloadMs = lap();
            index = ExactIndex.deserialise(prefix, { rows, byteLength: layout.bytes });
            snapshotBytes = layout.bytes;
            rowsInPlace = true;
          } catch (error) {
            // A pointer whose layout is not its snapshot's: the snapshot is read as a whole instead.
            if (!(error instanceof VectorIndexError && error.code === 'corrupt_snapshot')) throw error;
          }
        }
        if (!index) {
          const bytes = await downloadSnapshot(deps.s3, deps.bucket, snapshot.key, snapshot.bytes);
          downloadMs = lap();
          index = ExactIndex.deserialise(bytes);
          snapshotBytes = bytes.byteLength;
        }
      } catch (error) {
        // The load fails; its read of the change feed ends first, so nothing outlives the request.
        await changes.catch(() => undefined);
        throw error;
      }
    }
    index ??= new ExactIndex(deps.dim);
    const buildMs = lap();
    const catalogue = new CatalogueIndex(deps, index, watermark, documents);
    const changedRows = catalogue.apply(await changes, Date.now());
    deps.onLoaded?.({
      ...(snapshot?.format !== undefined ? { format: snapshot.format } : {}),
      items: index.size,
      snapshotBytes,
      pointerMs,
      downloadMs,
      rowsInPlace,
      buildMs,
      changeFeedMs,
      changedRows,
      totalMs: performance.now() - started,
    });
    return catalogue;
  }

  private categoryCache: { watermark: number; size: number; categories: Set<string> } | undefined;

  /** Categories with at least one served item (recomputed when the index changed). */
  categories(): Set<string> {
    const { watermark, index } = this;
    if (this.categoryCache?.watermark === watermark && this.categoryCache.size === index.size)
      return this.categoryCache.categories;
    const categories = new Set<string>();
    for (const itemId of index.ids()) {
      const category = index.attributes(itemId)?.category;
      if (category) categories.add(category);
    }
    this.categoryCache = { watermark, size: index.size, categories };
    return categories;
  }

  /** Applies recent changes when the last refresh is older than the interval; concurrent callers share one. */
  async refreshIfDue(now = Date.now()): Promise<void> {
    if (now - this.lastRefresh < (this.deps.refreshIntervalMs ?? 2000)) return;
    await this.refresh(now);
  }

  async refresh(now = Date.now()): Promise<number> {
    this.refreshing ??= this.applyChanges(now).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async applyChanges(now: number): Promise<number> {
    const since = sinceWatermark(this.watermark, this.deps.overlapMs);
    return this.apply(await changedRowsSince(this.documents, this.deps, since), now);
  }

  /** Applies changed rows (in change order) to the index and moves the watermark over them. */
  private apply(changed: readonly ChangedRow[], now: number): number {
    for (const row of changed) {
      const vector = rowVector(row, this.deps.modelId);
      if (row.status === 'ready' && vector) {
        this.index.upsert(row.itemId, vector, indexAttributes(row));
      } else {
        this.index.remove(row.itemId);
      }
      this.watermark = Math.max(this.watermark, row.changedAt);
    }
    if (changed.length > 0) this.deps.onChanged?.(changed.map((row) => row.itemId));
    this.lastRefresh = now;
    return changed.length;
  }

  /**
   * Writes this index as the new snapshot and switches the pointer to it, unless the stored pointer is
   * already at this watermark or past it. The switch is a conditional write on the pointer's ETag, so
   * when compactions overlap (a stream with several shards, a retried batch) the newest snapshot wins
   * whatever order they finish in, without reserving concurrency.
   */
  async writeSnapshot(now = Date.now()): Promise<SnapshotWrite> {
    const { s3, bucket, modelId } = this.deps;
    let written: string | undefined;
    let writtenBytes = 0;
    let writtenLayout: SnapshotLayout | undefined;
    for (let attempt = 1; ; attempt++) {
      const stored = await readStoredPointer(s3, bucket, modelId);
      if (stored && isCurrent(stored.pointer, this.watermark)) {
        // Nothing newer to publish; a snapshot uploaded by an attempt that lost the race is garbage.
        if (written) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: written }));
        return { pointer: stored.pointer, written: false };
      }
      if (!written) {
        written = `${snapshotPrefix(modelId)}snapshot-${String(this.watermark).padStart(15, '0')}-${now}.bin`;
        const body = this.index.serialise();
        writtenBytes = body.byteLength;
        writtenLayout = snapshotLayout(body);
        await s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: written,
            Body: body,
            ContentType: 'application/octet-stream',
          }),
        );
      }
      const previous = stored?.pointer;
      const pointer: SnapshotPointer = {
        key: written,
        watermark: this.watermark,
        count: this.index.size,
        modelId,
        createdAt: now,
        ...(previous ? { previousKey: previous.key } : {}),
        format: SNAPSHOT_VERSION,
        bytes: writtenBytes,
        ...(writtenLayout ? { layout: writtenLayout } : {}),
      };
      try {
        await s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: pointerKey(modelId),
            Body: JSON.stringify(pointer),
            ContentType: 'application/json',
            ...(stored?.etag ? { IfMatch: stored.etag } : { IfNoneMatch: '*' }),
          }),
        );
      } catch (error) {
        // Another compaction switched the pointer since it was read: look again.
        if (isConditionFailure(error) && attempt < MAX_POINTER_ATTEMPTS) continue;
        throw error;
      }
      // A cold start may have read the previous pointer just now: keep that snapshot, drop the one before.
      if (previous?.previousKey && previous.previousKey !== written) {
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: previous.previousKey }));
      }
      return { pointer, written: true };
    }
  }
}

/** Where a read of the change feed starts: everything without a snapshot, else the overlap before its watermark. */
const sinceWatermark = (watermark: number, overlapMs = 60_000) =>
  watermark === 0 ? -1 : watermark - overlapMs;

/** Items changed after `since` (ms), with what the index needs, in change order. */
async function changedRowsSince(
  documents: DynamoDBDocumentClient,
  deps: CatalogueIndexDeps,
  since: number,
): Promise<ChangedRow[]> {
  const ids: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await documents.send(
      new QueryCommand({
        TableName: deps.itemsTable,
        IndexName: ITEMS_CHANGE_INDEX,
        KeyConditionExpression: 'changeFeed = :feed AND changedAt > :since',
        ExpressionAttributeValues: { ':feed': CHANGE_FEED, ':since': since },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const row of page.Items ?? []) ids.push(row.itemId as string);
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  const rows = await batchGetAll<ChangedRow>(
    documents,
    deps.itemsTable,
    [...new Set(ids)].map((itemId) => ({ itemId })),
    itemProjection(CHANGED_ATTRIBUTES, deps.modelId),
  );
  // Apply in change order so that the watermark only moves forward over applied changes.
  return rows.sort((a, b) => a.changedAt - b.changedAt);
}

export interface SnapshotWrite {
  /** The pointer now stored: this index's, or a newer (or equal) one that was already there. */
  pointer: SnapshotPointer;
  written: boolean;
}

const MAX_POINTER_ATTEMPTS = 5;

/**
 * Whether the stored pointer makes a snapshot at this watermark pointless: it is further on, or as
 * far and in this code's format. A pointer never moves back, not even to upgrade an older format.
 */
function isCurrent(stored: SnapshotPointer, watermark: number): boolean {
  return (
    stored.watermark > watermark || (stored.watermark === watermark && stored.format === SNAPSHOT_VERSION)
  );
}

/** The pointer with the ETag a conditional replace needs; undefined when there is none yet. */
async function readStoredPointer(
  s3: S3Client,
  bucket: string,
  modelId: string,
): Promise<{ pointer: SnapshotPointer; etag: string | undefined } | undefined> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: pointerKey(modelId) }));
    const pointer = JSON.parse((await object.Body?.transformToString()) ?? 'null') as SnapshotPointer | null;
    return pointer ? { pointer, etag: object.ETag } : undefined;
  } catch (error) {
    // Only a 404 means "no snapshot yet"; a 403 is a missing grant and must surface.
    if (isMissing(error)) return undefined;
    throw error;
  }
}

/**
 * Ranged GETs of a snapshot, and how many run side by side: one S3 connection streams roughly
 * 90 MB/s into a Lambda function, several stream several times that (a 1M x 256 snapshot is 1.3 GB).
 * With the size known (the pointer's `bytes`), a snapshot is cut into at least as many parts as run
 * side by side (so a 68 MB one is 8 parts of 8.5 MB, all at once), each 1 to 16 MiB.
 */
const DOWNLOAD_PART_BYTES = 8 * 1024 * 1024;
const MIN_PART_BYTES = 1024 * 1024;
const MAX_PART_BYTES = 16 * 1024 * 1024;
const DOWNLOAD_PARTS_IN_FLIGHT = 8;

/**
 * The layout a pointer gives for downloading its snapshot's rows and scales into the index, when it
 * is usable: format 6, its size known, rows of this index's stride, and sections that fit that size.
 * A pointer is data: anything else reads the snapshot as a whole.
 */
function placedLayout(
  pointer: SnapshotPointer,
  dim: number,
): (SnapshotLayout & { bytes: number }) | undefined {
  const { layout, bytes, count, format } = pointer;
  // The layout is format 6's (snapshotLayout): a later format says where its sections lie itself.
  if (format !== 6 || !layout || bytes === undefined) return undefined;
  const { matrixOffset, stride, scalesOffset } = layout;
  const whole = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
  if (![matrixOffset, stride, scalesOffset, bytes, count].every(whole)) return undefined;
  if (
    stride !== ExactIndex.strideFor(dim) ||
    matrixOffset < 40 ||
    scalesOffset < matrixOffset + count * stride ||
    scalesOffset + 4 * count !== bytes
  )
    return undefined;
  return { matrixOffset, stride, scalesOffset, bytes };
}

/**
 * Bytes a download receives between two minor garbage collections, when the runtime exposes `gc`
 * (the Lambda Node.js runtime starts node with --expose-gc). Each socket chunk is garbage once copied
 * out, but in the young generation Lambda gives a function (a twentieth of its memory per semi-space)
 * V8 collects them only every few tens of MB: every chunk then lands in fresh memory, whose first
 * write costs a page fault per 4 KB. Collected every 2 MB, the chunks' memory is reused instead.
 * bench:coldstart at 100k x 128 (17 MB), 4 alternating rounds: without, download 422-492 ms and
 * cold start 1,062-1,182 ms (medians of 3); every 2 MB, 343-400 and 958-1,055; every 4 MB and 8 MB
 * about the same as 2 MB (a collection costs 0.5-17 ms).
 */
const COLLECT_EVERY_BYTES = 2 * 1024 * 1024;
const minorGc = (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc;

/** What the parts of one download have received since the last collection (see COLLECT_EVERY_BYTES). */
interface DownloadPace {
  uncollected: number;
}

/** A range of the snapshot object, starting at `offset`, and the buffer its bytes are written into. */
export interface DownloadRange {
  offset: number;
  target: Uint8Array;
}

async function getPart(s3: S3Client, bucket: string, key: string, first: number, last: number) {
  const response = await s3.send(
    new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${first}-${last}` }),
  );
  // "bytes 0-8388607/67800576"; absent when a server ignores the range and sends the whole object.
  const total = Number(response.ContentRange?.split('/')[1] ?? response.ContentLength);
  if (!Number.isSafeInteger(total) || total < 0) throw new Error(`snapshot ${key}: no usable length`);
  return { response, total };
}

/**
 * Downloads the `total` bytes of a snapshot from `from` on, in parts side by side, each byte
 * written where a range says (a byte in no range is dropped: the padding before the scales). No list
 * of chunks is kept and concatenated, which would need the snapshot's size twice at the peak.
 */
export async function downloadRanges(
  s3: S3Client,
  bucket: string,
  key: string,
  total: number,
  ranges: readonly DownloadRange[],
  { from = 0, partBytes = partBytesFor(total) }: { from?: number; partBytes?: number } = {},
): Promise<void> {
  let next = from;
  const pace: DownloadPace = { uncollected: 0 };
  const worker = async () => {
    while (next < total) {
      const first = next;
      const last = Math.min(total, first + partBytes) - 1;
      next = last + 1;
      const { response, total: stored } = await getPart(s3, bucket, key, first, last);
      // A pointer naming another size than the object has (a snapshot replaced under its key) is refused.
      if (stored !== total) throw new Error(`snapshot ${key}: ${stored} bytes, the pointer says ${total}`);
      const length = await readInto(response.Body, ranges, first, last + 1, pace);
      if (length !== last - first + 1) throw new Error(`snapshot ${key}: part at ${first} was cut short`);
    }
  };
  await Promise.all(Array.from({ length: DOWNLOAD_PARTS_IN_FLIGHT }, worker));
}

function partBytesFor(total: number): number {
  return Math.min(MAX_PART_BYTES, Math.max(MIN_PART_BYTES, Math.ceil(total / DOWNLOAD_PARTS_IN_FLIGHT)));
}

/**
 * A snapshot read into one buffer allocated once at its full size. The buffer starts an
 * ArrayBuffer, so the index could adopt views of it without a copy.
 */
export async function downloadSnapshot(
  s3: S3Client,
  bucket: string,
  key: string,
  /** The snapshot's size when the pointer says it: then every part is asked for at once. */
  knownBytes?: number,
): Promise<Uint8Array> {
  if (knownBytes !== undefined && Number.isSafeInteger(knownBytes) && knownBytes > 0) {
    const bytes = new Uint8Array(knownBytes);
    await downloadRanges(s3, bucket, key, knownBytes, [{ offset: 0, target: bytes }]);
    return bytes;
  }
  // The first part says the size.
  const head = await getPart(s3, bucket, key, 0, DOWNLOAD_PART_BYTES - 1);
  const bytes = new Uint8Array(head.total);
  const ranges = [{ offset: 0, target: bytes }];
  const from = await readInto(head.response.Body, ranges, 0, head.total, { uncollected: 0 });
  await downloadRanges(s3, bucket, key, head.total, ranges, { from, partBytes: DOWNLOAD_PART_BYTES });
  return bytes;
}

/**
 * Streams a body that starts at `offset` of the snapshot into the ranges; returns how many bytes it
 * held. A body past `end` (more than was asked for) is refused.
 */
async function readInto(
  body: unknown,
  ranges: readonly DownloadRange[],
  offset: number,
  end: number,
  pace: DownloadPace,
): Promise<number> {
  let at = offset;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    const chunkEnd = at + chunk.byteLength;
    if (chunkEnd > end) throw new Error('snapshot body longer than its length');
    pace.uncollected += chunk.byteLength;
    if (minorGc && pace.uncollected >= COLLECT_EVERY_BYTES) {
      pace.uncollected = 0;
      minorGc({ type: 'minor' });
    }
    for (const { offset: start, target } of ranges) {
      const from = Math.max(at, start);
      const to = Math.min(chunkEnd, start + target.byteLength);
      if (from < to) target.set(chunk.subarray(from - at, to - at), from - start);
    }
    at = chunkEnd;
  }
  return at - offset;
}

export async function readPointer(
  s3: S3Client,
  bucket: string,
  modelId: string,
): Promise<SnapshotPointer | undefined> {
  return (await readStoredPointer(s3, bucket, modelId))?.pointer;
}

/**
 * The `exact` serving backend: the one in-memory index holds every item, refreshed with the changes
 * since its watermark whenever the last refresh is older than the interval.
 */
export function exactServing(
  catalogue: () => Promise<CatalogueIndex>,
  now: () => number = Date.now,
): Serving {
  const fresh = async () => {
    const index = await catalogue();
    await index.refreshIfDue(now());
    return index;
  };
  return {
    forQueries: async () => (await fresh()).index,
    forItems: async () => (await fresh()).index,
    categories: async () => (await fresh()).categories(),
    prepare: () =>
      catalogue().then(
        () => undefined,
        () => undefined,
      ),
  };
}

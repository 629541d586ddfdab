import { INT8_KERNEL_WASM_BASE64 } from './int8-kernel.wasm';
import { blendedScore, byScoreThenId, isFiniteVector, type ResolvedSearch, resolveSearch } from './scoring';
import {
  checkInt8Scales,
  decodeSnapshot,
  encodeSnapshot,
  type QuantisedRows,
  type WritableSnapshotVersion,
} from './snapshot';
import type { SnapshotIds } from './snapshot-ids';
import {
  type ItemAttributes,
  MAX_LABEL_LENGTH,
  MAX_QUERIES,
  MAX_TAGS,
  type MultiSearchRequest,
  type ScoredItem,
  type SearchRequest,
  type VectorIndex,
} from './types';
import { VectorIndexError } from './vector-index-error';
import { MAX_WASM_PAGES, WASM_PAGE_BYTES, type WasmMemory, wasmApi } from './wasm-runtime';

/** The kernel consumes 32 int8 components per step; rows are zero-padded to a multiple of that. */
const KERNEL_STEP = 32;
const DEFAULT_INITIAL_CAPACITY = 1024;
const INT8_MAX = 127;
const INT32_MAX = 2 ** 31 - 1;

type QuantiseKernel = (source: number, stride: number, target: number) => number;
type ScanKernel = (
  firstRow: number,
  rowCount: number,
  stride: number,
  queries: number,
  queryCount: number,
  factors: number,
  scales: number,
  scores: number,
) => void;

/**
 * An empty index with room for `count` items, and the views of its memory that a version-6
 * snapshot's int8 rows and scales are downloaded into (ExactIndex.receiving, deserialise).
 */
export interface RowsInPlace {
  index: ExactIndex;
  count: number;
  /** count x stride bytes: where the rows go. */
  rows: Uint8Array;
  /** count x f32: where the scales go. */
  scales: Uint8Array;
}

let compiledKernel: object | undefined;
function int8Kernel(): object {
  compiledKernel ??= new wasmApi.Module(Buffer.from(INT8_KERNEL_WASM_BASE64, 'base64'));
  return compiledKernel;
}

/**
 * In-memory top-N over unit embeddings that returns exact scores of the vectors it holds.
 *
 * Each item is held once, as int8 with a per-item symmetric scale (max|v| / 127), in wasm memory:
 * the vector the index holds is q x scale (within scale / 2 of each component of the vector it was
 * given; a cosine moves by about 1e-3). A search scans the rows with a SIMD kernel against int16
 * queries, keeps the best `candidates` eligible rows in a bounded min-heap, and re-ranks those with
 * the float32 queries over the held vectors (scores equal, bit for bit, to the reference's float64
 * dot products with `vector()`). A snapshot stores the rows and scales as they are held, so a load
 * copies them into wasm memory and quantises nothing (issue 24).
 *
 * Wasm memory layout: query rows (int16) | query factors | one float32 staging row | int8 matrix |
 * row scales | approximate scores. It grows by capacity doubling; the matrix stays in place and the
 * per-row arrays move up.
 *
 * Removal swap-deletes: the last row moves into the hole, so rows [0, size) are always live, the scan
 * needs no tombstone check and a removed item can never be returned.
 */
export class ExactIndex implements VectorIndex {
  readonly dim: number;
  /** Bytes per int8 row: dim rounded up to the kernel step. */
  private readonly stride: number;
  /** Quantised query components lie in [-queryRange, queryRange]; see queryRangeFor. */
  private readonly queryRange: number;
  private readonly factorsBase: number;
  private readonly stagingBase: number;
  private readonly matrixBase: number;
  private readonly memory: WasmMemory;
  private readonly scan: ScanKernel;
  private readonly quantiseStaged: QuantiseKernel;
  /** Rows of the items upserted since the snapshot (all of them without one). */
  private readonly added = new Map<string, number>();
  /** The loaded snapshot's ids, read in place (see SnapshotIds). */
  private snapshotIds: SnapshotIds | undefined;
  /**
   * Per row; undefined where the row still holds the item the snapshot loaded there (its id is read
   * from the snapshot when asked). Every row written since holds its id.
   */
  private readonly itemIdOf: (string | undefined)[] = [];
  /**
   * Per row; a hole is an item still in the row a snapshot loaded it into, whose attributes are built
   * on first use by `snapshotAttributes` (see attributesAt).
   */
  private readonly attributesOf: (ItemAttributes | undefined)[] = [];
  private snapshotAttributes: ((row: number) => ItemAttributes) | undefined;
  /** A loaded row's publishedAt, read from the snapshot without building its attributes. */
  private snapshotPublishedAt: ((row: number) => number | undefined) | undefined;
  private count = 0;
  /** +1 on every change of the rows (see VectorIndex.generation). */
  private changes = 0;
  private capacity = 0;
  private int8!: Int8Array;
  private int16!: Int16Array;
  private float32!: Float32Array;

  constructor(dim: number, options: { initialCapacity?: number } = {}) {
    if (!Number.isInteger(dim) || dim < 1 || dim > 65_536) {
      throw new VectorIndexError('dimension_mismatch', `dim must be an integer in 1..65536, got ${dim}`);
    }
    this.dim = dim;
    this.stride = ExactIndex.strideFor(dim);
    this.queryRange = queryRangeFor(this.stride);
    this.factorsBase = MAX_QUERIES * this.stride * 2;
    this.stagingBase = this.factorsBase + 64;
    this.matrixBase = this.stagingBase + this.stride * 4;
    this.memory = new wasmApi.Memory({ initial: 1, maximum: MAX_WASM_PAGES });
    const instance = new wasmApi.Instance(int8Kernel(), { index: { memory: this.memory } });
    const kernel = instance.exports as { scan: ScanKernel; quantise: QuantiseKernel };
    this.scan = kernel.scan;
    this.quantiseStaged = kernel.quantise;
    this.growTo(Math.max(1, Math.floor(options.initialCapacity ?? DEFAULT_INITIAL_CAPACITY)));
  }

  get size(): number {
    return this.count;
  }

  get generation(): number {
    return this.changes;
  }

  upsert(itemId: string, vector: Float32Array, attributes: ItemAttributes): void {
    if (typeof itemId !== 'string' || itemId.length === 0 || itemId.length > MAX_LABEL_LENGTH) {
      throw new VectorIndexError('invalid_item', `item id must be 1..${MAX_LABEL_LENGTH} characters`);
    }
    if (!(vector instanceof Float32Array) || vector.length !== this.dim) {
      throw new VectorIndexError('dimension_mismatch', `${itemId}: a Float32Array of ${this.dim} expected`, {
        itemId,
      });
    }
    if (!isFiniteVector(vector)) {
      throw new VectorIndexError('invalid_item', `${itemId}: vector has a non-finite component`, { itemId });
    }
    const stored = storedAttributes(itemId, attributes);
    this.changes++;
    let row = this.rowOf(itemId);
    if (row === undefined) {
      if (this.count === this.capacity) this.growTo(this.nextCapacity());
      row = this.count++;
      this.added.set(itemId, row);
      this.itemIdOf[row] = itemId;
    }
    // Only the first dim floats are ever written, so the staging row's padding stays zero.
    this.float32.set(vector, this.stagingBase / 4);
    this.quantiseStagedInto(row);
    this.attributesOf[row] = stored;
  }

  remove(itemId: string): boolean {
    const row = this.rowOf(itemId);
    if (row === undefined) return false;
    this.changes++;
    const last = this.count - 1;
    if (row !== last) {
      const movedId = this.idAt(last);
      this.int8.copyWithin(this.rowByte(row), this.rowByte(last), this.rowByte(last) + this.stride);
      this.float32[this.scalesBase() / 4 + row] = this.float32[this.scalesBase() / 4 + last] as number;
      this.itemIdOf[row] = movedId;
      this.attributesOf[row] = this.attributesAt(last);
      if (this.added.has(movedId)) this.added.set(movedId, row);
      else this.snapshotIds?.move(movedId, row);
    }
    this.itemIdOf.pop();
    this.attributesOf.pop();
    if (!this.added.delete(itemId)) this.snapshotIds?.remove(itemId);
    this.count = last;
    return true;
  }

  has(itemId: string): boolean {
    return this.rowOf(itemId) !== undefined;
  }

  vector(itemId: string): Float32Array | undefined {
    const row = this.rowOf(itemId);
    if (row === undefined) return undefined;
    const out = new Float32Array(this.dim);
    this.dequantiseInto(row, out, 0);
    return out;
  }

  attributes(itemId: string): ItemAttributes | undefined {
    const row = this.rowOf(itemId);
    return row === undefined ? undefined : this.attributesAt(row);
  }

  /** Every item's id, in row order. */
  *ids(): IterableIterator<string> {
    for (let row = 0; row < this.count; row++) yield this.idAt(row);
  }

  search(request: SearchRequest): ScoredItem[] {
    const search = resolveSearch(request, this.dim);
    if (this.count === 0) return [];
    const rows =
      search.candidates >= this.count
        ? this.eligibleRows(request.accept, request.publishedAfter)
        : this.approximateTop(search, request.accept, request.publishedAfter);
    return this.rescored(rows, search);
  }

  searchMany(request: MultiSearchRequest): ScoredItem[][] {
    const searches = request.searches.map((one) =>
      resolveSearch({ queries: request.queries, weights: request.weights, ...one }, this.dim),
    );
    if (this.count === 0) return searches.map(() => []);
    let scanned = false;
    return searches.map((search, i) => {
      const accept = request.searches[i]?.accept;
      const publishedAfter = request.searches[i]?.publishedAfter;
      if (search.candidates >= this.count)
        return this.rescored(this.eligibleRows(accept, publishedAfter), search);
      // The first search that needs the scan runs it; the others select from the same scores.
      if (!scanned) this.scanScores(search);
      scanned = true;
      return this.rescored(this.topRows(search.candidates, accept, publishedAfter), search);
    });
  }

  /** The rows' exact blended scores, best first, the top k. */
  private rescored(rows: ArrayLike<number>, search: ResolvedSearch): ScoredItem[] {
    const scored: ScoredItem[] = [];
    const staging = this.stagingBase / 4;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as number;
      // The held vector, as vector() gives it, scored as the reference scores it.
      this.dequantiseInto(row, this.float32, staging);
      scored.push({
        itemId: this.idAt(row),
        score: blendedScore(this.float32, staging, search.queries, search.weights, this.dim),
      });
    }
    return scored.sort(byScoreThenId).slice(0, search.k);
  }

  /** The snapshot of this index, in the current format unless told (3 or 4 for tests and comparisons). */
  serialise(version?: WritableSnapshotVersion): Uint8Array {
    // The int8 rows and their scales are contiguous in wasm memory: the encoder copies them from there.
    // Formats 3 and 4 store the held vectors as float32 (exactly: q x scale is a float32).
    const quantised: QuantisedRows = {
      stride: this.stride,
      rows: new Uint8Array(this.memory.buffer, this.matrixBase, this.count * this.stride),
      scales: new Uint8Array(this.memory.buffer, this.scalesBase(), 4 * this.count),
    };
    return encodeSnapshot(
      {
        dim: this.dim,
        itemIds: Array.from({ length: this.count }, (_, row) => this.idAt(row)),
        attributes: Array.from({ length: this.count }, (_, row) => this.attributesAt(row)),
        quantised,
        readRow: (row, target, at) => this.dequantiseInto(row, target, at),
      },
      version,
    );
  }

  /** Bytes per int8 row of an index of `dim` dimensions (a snapshot's rows must have it to be adopted in place). */
  static strideFor(dim: number): number {
    return Math.ceil(dim / KERNEL_STEP) * KERNEL_STEP;
  }

  /**
   * An empty index with room for `count` items, and where a version-6 snapshot's rows and scales
   * go in its memory: a download writes them there, and deserialise(prefix, { placed }) adopts them
   * with no copy. The views are valid until the index next grows (nothing grows it before then).
   */
  static receiving(dim: number, count: number): RowsInPlace {
    const index = new ExactIndex(dim, { initialCapacity: count });
    const buffer = index.memory.buffer;
    return {
      index,
      count,
      rows: new Uint8Array(buffer, index.matrixBase, count * index.stride),
      scales: new Uint8Array(buffer, index.scalesBase(), 4 * count),
    };
  }

  /**
   * Loads a snapshot from serialise(). A format-6 snapshot's int8 rows and scales are copied into
   * wasm memory as they are (one copy each when the rows have this index's stride): nothing is
   * quantised. Format 5's int16 rows and older formats' float32 rows are quantised to int8 row by
   * row, as upsert quantises a vector.
   *
   * With `placed`, `bytes` is only the prefix of a version-6 snapshot of `byteLength` bytes (its
   * bytes before the rows) whose rows and scales were downloaded into `placed.rows` (receiving):
   * they are checked where they are and adopted, and the index returned is `placed.rows.index`.
   * A snapshot whose header disagrees (another layout, count or dimension) is refused as corrupt.
   */
  static deserialise(bytes: Uint8Array, placed?: { rows: RowsInPlace; byteLength: number }): ExactIndex {
    const { dim, ids, attributeOf, publishedAtOf, exact } = decodeSnapshot(
      bytes,
      placed && { byteLength: placed.byteLength },
    );
    const count = ids.count;
    const index = placed?.rows.index ?? new ExactIndex(dim, { initialCapacity: count });
    const staging = index.stagingBase / 4;
    if (exact.kind === 'placed') {
      const into = placed?.rows;
      if (!into || dim !== index.dim || count !== into.count || exact.stride !== index.stride)
        throw new VectorIndexError(
          'corrupt_snapshot',
          'corrupt vector index snapshot: its rows are not where its pointer says',
        );
      checkInt8Scales(
        new DataView(into.scales.buffer, into.scales.byteOffset, into.scales.byteLength),
        count,
      );
    } else if (exact.kind === 'int8') {
      const matrix = new Uint8Array(index.memory.buffer);
      if (exact.stride === index.stride) {
        matrix.set(exact.rows, index.matrixBase);
      } else {
        // Another kernel step laid the rows out: each row's components move, the padding is zero.
        for (let row = 0; row < count; row++) {
          const from = row * exact.stride;
          matrix.set(exact.rows.subarray(from, from + dim), index.rowByte(row));
        }
      }
      matrix.set(exact.scales, index.scalesBase());
    } else if (exact.kind === 'int16') {
      const view = new DataView(exact.rows.buffer, exact.rows.byteOffset, exact.rows.byteLength);
      const scales = new DataView(exact.scales.buffer, exact.scales.byteOffset, exact.scales.byteLength);
      for (let row = 0; row < count; row++) {
        const scale = scales.getFloat32(4 * row, true);
        for (let j = 0; j < dim; j++)
          index.float32[staging + j] = view.getInt16(2 * (row * dim + j), true) * scale;
        index.quantiseStagedInto(row);
      }
    } else {
      const floats =
        exact.matrix.byteOffset % 4 === 0
          ? new Float32Array(exact.matrix.buffer, exact.matrix.byteOffset, count * dim)
          : new Float32Array(exact.matrix.slice(0, count * dim * 4).buffer);
      for (let row = 0; row < count; row++) {
        const vector = floats.subarray(row * dim, (row + 1) * dim);
        if (!isFiniteVector(vector))
          throw new VectorIndexError(
            'corrupt_snapshot',
            `corrupt vector index snapshot: item ${row} is not finite`,
          );
        index.float32.set(vector, staging);
        index.quantiseStagedInto(row);
      }
    }
    for (let row = 0; row < count; row++) {
      // undefined, not a hole: the arrays keep V8's fast elements.
      index.itemIdOf.push(undefined);
      index.attributesOf.push(undefined);
    }
    index.snapshotIds = ids;
    index.snapshotAttributes = attributeOf;
    index.snapshotPublishedAt = publishedAtOf;
    index.count = count;
    return index;
  }

  /** Without candidates to skip, every eligible row is re-ranked exactly. */
  private eligibleRows(accept: SearchRequest['accept'], publishedAfter?: number): number[] {
    const rows: number[] = [];
    for (let row = 0; row < this.count; row++) {
      if (this.publishedTooEarly(row, publishedAfter)) continue;
      if (!accept || accept(this.idAt(row), this.attributesAt(row))) rows.push(row);
    }
    return rows;
  }

  /** Whether `publishedAfter` lets the row be skipped unasked (see SearchRequest.publishedAfter). */
  private publishedTooEarly(row: number, publishedAfter: number | undefined): boolean {
    if (publishedAfter === undefined) return false;
    // As attributesAt: a row without attributes still holds the item the snapshot loaded there.
    const held = this.attributesOf[row];
    const publishedAt = held ? held.publishedAt : this.snapshotPublishedAt?.(row);
    return !(publishedAt !== undefined && publishedAt > publishedAfter);
  }

  /**
   * The `candidates` eligible rows with the best approximate blended scores. The filter runs only on
   * rows that would enter the heap, so a selective filter costs little and the heap holds
   * min(candidates, eligible) rows: k results whenever k eligible items exist.
   */
  private approximateTop(
    search: ResolvedSearch,
    accept: SearchRequest['accept'],
    publishedAfter?: number,
  ): Int32Array {
    this.scanScores(search);
    return this.topRows(search.candidates, accept, publishedAfter);
  }

  /** The approximate (int8) blended score of every row, into the scores area for `topRows`. */
  private scanScores(search: ResolvedSearch): void {
    this.scan(
      this.matrixBase,
      this.count,
      this.stride,
      0,
      this.loadQueries(search),
      this.factorsBase,
      this.scalesBase(),
      this.scoresBase(),
    );
  }

  /** The `limit` eligible rows with the best scores of the last scan (see approximateTop). */
  private topRows(limit: number, accept: SearchRequest['accept'], publishedAfter?: number): Int32Array {
    const scores = this.float32;
    const first = this.scoresBase() / 4;
    const heapScores = new Float32Array(limit);
    const heapRows = new Int32Array(limit);
    let size = 0;
    for (let row = 0; row < this.count; row++) {
      const score = scores[first + row] as number;
      if (size === limit && score <= (heapScores[0] as number)) continue;
      if (this.publishedTooEarly(row, publishedAfter)) continue;
      if (accept && !accept(this.idAt(row), this.attributesAt(row))) continue;
      if (size < limit) {
        let child = size++;
        while (child > 0) {
          const parent = (child - 1) >> 1;
          if ((heapScores[parent] as number) <= score) break;
          heapScores[child] = heapScores[parent] as number;
          heapRows[child] = heapRows[parent] as number;
          child = parent;
        }
        heapScores[child] = score;
        heapRows[child] = row;
      } else {
        let parent = 0;
        for (;;) {
          let child = 2 * parent + 1;
          if (child >= size) break;
          if (child + 1 < size && (heapScores[child + 1] as number) < (heapScores[child] as number)) child++;
          if ((heapScores[child] as number) >= score) break;
          heapScores[parent] = heapScores[child] as number;
          heapRows[parent] = heapRows[child] as number;
          parent = child;
        }
        heapScores[parent] = score;
        heapRows[parent] = row;
      }
    }
    return heapRows.subarray(0, size);
  }

  /** Writes the queries as int16 rows and their factors (weight / scale); returns how many. */
  private loadQueries({ queries, weights }: ResolvedSearch): number {
    const queryRows = this.int16;
    const factors = this.float32;
    queries.forEach((query, k) => {
      const start = k * this.stride;
      let maxAbs = 0;
      for (let j = 0; j < this.dim; j++) maxAbs = Math.max(maxAbs, Math.abs(query[j] as number));
      const scale = maxAbs === 0 ? 0 : this.queryRange / maxAbs;
      for (let j = 0; j < this.dim; j++) queryRows[start + j] = Math.round((query[j] as number) * scale);
      queryRows.fill(0, start + this.dim, start + this.stride);
      factors[this.factorsBase / 4 + k] = scale === 0 ? 0 : (weights[k] as number) / scale;
    });
    return queries.length;
  }

  /**
   * int8 row = round(v * 127 / max|v|) of the staged float32 row v (in wasm: 10x faster than JS,
   * which matters when an older snapshot loads); the row's scale max|v| / 127 turns int8 dots back
   * into cosines.
   */
  private quantiseStagedInto(row: number): void {
    const maxAbs = this.quantiseStaged(this.stagingBase, this.stride, this.rowByte(row));
    this.float32[this.scalesBase() / 4 + row] = maxAbs / INT8_MAX;
  }

  /** Writes row `row`'s held vector (each component q x scale, a float32) into `target` at `at`. */
  private dequantiseInto(row: number, target: Float32Array, at: number): void {
    const int8 = this.int8;
    const first = this.rowByte(row);
    const scale = this.float32[this.scalesBase() / 4 + row] as number;
    for (let j = 0; j < this.dim; j++) target[at + j] = (int8[first + j] as number) * scale;
  }

  /** Double, but stop at what 4 GiB of wasm memory holds (5.4M items at 768 dimensions) rather than fail. */
  private nextCapacity(): number {
    const largest = Math.floor((MAX_WASM_PAGES * WASM_PAGE_BYTES - this.matrixBase) / (this.stride + 8));
    return Math.min(this.capacity * 2, largest);
  }

  private growTo(capacity: number): void {
    const bytesNeeded = this.matrixBase + capacity * (this.stride + 8);
    const pagesNeeded = Math.ceil(bytesNeeded / WASM_PAGE_BYTES);
    if (pagesNeeded > MAX_WASM_PAGES || capacity <= this.count) {
      throw new VectorIndexError(
        'capacity_exceeded',
        `the int8 copy of ${this.count + 1} items exceeds 4 GiB`,
        {
          capacity,
          dim: this.dim,
        },
      );
    }
    const oldScalesBase = this.scalesBase();
    const pagesHeld = this.memory.buffer.byteLength / WASM_PAGE_BYTES;
    if (pagesNeeded > pagesHeld) this.memory.grow(pagesNeeded - pagesHeld);
    this.int8 = new Int8Array(this.memory.buffer);
    this.int16 = new Int16Array(this.memory.buffer);
    this.float32 = new Float32Array(this.memory.buffer);
    this.capacity = capacity;
    this.int8.copyWithin(this.scalesBase(), oldScalesBase, oldScalesBase + 4 * this.count);
  }

  /** The row of `itemId`, if it is held. */
  private rowOf(itemId: string): number | undefined {
    return this.added.get(itemId) ?? this.snapshotIds?.rowOf(itemId);
  }

  /** Row `row`'s item id (one the snapshot loaded there is read from it). */
  private idAt(row: number): string {
    return this.itemIdOf[row] ?? (this.snapshotIds as SnapshotIds).idAt(row);
  }

  /** Row `row`'s attributes, built from the snapshot on first use (then kept). */
  private attributesAt(row: number): ItemAttributes {
    let attributes = this.attributesOf[row];
    if (attributes === undefined) {
      attributes = (this.snapshotAttributes as (row: number) => ItemAttributes)(row);
      this.attributesOf[row] = attributes;
    }
    return attributes;
  }

  private rowByte(row: number): number {
    return this.matrixBase + row * this.stride;
  }

  private scalesBase(): number {
    return this.matrixBase + this.capacity * this.stride;
  }

  private scoresBase(): number {
    return this.scalesBase() + this.capacity * 4;
  }
}

/**
 * The largest int16 query range for which no row can overflow the kernel's int32 sums:
 * |sum q_j v_j| <= stride * 127 * range < 2^31. That is the full int16 range up to 528 dimensions and
 * still 11+ bits at 4096, far finer than the int8 items.
 */
function queryRangeFor(stride: number): number {
  return Math.min(32_767, Math.floor(INT32_MAX / (INT8_MAX * stride)));
}

function storedAttributes(itemId: string, attributes: ItemAttributes): ItemAttributes {
  const { category, available, publishedAt, tags, price } = attributes ?? {};
  const invalid = (message: string) =>
    new VectorIndexError('invalid_item', `${itemId}: ${message}`, {
      itemId,
    });
  if (typeof available !== 'boolean') throw invalid('attributes.available must be a boolean');
  if (publishedAt !== undefined && !(Number.isInteger(publishedAt) && publishedAt >= 0)) {
    throw invalid('publishedAt must be a non-negative integer (ms)');
  }
  if (category !== undefined && (typeof category !== 'string' || category.length > MAX_LABEL_LENGTH)) {
    throw invalid(`category must be a string of <= ${MAX_LABEL_LENGTH}`);
  }
  if (price !== undefined && !(typeof price === 'number' && Number.isFinite(price) && price >= 0)) {
    throw invalid('price must be a finite, non-negative number');
  }
  const stored: ItemAttributes = {
    ...(category === undefined ? {} : { category }),
    available,
    ...(publishedAt === undefined ? {} : { publishedAt }),
  };
  if (tags !== undefined) {
    if (!Array.isArray(tags)) throw invalid('tags must be an array of strings');
    for (const tag of tags) {
      if (typeof tag !== 'string' || tag.length === 0 || tag.length > MAX_LABEL_LENGTH) {
        throw invalid(`each tag must be a string of 1..${MAX_LABEL_LENGTH}`);
      }
    }
    const distinct = [...new Set(tags)];
    if (distinct.length > MAX_TAGS)
      throw invalid(`at most ${MAX_TAGS} distinct tags, got ${distinct.length}`);
    // No tags and an empty list are one state (a snapshot cannot tell them apart).
    if (distinct.length > 0) stored.tags = Object.freeze(distinct);
  }
  if (price !== undefined) stored.price = price;
  return Object.freeze(stored);
}

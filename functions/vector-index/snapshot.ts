import { endianness } from 'node:os';
import { SnapshotIds } from './snapshot-ids';
import { type ItemAttributes, MAX_TAGS } from './types';
import { VectorIndexError } from './vector-index-error';

/*
 * Snapshot layout, version 6, little-endian:
 *   0   "LKVI"             magic
 *   4   u16 version        6
 *   6   u16 header bytes   40 (32 before version 4)
 *   8   u32 dim
 *   12  u32 count          items
 *   16  u32 categories     distinct category labels
 *   20  u32 label bytes    the label section below
 *   24  u32 matrix offset  multiple of 64: the int8 rows (versions 6 and 4), the int16 scales
 *                          (version 5), the float32 rows (before)
 *   28  u32 tags           distinct tag labels (a reserved 0 before version 3)
 *   32  u32 int8 stride    bytes per int8 row: dim rounded up to the kernel's step (versions 6 and 4;
 *                          0 in 5)
 *   36  u32 rows offset    multiple of 64: the int8 scales (version 6), the int16 rows (version 5),
 *                          the float32 rows (version 4)
 *   H   count x u32        attributes: bit 0 available, bits 1..31 category number + 1 (0 = none)
 *   ..  count x u32        publishedAt in whole seconds since 1970 (0 = unknown)
 *   ..  count x f64        price, NaN = none (f64: a price of 19.99 compares equal to a filter's 19.99);
 *                          it starts at H + 8 x count, so it is 8-byte aligned in the file
 *   ..  (count + 1) x u32  tag offsets: item i's tags are the references [offset i, offset i + 1);
 *                          the first offset is 0, they never decrease, the last is the reference count
 *   ..  references x u32   tag numbers (into the tag labels), each item's in its own order
 *   ..  labels             count item ids, then the category labels, then the tag labels; each a u16
 *                          byte length + UTF-8
 *   ..  zero padding up to the matrix offset
 *   version 6:
 *   ..  count x stride i8  the rows as the index holds them (round(v x 127 / max|v|), zero padding to
 *                          the stride)
 *   ..  zero padding up to the rows offset
 *   ..  count x f32        each row's scale, max|v| / 127: component j is row[j] x scale
 *   version 5:
 *   ..  count x f32        each row's int16 scale: a power of two, or 0 for an all-zero row
 *   ..  zero padding up to the rows offset
 *   ..  count x dim i16    int16 embeddings: component = q x scale
 *   version 4:
 *   ..  count x stride i8  int8 rows, as in version 6
 *   ..  count x f32        each row's scale, max|v| / 127
 *   ..  zero padding up to the float offset
 *   ..  count x dim f32    exact embeddings in item order
 * Version 6 stores the int8 rows and scales the index holds and searches, as they are: a load copies
 * them into the index and quantises nothing, and 100k x 128 is 17 MB against version 5's 29 MB (the
 * int16 rows the index re-ranked with then) and version 4's 68 MB. A cold start's cost grows with the
 * bytes it downloads and touches (README, "Capacity"). Versions 3 to 5 are still read: their int16 or
 * float32 rows are quantised to int8 on load (format 4's stored int8 rows are left aside: the float32
 * rows are what they came from). Older versions (still read) stop after a prefix of the per-item
 * sections, and their items load without what is missing: version 1 has neither publishedAt (its
 * items count as old) nor prices nor tags; version 2 has publishedAt but no prices or tags.
 */
const MAGIC = 0x49564b4c; // "LKVI" read as a little-endian u32
export const SNAPSHOT_VERSION = 6;
/**
 * Versions decodeSnapshot reads: 1 lacks publishedAt, 1 and 2 lack prices and tags, 1-4 hold float32
 * rows, 5 int16 rows, 6 the int8 rows.
 */
const READABLE_VERSIONS = new Set([1, 2, 3, 4, 5, 6]);
/** Versions encodeSnapshot writes: 3 to 5 only on request (tests, and comparing loads). */
export type WritableSnapshotVersion = 3 | 4 | 5 | 6;
const headerBytesOf = (version: number) => (version >= 4 ? 40 : 32);
const MATRIX_ALIGNMENT = 64;

/** The index's int8 rows: `stride` bytes each and one scale per row, both in item order. */
export interface QuantisedRows {
  stride: number;
  /** count x stride bytes (int8 values). */
  rows: Uint8Array;
  /** count x f32 scales, little-endian (not necessarily 4-byte aligned when decoded). */
  scales: Uint8Array;
}

export interface SnapshotContents {
  dim: number;
  /** Item ids in row order. */
  itemIds: readonly string[];
  attributes: readonly ItemAttributes[];
  /** The rows as the index holds them (versions 6 and 4). */
  quantised: QuantisedRows;
  /** Writes row `row`'s held vector as float32 into `target` at `at` (versions 3 to 5). */
  readRow: (row: number, target: Float32Array, at: number) => void;
}

/**
 * A snapshot's embeddings: int8 rows and their scales (version 6), int16 rows and their scales
 * (version 5), or float32 rows (before).
 */
export type SnapshotRows =
  | { kind: 'int8'; stride: number; rows: Uint8Array; scales: Uint8Array }
  /** Version 6 decoded from its prefix alone: the rows and scales were written elsewhere (SnapshotLayout). */
  | { kind: 'placed'; stride: number }
  | { kind: 'int16'; rows: Uint8Array; scales: Uint8Array }
  | { kind: 'float32'; matrix: Uint8Array };

export interface DecodedSnapshot {
  dim: number;
  /** The item ids in row order, read in place (no strings made); a duplicate was refused. */
  ids: SnapshotIds;
  /**
   * Item `row`'s attributes, built when asked (a frozen object per call): a cold start builds none of
   * the 100k+ objects a query does not look at. Every item was checked by decodeSnapshot.
   */
  attributeOf: (row: number) => ItemAttributes;
  /** Item `row`'s publishedAt (ms), as attributeOf gives it, without building its attributes. */
  publishedAtOf: (row: number) => number | undefined;
  /** Views into the snapshot (not necessarily aligned). */
  exact: SnapshotRows;
}

/** Where each section starts in a snapshot of this version (see the layout above). */
function sectionStarts(version: number, count: number) {
  const publishedStart = headerBytesOf(version) + 4 * count;
  const pricesStart = version >= 2 ? publishedStart + 4 * count : publishedStart;
  const tagOffsetsStart = version >= 3 ? pricesStart + 8 * count : pricesStart;
  const referencesStart = version >= 3 ? tagOffsetsStart + 4 * (count + 1) : tagOffsetsStart;
  return { publishedStart, pricesStart, tagOffsetsStart, referencesStart };
}

export function encodeSnapshot(
  { dim, itemIds, attributes, quantised, readRow }: SnapshotContents,
  version: WritableSnapshotVersion = SNAPSHOT_VERSION,
): Uint8Array {
  assertLittleEndianHost();
  const headerBytes = headerBytesOf(version);
  const count = itemIds.length;
  const categoryNumbers = new Map<string, number>();
  const tagNumbers = new Map<string, number>();
  let referenceCount = 0;
  for (const { category, tags } of attributes) {
    if (category !== undefined && !categoryNumbers.has(category)) {
      categoryNumbers.set(category, categoryNumbers.size);
    }
    for (const tag of tags ?? []) {
      if (!tagNumbers.has(tag)) tagNumbers.set(tag, tagNumbers.size);
    }
    referenceCount += tags?.length ?? 0;
  }
  const labels = [...itemIds, ...categoryNumbers.keys(), ...tagNumbers.keys()];
  const labelBytes = labels.reduce((total, label) => total + 2 + Buffer.byteLength(label, 'utf8'), 0);
  const { publishedStart, pricesStart, tagOffsetsStart, referencesStart } = sectionStarts(version, count);
  const labelsStart = referencesStart + 4 * referenceCount;
  const matrixOffset = alignUp(labelsStart + labelBytes, MATRIX_ALIGNMENT);
  if (
    quantised.stride < dim ||
    quantised.rows.byteLength !== count * quantised.stride ||
    quantised.scales.byteLength !== 4 * count
  ) {
    throw new Error('a snapshot needs the int8 rows and scales of every item');
  }
  // Version 6: the scales after the rows; 5: the int16 rows after their scales; 4: the float32 rows
  // after the int8 rows and scales.
  let floatOffset = matrixOffset;
  if (version === 6) floatOffset = alignUp(matrixOffset + count * quantised.stride, MATRIX_ALIGNMENT);
  if (version === 5) floatOffset = alignUp(matrixOffset + 4 * count, MATRIX_ALIGNMENT);
  if (version === 4) floatOffset = alignUp(matrixOffset + count * (quantised.stride + 4), MATRIX_ALIGNMENT);
  const bytes = new Uint8Array(floatOffset + count * (version === 6 ? 4 : dim * (version === 5 ? 2 : 4)));
  // Buffer methods only ever see the part before the matrix: in Node 20, Buffer#write into a Buffer
  // longer than 2 GiB silently writes nothing (a 1M x 768 snapshot is 3 GB).
  const prefix = Buffer.from(bytes.buffer, 0, matrixOffset);

  prefix.writeUInt32LE(MAGIC, 0);
  prefix.writeUInt16LE(version, 4);
  prefix.writeUInt16LE(headerBytes, 6);
  prefix.writeUInt32LE(dim, 8);
  prefix.writeUInt32LE(count, 12);
  prefix.writeUInt32LE(categoryNumbers.size, 16);
  prefix.writeUInt32LE(labelBytes, 20);
  prefix.writeUInt32LE(matrixOffset, 24);
  prefix.writeUInt32LE(tagNumbers.size, 28);
  if (version >= 4) {
    prefix.writeUInt32LE(version === 5 ? 0 : quantised.stride, 32);
    prefix.writeUInt32LE(floatOffset, 36);
  }
  let reference = 0;
  attributes.forEach(({ available, category, publishedAt, price, tags }, row) => {
    const categoryNumber = category === undefined ? 0 : (categoryNumbers.get(category) as number) + 1;
    // `* 2 +` rather than `<< 1 |`: category numbers may use all 31 bits without going negative.
    prefix.writeUInt32LE(categoryNumber * 2 + (available ? 1 : 0), headerBytes + 4 * row);
    // Seconds fit a u32 until 2106; 0 stands for unknown (an item published at 1970-01-01T00:00:00Z
    // is as old as one with no date).
    const seconds = publishedAt === undefined ? 0 : Math.min(0xffffffff, Math.floor(publishedAt / 1000));
    prefix.writeUInt32LE(seconds, publishedStart + 4 * row);
    prefix.writeDoubleLE(price ?? Number.NaN, pricesStart + 8 * row);
    prefix.writeUInt32LE(reference, tagOffsetsStart + 4 * row);
    for (const tag of tags ?? []) {
      prefix.writeUInt32LE(tagNumbers.get(tag) as number, referencesStart + 4 * reference++);
    }
  });
  prefix.writeUInt32LE(reference, tagOffsetsStart + 4 * count);
  let cursor = labelsStart;
  for (const label of labels) {
    const length = prefix.write(label, cursor + 2, 'utf8');
    prefix.writeUInt16LE(length, cursor);
    cursor += 2 + length;
  }
  if (version === 6) {
    bytes.set(quantised.rows, matrixOffset);
    bytes.set(quantised.scales, floatOffset);
    return bytes;
  }
  if (version === 5) {
    writeInt16Rows(count, dim, readRow, bytes, matrixOffset, floatOffset);
    return bytes;
  }
  if (version === 4) {
    bytes.set(quantised.rows, matrixOffset);
    bytes.set(quantised.scales, matrixOffset + count * quantised.stride);
  }
  // Versions 3 and 4 hold float32 rows: the held vectors' values, exactly.
  const floats = new Float32Array(bytes.buffer, floatOffset, count * dim);
  for (let row = 0; row < count; row++) readRow(row, floats, row * dim);
  return bytes;
}

/**
 * Version 5's rows: each held vector as int16 components times a power-of-two scale, the least 2^e
 * with max|v| / 2^e <= 32767 (0 for an all-zero row), written before the int16 rows.
 */
function writeInt16Rows(
  count: number,
  dim: number,
  readRow: SnapshotContents['readRow'],
  bytes: Uint8Array,
  scalesStart: number,
  rowsStart: number,
): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const row = new Float32Array(dim);
  for (let r = 0; r < count; r++) {
    readRow(r, row, 0);
    let maxAbs = 0;
    for (let j = 0; j < dim; j++) maxAbs = Math.max(maxAbs, Math.abs(row[j] as number));
    let scale = 0;
    if (maxAbs > 0) {
      scale = 2 ** Math.ceil(Math.log2(maxAbs / 32_767));
      // Math.log2 may round either way at a boundary: settle it exactly.
      while (maxAbs / scale > 32_767) scale *= 2;
      while (scale > 2 ** -149 && maxAbs / (scale / 2) <= 32_767) scale /= 2;
    }
    view.setFloat32(scalesStart + 4 * r, scale, true);
    for (let j = 0; j < dim; j++)
      view.setInt16(
        rowsStart + 2 * (r * dim + j),
        scale === 0 ? 0 : Math.round((row[j] as number) / scale),
        true,
      );
  }
}

/**
 * Where a version-6 snapshot keeps its int8 rows and scales. A pointer carries it (CatalogueIndex
 * writeSnapshot), so that a cold start can download the rows and scales straight into the index's
 * memory (ExactIndex.receiving) and keep only the bytes before them: no buffer of the snapshot's size,
 * no copy of its rows.
 */
export interface SnapshotLayout {
  /** Where the rows start: every byte before is the header and the per-item sections (a multiple of 64). */
  matrixOffset: number;
  /** Bytes per row. */
  stride: number;
  /** Where the count x f32 scales start, after the rows and their padding (a multiple of 64). */
  scalesOffset: number;
}

/** A version-6 snapshot's layout, read from its header; undefined for another version or a short header. */
export function snapshotLayout(bytes: Uint8Array): SnapshotLayout | undefined {
  if (bytes.byteLength < headerBytesOf(6)) return undefined;
  const header = Buffer.from(bytes.buffer, bytes.byteOffset, headerBytesOf(6));
  if (header.readUInt32LE(0) !== MAGIC || header.readUInt16LE(4) !== 6) return undefined;
  return {
    matrixOffset: header.readUInt32LE(24),
    stride: header.readUInt32LE(32),
    scalesOffset: header.readUInt32LE(36),
  };
}

/**
 * Reads a snapshot. With `placed`, `bytes` is only a version-6 snapshot's prefix (everything before
 * its rows, SnapshotLayout.matrixOffset bytes) of a snapshot of `placed.byteLength` bytes, whose rows
 * and scales a download wrote elsewhere: the sections are checked against that length, and `exact`
 * is `placed` (the caller checks the scales where they are).
 */
export function decodeSnapshot(bytes: Uint8Array, placed?: { byteLength: number }): DecodedSnapshot {
  assertLittleEndianHost();
  if (bytes.byteLength < 32) corrupt('not a vector index snapshot');
  const header = Buffer.from(bytes.buffer, bytes.byteOffset, 32);
  if (header.readUInt32LE(0) !== MAGIC) corrupt('not a vector index snapshot');
  const version = header.readUInt16LE(4);
  if (!READABLE_VERSIONS.has(version)) {
    throw new VectorIndexError(
      'unsupported_snapshot',
      `snapshot version ${version}; this code reads ${[...READABLE_VERSIONS].join(', ')}`,
      {
        version,
      },
    );
  }
  const dim = header.readUInt32LE(8);
  const count = header.readUInt32LE(12);
  const categoryCount = header.readUInt32LE(16);
  const labelBytes = header.readUInt32LE(20);
  const matrixOffset = header.readUInt32LE(24);
  const tagCount = header.readUInt32LE(28);
  const headerBytes = headerBytesOf(version);
  if (header.readUInt16LE(6) !== headerBytes || bytes.byteLength < headerBytes)
    corrupt('section sizes do not add up');
  if (placed && (version !== 6 || bytes.byteLength !== matrixOffset))
    corrupt('its rows are not where its pointer says');
  const byteLength = placed?.byteLength ?? bytes.byteLength;
  const extension = Buffer.from(bytes.buffer, bytes.byteOffset, headerBytes);
  const stride = version === 4 || version === 6 ? extension.readUInt32LE(32) : 0;
  const floatOffset = version >= 4 ? extension.readUInt32LE(36) : matrixOffset;
  // What follows the last offset: version 6's scales, version 5's int16 rows, the float32 rows.
  const rowBytes = version === 6 ? 4 : dim * (version === 5 ? 2 : 4);
  const { publishedStart, pricesStart, tagOffsetsStart, referencesStart } = sectionStarts(version, count);
  if (
    dim < 1 ||
    (version < 3 && tagCount !== 0) ||
    referencesStart > matrixOffset ||
    // The int8 rows (version 4: and their scales) lie between the matrix offset and the next one.
    ((version === 4 || version === 6) &&
      (stride < dim ||
        floatOffset % MATRIX_ALIGNMENT !== 0 ||
        floatOffset < matrixOffset + count * (stride + (version === 4 ? 4 : 0)))) ||
    (version === 5 &&
      (extension.readUInt32LE(32) !== 0 ||
        floatOffset % MATRIX_ALIGNMENT !== 0 ||
        floatOffset < matrixOffset + 4 * count)) ||
    floatOffset + count * rowBytes !== byteLength
  ) {
    corrupt('section sizes do not add up');
  }
  // Everything before the matrix (see encodeSnapshot for why a Buffer never spans the matrix).
  const prefix = Buffer.from(bytes.buffer, bytes.byteOffset, matrixOffset);
  const tagOffset = (row: number) => prefix.readUInt32LE(tagOffsetsStart + 4 * row);
  const referenceCount = version >= 3 ? tagOffset(count) : 0;
  const labelsStart = referencesStart + 4 * referenceCount;
  if (labelsStart + labelBytes > matrixOffset) corrupt('section sizes do not add up');

  let cursor = labelsStart;
  const labelsEnd = labelsStart + labelBytes;
  const itemIds = readItemIds(prefix, labelsStart, labelsEnd, count);
  cursor = itemIds.end;
  const readLabel = (): string => {
    if (cursor + 2 > labelsEnd) corrupt('labels overrun their section');
    const length = prefix.readUInt16LE(cursor);
    const start = cursor + 2;
    cursor = start + length;
    if (cursor > labelsEnd) corrupt('labels overrun their section');
    return prefix.toString('utf8', start, cursor);
  };
  const categories = Array.from({ length: categoryCount }, readLabel);
  const tagLabels = Array.from({ length: tagCount }, readLabel);
  if (cursor !== labelsEnd) corrupt('label section has trailing bytes');
  // The encoder numbers distinct, non-empty tags, so an item's distinct numbers are distinct tags.
  if (tagLabels.includes('') || new Set(tagLabels).size !== tagCount)
    corrupt('tag labels repeat or are empty');
  if (version >= 3 && tagOffset(0) !== 0) corrupt('tag offsets do not start at 0');

  // A DataView for the per-item reads: unlike Buffer's methods, V8 inlines its getters.
  const view = new DataView(bytes.buffer, bytes.byteOffset, matrixOffset);
  const reference = (at: number) => view.getUint32(referencesStart + 4 * at, true);
  // Every item is checked here, without building anything, so that attributeOf cannot fail later.
  for (let row = 0, first = 0; row < count; row++) {
    const categoryNumber = Math.floor(view.getUint32(headerBytes + 4 * row, true) / 2);
    if (categoryNumber > categoryCount)
      corrupt(`item ${row} names category ${categoryNumber - 1} of ${categoryCount}`);
    if (version < 3) continue;
    const end = view.getUint32(tagOffsetsStart + 4 * row + 4, true);
    if (end < first || end - first > MAX_TAGS)
      corrupt(`item ${row}'s tag offsets decrease or span over ${MAX_TAGS}`);
    for (let at = first; at < end; at++) {
      const number = reference(at);
      if (number >= tagCount) corrupt(`tag reference ${at} is invalid`);
      // At most MAX_TAGS numbers: a scan is cheaper than a Set.
      for (let before = first; before < at; before++) {
        if (reference(before) === number) corrupt(`tag reference ${at} is invalid`);
      }
    }
    first = end;
    const price = view.getFloat64(pricesStart + 8 * row, true);
    if (!Number.isNaN(price) && !(Number.isFinite(price) && price >= 0))
      corrupt(`item ${row} has price ${price}`);
  }
  const publishedAtOf = (row: number): number | undefined => {
    const seconds = version >= 2 ? view.getUint32(publishedStart + 4 * row, true) : 0;
    return seconds === 0 ? undefined : seconds * 1000;
  };
  const attributeOf = (row: number): ItemAttributes => {
    const word = view.getUint32(headerBytes + 4 * row, true);
    const categoryNumber = Math.floor(word / 2);
    const attributes: ItemAttributes = { available: word % 2 === 1 };
    if (categoryNumber !== 0) attributes.category = categories[categoryNumber - 1] as string;
    const publishedAt = publishedAtOf(row);
    if (publishedAt !== undefined) attributes.publishedAt = publishedAt;
    if (version >= 3) {
      const first = view.getUint32(tagOffsetsStart + 4 * row, true);
      const end = view.getUint32(tagOffsetsStart + 4 * row + 4, true);
      if (end > first) {
        const tags: string[] = [];
        for (let at = first; at < end; at++) tags.push(tagLabels[reference(at)] as string);
        attributes.tags = Object.freeze(tags);
      }
      const price = view.getFloat64(pricesStart + 8 * row, true);
      if (!Number.isNaN(price)) attributes.price = price;
    }
    return Object.freeze(attributes);
  };
  const decoded = { dim, ids: itemIds.ids, attributeOf, publishedAtOf };
  if (version < 5) return { ...decoded, exact: { kind: 'float32', matrix: bytes.subarray(floatOffset) } };
  if (placed) return { ...decoded, exact: { kind: 'placed', stride } };
  if (version === 6) {
    const scales = bytes.subarray(floatOffset, floatOffset + 4 * count);
    checkInt8Scales(new DataView(scales.buffer, scales.byteOffset, scales.byteLength), count);
    return {
      ...decoded,
      exact: {
        kind: 'int8',
        stride,
        rows: bytes.subarray(matrixOffset, matrixOffset + count * stride),
        scales,
      },
    };
  }
  const scales = bytes.subarray(matrixOffset, matrixOffset + 4 * count);
  const scaleView = new DataView(scales.buffer, scales.byteOffset, scales.byteLength);
  for (let row = 0; row < count; row++) {
    const scale = scaleView.getFloat32(4 * row, true);
    // A power of two (or 0): what version 5's writer wrote.
    if (
      !(scale === 0 || (Number.isFinite(scale) && scale > 0 && 2 ** Math.round(Math.log2(scale)) === scale))
    )
      corrupt(`item ${row} has int16 scale ${scale}`);
  }
  return { ...decoded, exact: { kind: 'int16', rows: bytes.subarray(floatOffset), scales } };
}

/**
 * The first `count` labels, the item ids, in place: their positions, and whether the run is ASCII
 * (then a latin1 decode of an id is its UTF-8 one, and faster).
 */
function readItemIds(prefix: Buffer, labelsStart: number, labelsEnd: number, count: number) {
  const starts = new Uint32Array(count + 1);
  let cursor = labelsStart;
  for (let i = 0; i < count; i++) {
    if (cursor + 2 > labelsEnd) corrupt('labels overrun their section');
    starts[i] = cursor;
    cursor += 2 + prefix.readUInt16LE(cursor);
    if (cursor > labelsEnd) corrupt('labels overrun their section');
  }
  starts[count] = cursor;
  let ascii = true;
  // The u16 lengths are in the run too: a length byte >= 0x80 (ids of 128+ bytes) takes the UTF-8
  // decode, which is as correct and only slower.
  for (let at = labelsStart; at < cursor && ascii; at++) ascii = (prefix[at] as number) < 0x80;
  return { ids: new SnapshotIds(prefix, starts, count, ascii), end: cursor };
}

/** Version 6's scales (and the index's): max|v| / 127 of each row, finite and not negative. */
export function checkInt8Scales(scales: DataView, count: number): void {
  for (let row = 0; row < count; row++) {
    const scale = scales.getFloat32(4 * row, true);
    if (!(Number.isFinite(scale) && scale >= 0)) corrupt(`item ${row} has int8 scale ${scale}`);
  }
}

function corrupt(reason: string): never {
  throw new VectorIndexError('corrupt_snapshot', `corrupt vector index snapshot: ${reason}`);
}

/** The matrix is copied byte for byte; a big-endian host would need a swap (no Lambda host is one). */
function assertLittleEndianHost(): void {
  if (endianness() !== 'LE') throw new Error('vector index snapshots need a little-endian host');
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

import { endianness } from 'node:os';
import type { Float32Rows } from './float32-rows';
import { type ItemAttributes, MAX_TAGS } from './types';
import { VectorIndexError } from './vector-index-error';

/*
 * Snapshot layout, version 3, little-endian:
 *   0   "LKVI"             magic
 *   4   u16 version        3
 *   6   u16 header bytes   32
 *   8   u32 dim
 *   12  u32 count          items
 *   16  u32 categories     distinct category labels
 *   20  u32 label bytes    the label section below
 *   24  u32 matrix offset  multiple of 64
 *   28  u32 tags           distinct tag labels (a reserved 0 before version 3)
 *   32  count x u32        attributes: bit 0 available, bits 1..31 category number + 1 (0 = none)
 *   ..  count x u32        publishedAt in whole seconds since 1970 (0 = unknown)
 *   ..  count x f64        price, NaN = none (f64: a price of 19.99 compares equal to a filter's 19.99);
 *                          it starts at 32 + 8 x count, so it is 8-byte aligned in the file
 *   ..  (count + 1) x u32  tag offsets: item i's tags are the references [offset i, offset i + 1);
 *                          the first offset is 0, they never decrease, the last is the reference count
 *   ..  references x u32   tag numbers (into the tag labels), each item's in its own order
 *   ..  labels             count item ids, then the category labels, then the tag labels; each a u16
 *                          byte length + UTF-8
 *   ..  zero padding up to the matrix offset
 *   ..  count x dim f32    exact embeddings in item order
 * The int8 copy is not stored: re-quantising on load is cheaper than downloading a quarter more bytes.
 * Older versions (still read) stop after a prefix of the per-item sections, and their items load
 * without what is missing: version 1 has neither publishedAt (its items count as old) nor prices nor
 * tags; version 2 has publishedAt but no prices or tags.
 */
const MAGIC = 0x49564b4c; // "LKVI" read as a little-endian u32
export const SNAPSHOT_VERSION = 3;
/** Versions decodeSnapshot reads: 1 lacks publishedAt, 1 and 2 lack prices and tags. */
const READABLE_VERSIONS = new Set([1, 2, 3]);
const HEADER_BYTES = 32;
const MATRIX_ALIGNMENT = 64;

export interface SnapshotContents {
  dim: number;
  /** Item ids in row order. */
  itemIds: readonly string[];
  attributes: readonly ItemAttributes[];
  rows: Float32Rows;
}

export interface DecodedSnapshot {
  dim: number;
  /** Not checked for duplicates here: the loader's id map finds them for free. */
  itemIds: string[];
  attributes: ItemAttributes[];
  /** count x dim float32 bytes, a view into the snapshot (not necessarily 4-byte aligned). */
  matrix: Uint8Array;
}

/** Where each section starts in a snapshot of this version (see the layout above). */
function sectionStarts(version: number, count: number) {
  const publishedStart = HEADER_BYTES + 4 * count;
  const pricesStart = version >= 2 ? publishedStart + 4 * count : publishedStart;
  const tagOffsetsStart = version >= 3 ? pricesStart + 8 * count : pricesStart;
  const referencesStart = version >= 3 ? tagOffsetsStart + 4 * (count + 1) : tagOffsetsStart;
  return { publishedStart, pricesStart, tagOffsetsStart, referencesStart };
}

export function encodeSnapshot({ dim, itemIds, attributes, rows }: SnapshotContents): Uint8Array {
  assertLittleEndianHost();
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
  const { publishedStart, pricesStart, tagOffsetsStart, referencesStart } = sectionStarts(
    SNAPSHOT_VERSION,
    count,
  );
  const labelsStart = referencesStart + 4 * referenceCount;
  const matrixOffset = alignUp(labelsStart + labelBytes, MATRIX_ALIGNMENT);
  const bytes = new Uint8Array(matrixOffset + count * dim * 4);
  // Buffer methods only ever see the part before the matrix: in Node 20, Buffer#write into a Buffer
  // longer than 2 GiB silently writes nothing (a 1M x 768 snapshot is 3 GB).
  const prefix = Buffer.from(bytes.buffer, 0, matrixOffset);

  prefix.writeUInt32LE(MAGIC, 0);
  prefix.writeUInt16LE(SNAPSHOT_VERSION, 4);
  prefix.writeUInt16LE(HEADER_BYTES, 6);
  prefix.writeUInt32LE(dim, 8);
  prefix.writeUInt32LE(count, 12);
  prefix.writeUInt32LE(categoryNumbers.size, 16);
  prefix.writeUInt32LE(labelBytes, 20);
  prefix.writeUInt32LE(matrixOffset, 24);
  prefix.writeUInt32LE(tagNumbers.size, 28);
  let reference = 0;
  attributes.forEach(({ available, category, publishedAt, price, tags }, row) => {
    const categoryNumber = category === undefined ? 0 : (categoryNumbers.get(category) as number) + 1;
    // `* 2 +` rather than `<< 1 |`: category numbers may use all 31 bits without going negative.
    prefix.writeUInt32LE(categoryNumber * 2 + (available ? 1 : 0), HEADER_BYTES + 4 * row);
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
  rows.copyOut(count, bytes.subarray(matrixOffset));
  return bytes;
}

export function decodeSnapshot(bytes: Uint8Array): DecodedSnapshot {
  assertLittleEndianHost();
  if (bytes.byteLength < HEADER_BYTES) corrupt('not a vector index snapshot');
  const header = Buffer.from(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
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
  const { publishedStart, pricesStart, tagOffsetsStart, referencesStart } = sectionStarts(version, count);
  if (
    header.readUInt16LE(6) !== HEADER_BYTES ||
    dim < 1 ||
    (version < 3 && tagCount !== 0) ||
    referencesStart > matrixOffset ||
    matrixOffset + count * dim * 4 !== bytes.byteLength
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
  const readLabel = (): string => {
    if (cursor + 2 > labelsEnd) corrupt('labels overrun their section');
    const length = prefix.readUInt16LE(cursor);
    const start = cursor + 2;
    cursor = start + length;
    if (cursor > labelsEnd) corrupt('labels overrun their section');
    return prefix.toString('utf8', start, cursor);
  };
  const itemIds = Array.from({ length: count }, readLabel);
  const categories = Array.from({ length: categoryCount }, readLabel);
  const tagLabels = Array.from({ length: tagCount }, readLabel);
  if (cursor !== labelsEnd) corrupt('label section has trailing bytes');
  // The encoder numbers distinct, non-empty tags, so an item's distinct numbers are distinct tags.
  if (tagLabels.includes('') || new Set(tagLabels).size !== tagCount)
    corrupt('tag labels repeat or are empty');
  if (version >= 3 && tagOffset(0) !== 0) corrupt('tag offsets do not start at 0');

  // A DataView for the per-item reads: unlike Buffer's methods, V8 inlines its getters.
  const view = new DataView(bytes.buffer, bytes.byteOffset, matrixOffset);
  let end = 0; // item 0's tags start at offset 0 (checked above)
  const attributes = itemIds.map((_, row): ItemAttributes => {
    const word = view.getUint32(HEADER_BYTES + 4 * row, true);
    const categoryNumber = Math.floor(word / 2);
    const attributes: ItemAttributes = { available: word % 2 === 1 };
    if (categoryNumber !== 0) {
      const category = categories[categoryNumber - 1];
      if (category === undefined)
        corrupt(`item ${row} names category ${categoryNumber - 1} of ${categoryCount}`);
      attributes.category = category;
    }
    const seconds = version >= 2 ? view.getUint32(publishedStart + 4 * row, true) : 0;
    if (seconds !== 0) attributes.publishedAt = seconds * 1000;
    if (version >= 3) {
      const first = end;
      end = view.getUint32(tagOffsetsStart + 4 * row + 4, true);
      if (end < first || end - first > MAX_TAGS)
        corrupt(`item ${row}'s tag offsets decrease or span over ${MAX_TAGS}`);
      if (end > first)
        attributes.tags = Object.freeze(readTags(prefix, referencesStart, first, end, tagLabels));
      const price = view.getFloat64(pricesStart + 8 * row, true);
      if (!Number.isNaN(price)) {
        if (!(Number.isFinite(price) && price >= 0)) corrupt(`item ${row} has price ${price}`);
        attributes.price = price;
      }
    }
    return Object.freeze(attributes);
  });
  return { dim, itemIds, attributes, matrix: bytes.subarray(matrixOffset) };
}

/** One item's tags: references [first, end), each a distinct number below the tag label count. */
function readTags(prefix: Buffer, referencesStart: number, first: number, end: number, labels: string[]) {
  const numbers: number[] = [];
  for (let reference = first; reference < end; reference++) {
    const number = prefix.readUInt32LE(referencesStart + 4 * reference);
    // At most MAX_TAGS numbers: a scan is cheaper than a Set.
    if (number >= labels.length || numbers.includes(number)) corrupt(`tag reference ${reference} is invalid`);
    numbers.push(number);
  }
  return numbers.map((number) => labels[number] as string);
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

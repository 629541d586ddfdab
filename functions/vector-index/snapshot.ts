import { endianness } from 'node:os';
import type { Float32Rows } from './float32-rows';
import type { ItemAttributes } from './types';
import { VectorIndexError } from './vector-index-error';

/*
 * Snapshot layout, version 2, little-endian:
 *   0   "LKVI"            magic
 *   4   u16 version       2
 *   6   u16 header bytes  32
 *   8   u32 dim
 *   12  u32 count         items
 *   16  u32 categories    distinct category labels
 *   20  u32 label bytes   the label section below
 *   24  u32 matrix offset multiple of 64
 *   28  u32 reserved      0
 *   32  count x u32       attributes: bit 0 available, bits 1..31 category number + 1 (0 = none)
 *   ..  count x u32       publishedAt in whole seconds since 1970 (0 = unknown)
 *   ..  labels            count item ids, then the category labels; each u16 byte length + UTF-8
 *   ..  zero padding up to the matrix offset
 *   ..  count x dim f32   exact embeddings in item order
 * The int8 copy is not stored: re-quantising on load is cheaper than downloading a quarter more bytes.
 * Version 1 (still read) has no publishedAt section: its items load without one (they count as old).
 */
const MAGIC = 0x49564b4c; // "LKVI" read as a little-endian u32
export const SNAPSHOT_VERSION = 2;
/** Versions decodeSnapshot reads: 1 lacks publishedAt. */
const READABLE_VERSIONS = new Set([1, 2]);
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

export function encodeSnapshot({ dim, itemIds, attributes, rows }: SnapshotContents): Uint8Array {
  assertLittleEndianHost();
  const count = itemIds.length;
  const categoryNumbers = new Map<string, number>();
  for (const { category } of attributes) {
    if (category !== undefined && !categoryNumbers.has(category)) {
      categoryNumbers.set(category, categoryNumbers.size);
    }
  }
  const labels = [...itemIds, ...categoryNumbers.keys()];
  const labelBytes = labels.reduce((total, label) => total + 2 + Buffer.byteLength(label, 'utf8'), 0);
  const publishedStart = HEADER_BYTES + 4 * count;
  const labelsStart = publishedStart + 4 * count;
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
  attributes.forEach(({ available, category }, row) => {
    const categoryNumber = category === undefined ? 0 : (categoryNumbers.get(category) as number) + 1;
    // `* 2 +` rather than `<< 1 |`: category numbers may use all 31 bits without going negative.
    prefix.writeUInt32LE(categoryNumber * 2 + (available ? 1 : 0), HEADER_BYTES + 4 * row);
  });
  attributes.forEach(({ publishedAt }, row) => {
    // Seconds fit a u32 until 2106; 0 stands for unknown (an item published at 1970-01-01T00:00:00Z
    // is as old as one with no date).
    const seconds = publishedAt === undefined ? 0 : Math.min(0xffffffff, Math.floor(publishedAt / 1000));
    prefix.writeUInt32LE(seconds, publishedStart + 4 * row);
  });
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
      `snapshot version ${version}; this code reads ${[...READABLE_VERSIONS].join(' and ')}`,
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
  const publishedStart = HEADER_BYTES + 4 * count;
  const labelsStart = version >= 2 ? publishedStart + 4 * count : publishedStart;
  if (
    header.readUInt16LE(6) !== HEADER_BYTES ||
    dim < 1 ||
    labelsStart + labelBytes > matrixOffset ||
    matrixOffset + count * dim * 4 !== bytes.byteLength
  ) {
    corrupt('section sizes do not add up');
  }
  // Everything before the matrix (see encodeSnapshot for why a Buffer never spans the matrix).
  const prefix = Buffer.from(bytes.buffer, bytes.byteOffset, matrixOffset);

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
  if (cursor !== labelsEnd) corrupt('label section has trailing bytes');

  const attributes = itemIds.map((_, row): ItemAttributes => {
    const word = prefix.readUInt32LE(HEADER_BYTES + 4 * row);
    const available = word % 2 === 1;
    const categoryNumber = Math.floor(word / 2);
    const seconds = version >= 2 ? prefix.readUInt32LE(publishedStart + 4 * row) : 0;
    const since = seconds === 0 ? {} : { publishedAt: seconds * 1000 };
    if (categoryNumber === 0) return Object.freeze({ available, ...since });
    const category = categories[categoryNumber - 1];
    if (category === undefined)
      corrupt(`item ${row} names category ${categoryNumber - 1} of ${categoryCount}`);
    return Object.freeze({ category, available, ...since });
  });
  return { dim, itemIds, attributes, matrix: bytes.subarray(matrixOffset) };
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

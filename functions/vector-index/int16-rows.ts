const BLOCK_SHIFT = 13;
/** 8192 rows: 12.6 MB of int16 per block at 768 dimensions. */
const BLOCK_ROWS = 1 << BLOCK_SHIFT;
const ROW_IN_BLOCK = BLOCK_ROWS - 1;
const SMALLEST_BLOCK_ROWS = 64;
const INT16_MAX = 32_767;
/** The least float32 power of two (subnormal): scales stay exact in a Float32Array. */
const MIN_SCALE = 2 ** -149;

/**
 * The power of two that maps a row's largest |component| into int16: the least 2^e with
 * maxAbs / 2^e <= 32767. A power of two, so dequantising (q x 2^e) is exact in float32 and float64,
 * quantising a dequantised row gives the same integers and scale back (a snapshot round trip
 * changes nothing), and a dot product scaled by it rounds exactly as one over the dequantised row.
 * 0 for an all-zero row.
 */
export function int16Scale(maxAbs: number): number {
  if (maxAbs === 0) return 0;
  let scale = 2 ** Math.ceil(Math.log2(maxAbs / INT16_MAX));
  // Math.log2 may round either way at a boundary: settle it exactly.
  while (maxAbs / scale > INT16_MAX) scale *= 2;
  while (scale > MIN_SCALE && maxAbs / (scale / 2) <= INT16_MAX) scale /= 2;
  return Math.max(scale, MIN_SCALE);
}

/**
 * The embeddings as the index keeps them for exact re-ranking: each row as int16 components times a
 * power-of-two scale (int16Scale), within 2^-15 of the row's largest |component| of its float32 value
 * (a cosine moves by less than 1e-4). Half the bytes of float32 rows, in memory and in a snapshot.
 * Rows live in fixed-size blocks rather than one array: growing never copies (or needs twice) the
 * whole matrix. Only the last block grows, by doubling, so small indexes stay small.
 */
export class Int16Rows {
  private readonly blocks: Int16Array[] = [];
  private readonly scaleBlocks: Float32Array[] = [];

  constructor(readonly dim: number) {}

  /** Makes rows [0, rowCount) addressable, keeping their contents. */
  reserve(rowCount: number): void {
    const blockCount = Math.ceil(rowCount / BLOCK_ROWS);
    // Every block but the last is full, so only the last one and new ones need looking at.
    for (let b = Math.max(0, this.blocks.length - 1); b < blockCount; b++) {
      const rowsNeeded = Math.min(BLOCK_ROWS, rowCount - b * BLOCK_ROWS);
      const existing = this.blocks[b];
      const rowsHeld = existing ? existing.length / this.dim : 0;
      if (rowsHeld >= rowsNeeded) continue;
      let rows = Math.max(SMALLEST_BLOCK_ROWS, rowsHeld * 2);
      while (rows < rowsNeeded) rows *= 2;
      rows = Math.min(rows, BLOCK_ROWS);
      const grown = new Int16Array(rows * this.dim);
      const grownScales = new Float32Array(rows);
      if (existing) {
        grown.set(existing);
        grownScales.set(this.scaleBlocks[b] as Float32Array);
      }
      this.blocks[b] = grown;
      this.scaleBlocks[b] = grownScales;
    }
  }

  /** Stores `vector` (finite) as row `row` (reserved). */
  write(row: number, vector: Float32Array): void {
    let maxAbs = 0;
    for (let j = 0; j < this.dim; j++) maxAbs = Math.max(maxAbs, Math.abs(vector[j] as number));
    const scale = int16Scale(maxAbs);
    const block = this.block(row);
    const offset = this.offset(row);
    for (let j = 0; j < this.dim; j++)
      block[offset + j] = scale === 0 ? 0 : Math.round((vector[j] as number) / scale);
    (this.scaleBlocks[row >>> BLOCK_SHIFT] as Float32Array)[row & ROW_IN_BLOCK] = scale;
  }

  /** Row `row` as float32 (exactly q x scale). */
  read(row: number): Float32Array {
    const out = new Float32Array(this.dim);
    this.readInto(row, out, 0);
    return out;
  }

  /** Writes row `row` as float32 into `target` at `at`. */
  readInto(row: number, target: Float32Array, at: number): void {
    const block = this.block(row);
    const offset = this.offset(row);
    const scale = this.scale(row);
    for (let j = 0; j < this.dim; j++) target[at + j] = (block[offset + j] as number) * scale;
  }

  scale(row: number): number {
    return (this.scaleBlocks[row >>> BLOCK_SHIFT] as Float32Array)[row & ROW_IN_BLOCK] as number;
  }

  /**
   * Sum over queries of weight x (query . row), as blendedScore computes it over the float32 row: the
   * power-of-two scale makes each product, and so the sum, round the same way.
   */
  blendedScore(row: number, queries: readonly Float32Array[], weights: readonly number[]): number {
    const block = this.block(row);
    const offset = this.offset(row);
    const scale = this.scale(row);
    let blended = 0;
    for (let k = 0; k < queries.length; k++) {
      const query = queries[k] as Float32Array;
      let dot = 0;
      for (let j = 0; j < this.dim; j++) dot += (block[offset + j] as number) * scale * (query[j] as number);
      blended += (weights[k] as number) * dot;
    }
    return blended;
  }

  move(from: number, to: number): void {
    const offset = this.offset(from);
    this.block(to).set(this.block(from).subarray(offset, offset + this.dim), this.offset(to));
    (this.scaleBlocks[to >>> BLOCK_SHIFT] as Float32Array)[to & ROW_IN_BLOCK] = this.scale(from);
  }

  /** Copies rows [0, rowCount) as little-endian int16 bytes and their float32 scales (memcpy per block). */
  copyOut(rowCount: number, rowsTarget: Uint8Array, scalesTarget: Uint8Array): void {
    for (let first = 0, b = 0; first < rowCount; first += BLOCK_ROWS, b++) {
      const rows = Math.min(BLOCK_ROWS, rowCount - first);
      const block = this.blocks[b] as Int16Array;
      const scales = this.scaleBlocks[b] as Float32Array;
      rowsTarget.set(
        new Uint8Array(block.buffer, block.byteOffset, rows * this.dim * 2),
        first * this.dim * 2,
      );
      scalesTarget.set(new Uint8Array(scales.buffer, scales.byteOffset, rows * 4), first * 4);
    }
  }

  /**
   * Fills rows [0, rowCount) of an empty store from int16 bytes and float32 scales. Aligned sources
   * (2 and 4 bytes) become the blocks as views, not copies: loading a snapshot costs no second matrix.
   */
  adopt(rowCount: number, rows: Uint8Array, scales: Uint8Array): void {
    if (this.blocks.length > 0) throw new Error('Int16Rows.adopt needs an empty store');
    if (rows.byteOffset % 2 !== 0 || scales.byteOffset % 4 !== 0) {
      this.reserve(rowCount);
      this.copyIn(rowCount, rows, scales);
      return;
    }
    const values = new Int16Array(rows.buffer, rows.byteOffset, rowCount * this.dim);
    const rowScales = new Float32Array(scales.buffer, scales.byteOffset, rowCount);
    for (let first = 0; first < rowCount; first += BLOCK_ROWS) {
      const end = Math.min(rowCount, first + BLOCK_ROWS);
      this.blocks.push(values.subarray(first * this.dim, end * this.dim));
      this.scaleBlocks.push(rowScales.subarray(first, end));
    }
  }

  private copyIn(rowCount: number, rows: Uint8Array, scales: Uint8Array): void {
    for (let first = 0, b = 0; first < rowCount; first += BLOCK_ROWS, b++) {
      const count = Math.min(BLOCK_ROWS, rowCount - first);
      const block = this.blocks[b] as Int16Array;
      const blockScales = this.scaleBlocks[b] as Float32Array;
      const rowBytes = this.dim * 2;
      new Uint8Array(block.buffer, block.byteOffset, count * rowBytes).set(
        rows.subarray(first * rowBytes, (first + count) * rowBytes),
      );
      new Uint8Array(blockScales.buffer, blockScales.byteOffset, count * 4).set(
        scales.subarray(first * 4, (first + count) * 4),
      );
    }
  }

  private block(row: number): Int16Array {
    return this.blocks[row >>> BLOCK_SHIFT] as Int16Array;
  }

  private offset(row: number): number {
    return (row & ROW_IN_BLOCK) * this.dim;
  }
}

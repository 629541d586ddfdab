const BLOCK_SHIFT = 13;
/** 8192 rows: 25 MB per block at 768 dimensions. */
const BLOCK_ROWS = 1 << BLOCK_SHIFT;
const ROW_IN_BLOCK = BLOCK_ROWS - 1;
const SMALLEST_BLOCK_ROWS = 64;

/**
 * The exact float32 embeddings, row-major, in fixed-size blocks rather than one array: growing never
 * copies (or needs twice) the whole matrix, which is 3 GB at 1M x 768. Only the last block grows, by
 * doubling, so small indexes stay small.
 */
export class Float32Rows {
  private readonly blocks: Float32Array[] = [];

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
      const grown = new Float32Array(Math.min(rows, BLOCK_ROWS) * this.dim);
      if (existing) grown.set(existing);
      this.blocks[b] = grown;
    }
  }

  /** The block holding `row`; the row starts at `offset(row)` in it. */
  block(row: number): Float32Array {
    return this.blocks[row >>> BLOCK_SHIFT] as Float32Array;
  }

  offset(row: number): number {
    return (row & ROW_IN_BLOCK) * this.dim;
  }

  write(row: number, vector: Float32Array): void {
    this.block(row).set(vector, this.offset(row));
  }

  read(row: number): Float32Array {
    const offset = this.offset(row);
    return this.block(row).slice(offset, offset + this.dim);
  }

  move(from: number, to: number): void {
    const offset = this.offset(from);
    this.block(to).set(this.block(from).subarray(offset, offset + this.dim), this.offset(to));
  }

  /** Copies rows [0, rowCount) as little-endian float32 bytes into `target` (memcpy per block). */
  copyOut(rowCount: number, target: Uint8Array): void {
    this.forEachBlockSpan(rowCount, (block, byteStart, byteLength) => {
      target.set(new Uint8Array(block.buffer, block.byteOffset, byteLength), byteStart);
    });
  }

  /**
   * Fills rows [0, rowCount) of an empty store from float32 bytes. When `source` is 4-byte aligned the
   * blocks are views of it, not copies: loading a snapshot then costs no copy and no second matrix.
   */
  adopt(rowCount: number, source: Uint8Array): void {
    if (this.blocks.length > 0) throw new Error('Float32Rows.adopt needs an empty store');
    if (source.byteOffset % 4 !== 0) {
      this.copyIn(rowCount, source);
      return;
    }
    const floats = new Float32Array(source.buffer, source.byteOffset, rowCount * this.dim);
    for (let first = 0; first < rowCount; first += BLOCK_ROWS) {
      this.blocks.push(floats.subarray(first * this.dim, Math.min(rowCount, first + BLOCK_ROWS) * this.dim));
    }
  }

  private copyIn(rowCount: number, source: Uint8Array): void {
    this.reserve(rowCount);
    this.forEachBlockSpan(rowCount, (block, byteStart, byteLength) => {
      new Uint8Array(block.buffer, block.byteOffset, byteLength).set(
        source.subarray(byteStart, byteStart + byteLength),
      );
    });
  }

  allocatedBytes(): number {
    return this.blocks.reduce((total, block) => total + block.byteLength, 0);
  }

  private forEachBlockSpan(
    rowCount: number,
    visit: (block: Float32Array, byteStart: number, byteLength: number) => void,
  ): void {
    const rowBytes = this.dim * 4;
    for (let first = 0; first < rowCount; first += BLOCK_ROWS) {
      const rows = Math.min(BLOCK_ROWS, rowCount - first);
      visit(this.block(first), first * rowBytes, rows * rowBytes);
    }
  }
}

import { VectorIndexError } from './vector-index-error';

/** The longest id in UTF-8: MAX_LABEL_LENGTH UTF-16 units of at most 3 bytes each, rounded up. */
const SCRATCH_BYTES = 4096;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * The item ids of a loaded snapshot, read in place: a cold start builds neither 100k strings nor a
 * map of them (and the GC that both cause), only an open-addressing table of the ids' positions,
 * hashed from their UTF-8 bytes. An id becomes a string when it is asked for (a result, a filter's
 * argument). The snapshot's items keep their labels' positions ("origins"); where each one is now
 * is `rows`, so the index can move a row (swap-delete) or drop one without touching the table.
 */
export class SnapshotIds {
  private readonly table: Int32Array;
  private readonly mask: number;
  /** Each origin's current row; -1 once removed. */
  private readonly rows: Int32Array;
  private readonly scratch = new Uint8Array(SCRATCH_BYTES);
  private readonly encoder = new TextEncoder();

  /**
   * `labels` holds each id at [starts[i] + 2, starts[i + 1]) (after its u16 length), `count` of them;
   * `ascii`: every byte of the run is below 0x80, so a latin1 decode is the UTF-8 one.
   */
  constructor(
    private readonly labels: Buffer,
    private readonly starts: Uint32Array,
    readonly count: number,
    private readonly ascii: boolean,
  ) {
    let size = 1;
    while (size < 2 * count) size *= 2;
    this.table = new Int32Array(size);
    this.mask = size - 1;
    this.rows = new Int32Array(count);
    for (let origin = 0; origin < count; origin++) {
      this.rows[origin] = origin;
      const start = (starts[origin] as number) + 2;
      const end = starts[origin + 1] as number;
      let slot = fnv(labels, start, end) & this.mask;
      for (;;) {
        const held = this.table[slot] as number;
        if (held === 0) break;
        if (this.sameLabel(held - 1, labels, start, end)) {
          throw new VectorIndexError('corrupt_snapshot', 'corrupt vector index snapshot: duplicate item ids');
        }
        slot = (slot + 1) & this.mask;
      }
      this.table[slot] = origin + 1;
    }
  }

  /** The row of `itemId` if it is one of the snapshot's items still held, else undefined. */
  rowOf(itemId: string): number | undefined {
    const origin = this.originOf(itemId);
    if (origin === undefined) return undefined;
    const row = this.rows[origin] as number;
    return row < 0 ? undefined : row;
  }

  /** The id of the item the snapshot loaded at `origin`. */
  idAt(origin: number): string {
    const start = (this.starts[origin] as number) + 2;
    const end = this.starts[origin + 1] as number;
    return this.labels.toString(this.ascii ? 'latin1' : 'utf8', start, end);
  }

  /** The snapshot's item `itemId` is now at `row` (it was swapped into a removed item's row). */
  move(itemId: string, row: number): void {
    const origin = this.originOf(itemId);
    if (origin !== undefined) this.rows[origin] = row;
  }

  /** The snapshot's item `itemId` is no longer held. */
  remove(itemId: string): void {
    const origin = this.originOf(itemId);
    if (origin !== undefined) this.rows[origin] = -1;
  }

  private originOf(itemId: string): number | undefined {
    const { written, read } = this.encoder.encodeInto(itemId, this.scratch);
    // Longer than any id the index accepts: not one of them.
    if (read !== itemId.length) return undefined;
    let slot = fnv(this.scratch, 0, written) & this.mask;
    for (;;) {
      const held = this.table[slot] as number;
      if (held === 0) return undefined;
      if (this.sameLabel(held - 1, this.scratch, 0, written)) return held - 1;
      slot = (slot + 1) & this.mask;
    }
  }

  private sameLabel(origin: number, bytes: Uint8Array, start: number, end: number): boolean {
    const from = (this.starts[origin] as number) + 2;
    if ((this.starts[origin + 1] as number) - from !== end - start) return false;
    for (let i = 0; i < end - start; i++) {
      if (this.labels[from + i] !== bytes[start + i]) return false;
    }
    return true;
  }
}

/** 32-bit FNV-1a over bytes [start, end). */
function fnv(bytes: Uint8Array, start: number, end: number): number {
  let hash = FNV_OFFSET;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ (bytes[i] as number), FNV_PRIME);
  return hash >>> 0;
}

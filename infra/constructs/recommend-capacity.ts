/**
 * How big a catalogue the `exact` serving index holds in one recommend function, from what
 * `npm run bench:coldstart` measured (README, "Capacity"): the function's memory is sized from the
 * expected catalogue, and a catalogue past the ceiling is a synth warning pointing at
 * `dynamodb-vector`.
 */

/** A measured dimension's figures (the bench's `capacity` object, per dimension). */
export interface MeasuredCapacity {
  readonly dim: number;
  /** Peak RSS per catalogue item (snapshot download, int8 rows, ids, attributes). */
  readonly mbPerItem: number;
  /** Cold start (process start to the first list) per million items, and its constant part. */
  readonly coldMsPerMillionItems: number;
  readonly coldMsBase: number;
}

/**
 * bench:coldstart, 2026-12-01, snapshot format 6 downloaded straight into the index (the pointer's
 * layout), each cold process run with the Lambda Node.js runtime's options for the function's
 * memory, 100k / 500k / 1M items, 3 cold starts per point, least squares per dimension, on the 2-core
 * development machine (one run of both dimensions). Memory is the peak RSS's slope; the cold start is
 * the child process's CPU time to its first answer, which on this machine is about its wall clock
 * (README, "Capacity", has both). Re-run it and copy its `capacity` figures here when the index, the
 * snapshot format or the default model changes.
 */
export const MEASURED_CAPACITY: readonly MeasuredCapacity[] = [
  { dim: 128, mbPerItem: 0.0002491, coldMsPerMillionItems: 1_558, coldMsBase: 929 },
  { dim: 256, mbPerItem: 0.0003784, coldMsPerMillionItems: 1_964, coldMsBase: 843 },
];

/** The runtime, the bundle and the SDK clients before any item: the bench's base (1k items). */
export const BASE_MEMORY_MB = 130;
/** Room over the measured peak for GC slack, the per-request working set and catalogue growth. */
export const MEMORY_HEADROOM = 1.5;
/** The least memory given whatever the catalogue: more memory buys more CPU, which a cold start uses. */
export const MIN_RECOMMEND_MEMORY_MB = 2048;
/** Lambda's largest function. */
export const LAMBDA_MAX_MEMORY_MB = 10_240;
/** Cold starts past this, or a peak past this share of the function's memory, warn at synth. */
export const COLD_START_LIMIT_MS = 2000;
export const MEMORY_LIMIT_SHARE = 0.8;

/** A dimension's figures, interpolated (or extrapolated) linearly in the dimension between the two measured. */
export function capacityAt(dim: number): MeasuredCapacity {
  const [low, high] = MEASURED_CAPACITY as [MeasuredCapacity, MeasuredCapacity];
  const t = (dim - low.dim) / (high.dim - low.dim);
  const at = (pick: (m: MeasuredCapacity) => number) => Math.max(0, pick(low) + t * (pick(high) - pick(low)));
  return {
    dim,
    mbPerItem: at((m) => m.mbPerItem),
    coldMsPerMillionItems: at((m) => m.coldMsPerMillionItems),
    coldMsBase: at((m) => m.coldMsBase),
  };
}

/** The peak memory (MB) the exact index needs for `items` at `dim`, before headroom. */
export function peakMemoryMb(items: number, dim: number): number {
  return capacityAt(dim).mbPerItem * items + BASE_MEMORY_MB;
}

export function coldStartMs(items: number, dim: number): number {
  const capacity = capacityAt(dim);
  return capacity.coldMsBase + (capacity.coldMsPerMillionItems * items) / 1e6;
}

/**
 * The recommend function's memory for a catalogue: measured MB/item x items x headroom + base,
 * rounded up to a whole 64 MB (Lambda takes any whole MB from 128 to 10,240), at least
 * MIN_RECOMMEND_MEMORY_MB and at most LAMBDA_MAX_MEMORY_MB.
 */
export function recommendMemoryMb(items: number, dim: number): number {
  const needed = capacityAt(dim).mbPerItem * items * MEMORY_HEADROOM + BASE_MEMORY_MB;
  return Math.min(LAMBDA_MAX_MEMORY_MB, Math.max(MIN_RECOMMEND_MEMORY_MB, Math.ceil(needed / 64) * 64));
}

/**
 * The most items the exact index serves at `dim` in a function of `memoryMb`: cold start within
 * COLD_START_LIMIT_MS and the peak within MEMORY_LIMIT_SHARE of the memory.
 */
export function exactIndexCeiling(dim: number, memoryMb: number): number {
  const capacity = capacityAt(dim);
  const byColdStart =
    capacity.coldMsPerMillionItems > 0
      ? ((COLD_START_LIMIT_MS - capacity.coldMsBase) / capacity.coldMsPerMillionItems) * 1e6
      : Number.POSITIVE_INFINITY;
  const byMemory =
    capacity.mbPerItem > 0
      ? (memoryMb * MEMORY_LIMIT_SHARE - BASE_MEMORY_MB) / capacity.mbPerItem
      : Number.POSITIVE_INFINITY;
  return Math.max(0, Math.floor(Math.min(byColdStart, byMemory)));
}

/** Why `items` is past the ceiling (cold start, memory, or both); empty when it is not. */
export function capacityWarnings(items: number, dim: number, memoryMb: number): string[] {
  const reasons: string[] = [];
  const cold = coldStartMs(items, dim);
  if (cold > COLD_START_LIMIT_MS)
    reasons.push(`its cold start would take about ${(cold / 1000).toFixed(1)} s (over 2 s)`);
  const peak = peakMemoryMb(items, dim);
  if (peak > memoryMb * MEMORY_LIMIT_SHARE)
    reasons.push(
      `its index would need about ${Math.round(peak)} MB, over 80% of the function's ${memoryMb} MB`,
    );
  return reasons;
}

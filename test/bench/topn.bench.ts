/**
 * Top-N latency of the exact serving index (int8 SIMD scan + exact float32 re-rank) against the
 * physical floor and the naive JS method, at 10k, 100k and 1M synthetic unit embeddings.
 *
 *   npm run bench:topn                    all sizes (1M needs ~11 GB free at 768 dimensions)
 *   TOPN_SIZES=10k,100k npm run bench:topn
 *
 * Single thread. Progress goes to stderr; the last stdout line is one JSON object. Never asserted on.
 */
import { existsSync, readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { ExactIndex } from '../../functions/vector-index';
import { seededUniform } from '../support/seeded-random';

const SIZES = { '10k': 10_000, '100k': 100_000, '1M': 1_000_000 } as const;
type SizeLabel = keyof typeof SIZES;
const WARMUP_QUERIES = 20;
const TIMED_QUERIES = 200;
const MULTI_QUERY_SEARCHES = 50;
/** The naive method takes ~1 s per query at 100k: time it on a subset. */
const NAIVE_QUERIES: Partial<Record<SizeLabel, number>> = { '10k': 40, '100k': 8 };
const K = 10;
/** Rows per generated chunk: the unit for generation, the floor measurement and the exact ground truth. */
const CHUNK_ROWS = 65_536;
const CENTRES = 2_000;
const ITEM_SPREAD = 0.045;
const QUERY_SPREAD = 0.05;
/** Exact top-10s come from the top 50 of an ORT GEMM, re-scored in double. */
const GROUND_TRUTH_POOL = 50;

const log = (message: string) => process.stderr.write(`[topn] ${message}\n`);

function modelDim(): number {
  const manifestPath = join(__dirname, '../../layers/model/dist/manifest.json');
  if (!existsSync(manifestPath)) return 768;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { output?: { dim?: unknown } };
  return typeof manifest.output?.dim === 'number' ? manifest.output.dim : 768;
}

function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Gaussian from a uniform source (Box-Muller, both outputs used). */
function gaussianFrom(uniform: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

/** Clustered unit embeddings: style centres plus per-item noise (cosine to centre ~0.7 at 768). */
class SyntheticCatalogue {
  private readonly uniform: () => number;
  private readonly gaussian: () => number;
  private readonly centres: Float32Array[] = [];

  constructor(
    readonly dim: number,
    seed: number,
  ) {
    this.uniform = seededUniform(seed);
    this.gaussian = gaussianFrom(this.uniform);
    // While there are no centres, nearCentre draws uniformly random directions.
    for (let c = 0; c < CENTRES; c++) this.centres.push(this.nearCentre(undefined, 1));
  }

  /** Writes a unit vector near a random centre into target at offset. */
  nearCentre(target: Float32Array | undefined, spread: number, offset = 0): Float32Array {
    const vector = target ?? new Float32Array(this.dim);
    const centre = this.centres[Math.floor(this.uniform() * this.centres.length)];
    let norm = 0;
    for (let j = 0; j < this.dim; j++) {
      const value = (centre ? (centre[j] as number) : 0) + spread * this.gaussian();
      vector[offset + j] = value;
      norm += value * value;
    }
    const inverse = 1 / Math.sqrt(norm);
    for (let j = 0; j < this.dim; j++) vector[offset + j] = (vector[offset + j] as number) * inverse;
    return vector;
  }

  chunks(itemCount: number): Float32Array[] {
    const chunks: Float32Array[] = [];
    for (let first = 0; first < itemCount; first += CHUNK_ROWS) {
      const rows = Math.min(CHUNK_ROWS, itemCount - first);
      const chunk = new Float32Array(rows * this.dim);
      for (let row = 0; row < rows; row++) this.nearCentre(chunk, ITEM_SPREAD, row * this.dim);
      chunks.push(chunk);
    }
    return chunks;
  }
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] as number;
}

function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

const round = (value: number, digits = 3) => Number(value.toFixed(digits));

/** The time to read the float32 matrix once: half a native memcmp of it against an identical copy. */
function bandwidthFloorMs(chunks: Float32Array[]): number {
  const originals = chunks.map((chunk) => Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  const copies = originals.map((bytes) => Buffer.from(bytes));
  const runs: number[] = [];
  for (let run = 0; run < 7; run++) {
    const started = performance.now();
    let differing = 0;
    originals.forEach((bytes, i) => {
      differing += Buffer.compare(bytes, copies[i] as Buffer);
    });
    runs.push((performance.now() - started) / 2);
    if (differing !== 0) throw new Error('copy differs');
  }
  return median(runs);
}

async function scoringSession(dim: number): Promise<ort.InferenceSession> {
  const tensor = (name: string, rows: string) =>
    onnx.ValueInfoProto.create({
      name,
      type: {
        tensorType: {
          elemType: onnx.TensorProto.DataType.FLOAT,
          shape: { dim: [{ dimParam: rows }, { dimValue: dim }] },
        },
      },
    });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'scores',
      node: [
        {
          opType: 'Gemm',
          input: ['queries', 'items'],
          output: ['scores'],
          attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
        },
      ],
      input: [tensor('queries', 'q'), tensor('items', 'n')],
      output: [
        {
          name: 'scores',
          type: {
            tensorType: {
              elemType: onnx.TensorProto.DataType.FLOAT,
              shape: { dim: [{ dimParam: 'q' }, { dimParam: 'n' }] },
            },
          },
        },
      ],
    },
  });
  return ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), { intraOpNumThreads: 2 });
}

/** Exact float32 top-10 rows per query: GEMM shortlist, then re-scored in double like the index does. */
async function exactTopRows(
  chunks: Float32Array[],
  queries: Float32Array[],
  dim: number,
): Promise<number[][]> {
  const session = await scoringSession(dim);
  const queryMatrix = new Float32Array(queries.length * dim);
  queries.forEach((query, q) => {
    queryMatrix.set(query, q * dim);
  });
  const pools = queries.map(() => ({ rows: [] as number[], scores: [] as number[], floor: -Infinity }));
  let firstRow = 0;
  for (const chunk of chunks) {
    const rows = chunk.length / dim;
    const output = await session.run({
      queries: new ort.Tensor('float32', queryMatrix, [queries.length, dim]),
      items: new ort.Tensor('float32', chunk, [rows, dim]),
    });
    const scores = output.scores?.data as Float32Array;
    pools.forEach((pool, q) => {
      for (let row = 0; row < rows; row++) {
        const score = scores[q * rows + row] as number;
        if (score <= pool.floor) continue;
        pool.rows.push(firstRow + row);
        pool.scores.push(score);
        if (pool.rows.length >= 4 * GROUND_TRUTH_POOL) {
          const keep = pool.scores
            .map((s, i) => [s, pool.rows[i] as number] as const)
            .sort((a, b) => b[0] - a[0])
            .slice(0, GROUND_TRUTH_POOL);
          pool.scores = keep.map(([s]) => s);
          pool.rows = keep.map(([, r]) => r);
          pool.floor = keep[keep.length - 1]?.[0] ?? -Infinity;
        }
      }
    });
    firstRow += rows;
  }
  await session.release();
  return pools.map((pool, q) => {
    const query = queries[q] as Float32Array;
    return pool.rows
      .map((row) => {
        const chunk = chunks[Math.floor(row / CHUNK_ROWS)] as Float32Array;
        const offset = (row % CHUNK_ROWS) * dim;
        let dot = 0;
        for (let j = 0; j < dim; j++) dot += (chunk[offset + j] as number) * (query[j] as number);
        return [dot, row] as const;
      })
      .sort((a, b) => b[0] - a[0])
      .slice(0, K)
      .map(([, row]) => row);
  });
}

function naiveMs(chunks: Float32Array[], queries: Float32Array[], dim: number): number[] {
  const items: number[][] = [];
  for (const chunk of chunks) {
    for (let offset = 0; offset < chunk.length; offset += dim)
      items.push(Array.from(chunk.subarray(offset, offset + dim)));
  }
  return queries.map((query) => {
    const q = Array.from(query);
    const started = performance.now();
    items
      .map((v, i) => [v.reduce((s, x, j) => s + x * (q[j] as number), 0), i] as [number, number])
      .sort((a, b) => b[0] - a[0])
      .slice(0, 10);
    return performance.now() - started;
  });
}

function residentBytes(): number {
  collectGarbage();
  return process.memoryUsage().rss;
}

async function benchSize(label: SizeLabel, dim: number): Promise<Record<string, number | string>> {
  const itemCount = SIZES[label];
  const stride = Math.ceil(dim / 32) * 32;
  // Generated chunks + their copy for the floor + the index (float32, int8, ids) + the snapshot.
  const neededBytes = itemCount * (4 * dim * 4 + stride + 300);
  if (neededBytes > freemem() * 0.9) {
    const reason = `needs ~${(neededBytes / 2 ** 30).toFixed(1)} GiB, ${(freemem() / 2 ** 30).toFixed(1)} GiB free`;
    log(`${label}: skipped, ${reason}`);
    return { skipped: reason };
  }
  const catalogue = new SyntheticCatalogue(dim, 20_260_101);
  log(`${label}: generating ${itemCount} x ${dim} clustered unit vectors`);
  const chunks = catalogue.chunks(itemCount);
  const queries = Array.from({ length: WARMUP_QUERIES + TIMED_QUERIES }, () =>
    catalogue.nearCentre(undefined, QUERY_SPREAD),
  );

  log(`${label}: building the index`);
  const before = residentBytes();
  const index = new ExactIndex(dim);
  let row = 0;
  for (const chunk of chunks) {
    for (let offset = 0; offset < chunk.length; offset += dim) {
      index.upsert(`item-${row}`, chunk.subarray(offset, offset + dim), {
        available: true,
        category: `c${row % 40}`,
      });
      row++;
    }
  }
  const indexBytes = residentBytes() - before;

  log(`${label}: timing ${TIMED_QUERIES} top-${K} queries`);
  for (const query of queries.slice(0, WARMUP_QUERIES)) index.search({ queries: [query], k: K });
  const timed = queries.slice(WARMUP_QUERIES);
  const ourMs: number[] = [];
  const ourRows: number[][] = [];
  for (const query of timed) {
    const started = performance.now();
    const hits = index.search({ queries: [query], k: K });
    ourMs.push(performance.now() - started);
    ourRows.push(hits.map((hit) => Number(hit.itemId.slice('item-'.length))));
  }
  const multiQueryMs: number[] = [];
  for (let i = 0; i < MULTI_QUERY_SEARCHES; i++) {
    const started = performance.now();
    index.search({ queries: timed.slice(i, i + 4), weights: [0.4, 0.3, 0.2, 0.1], k: K });
    multiQueryMs.push(performance.now() - started);
  }

  log(`${label}: measuring the bandwidth floor`);
  const limitMs = bandwidthFloorMs(chunks);

  log(`${label}: snapshot round trip`);
  let started = performance.now();
  let snapshot: Uint8Array | undefined = index.serialise();
  const saveMs = performance.now() - started;
  const snapshotBytes = snapshot.byteLength;
  started = performance.now();
  const loaded = ExactIndex.deserialise(snapshot);
  const loadMs = performance.now() - started;
  if (loaded.size !== index.size) throw new Error('snapshot lost items');
  snapshot = undefined;

  log(`${label}: exact float32 ground truth`);
  const truth = await exactTopRows(chunks, timed, dim);
  let found = 0;
  truth.forEach((rows, q) => {
    const exact = new Set(rows);
    found += (ourRows[q] ?? []).filter((r) => exact.has(r)).length;
  });

  const sorted = [...ourMs].sort((a, b) => a - b);
  const result: Record<string, number | string> = {
    items: itemCount,
    p50_ms: round(percentile(sorted, 0.5)),
    p99_ms: round(percentile(sorted, 0.99)),
    limit_ms: round(limitMs),
    over_bandwidth_limit: round(percentile(sorted, 0.5) / limitMs),
    recall_vs_exact: round(found / (K * timed.length), 4),
    mb_per_100k: round(((indexBytes / itemCount) * 100_000) / 1e6, 1),
    p50_ms_4_queries: round(median(multiQueryMs)),
    snapshot_mb: round(snapshotBytes / 1e6, 1),
    snapshot_save_ms: round(saveMs, 1),
    snapshot_load_ms: round(loadMs, 1),
  };
  const naiveCount = NAIVE_QUERIES[label];
  if (naiveCount !== undefined) {
    log(`${label}: timing the naive method on ${naiveCount} queries`);
    const naive = naiveMs(chunks, timed.slice(0, naiveCount), dim);
    const ours = ourMs.slice(0, naiveCount);
    result.naive_over_ours = round(naive.reduce((a, b) => a + b) / ours.reduce((a, b) => a + b), 1);
  }
  log(`${label}: ${JSON.stringify(result)}`);
  return result;
}

async function main(): Promise<void> {
  const dim = modelDim();
  const labels = (process.env.TOPN_SIZES?.split(',') ?? Object.keys(SIZES)) as SizeLabel[];
  const report: Record<string, unknown> = { dim, k: K, timed_queries: TIMED_QUERIES };
  for (const label of labels) {
    if (!(label in SIZES)) throw new Error(`unknown size ${label}; use ${Object.keys(SIZES).join(',')}`);
    report[label] = await benchSize(label, dim);
    collectGarbage();
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});

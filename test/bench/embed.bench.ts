/**
 * `npm run bench:embed [-- --model <dir>]`: the shared embedder on catalogue-like photos (~1000 x 1000
 * JPEGs, built before any clock starts; warm-up calls are not timed), with the model in <dir> (its
 * manifest.json) or, by default, the model layer's (layers/model/dist). The summary names the model.
 *
 * - Single thread (sharp.concurrency(1), ORT intraOpNumThreads 1: the 1-vCPU Lambda) and default
 *   threads (sharp's default, ORT threads = os.availableParallelism()): median ms per image for
 *   decode + preprocess (`preprocess` + `toTensor`), inference (`infer`) and end to end (`embed`).
 * - preprocess_over_sharp_floor: ours (validation, decode, resize, normalised tensor fill) over sharp
 *   alone decoding and resizing the same file to raw pixels with the manifest's orientation, flatten,
 *   kernel and fit (checked to give our very pixels, so the floor does the same decoding work). The
 *   median of FLOOR_RUNS runs; in each, the two alternate per image (who goes first alternates too)
 *   over a few rounds, and the run's ratio is the ratio of the medians. Single thread.
 * - tfjs_over_ort: the same model, same input tensor, in the pure-JS TF.js CPU backend over ORT (both
 *   single thread; see {@link TfjsReference} for what is timed). BENCH_TFJS_IMAGES=0 skips it (null).
 *   TF.js runs the network in float32: for an int8 model (QuantizeLinear in the graph) the ratio is
 *   float TF.js over int8 ORT, and the embeddings agree to a cosine (tfjs_min_cosine), not to 1e-4.
 * - cold_start_ms: a fresh `node` process on an esbuild bundle that requires the embedder, creates
 *   the session and embeds one image; the child reports its own clock (origin = its start).
 *   BENCH_COLD_STARTS=0 skips it (null).
 *
 * Progress goes to stderr; the last stdout line is one JSON object. Timings are never asserted on.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import type * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { Embedder } from '../../functions/embedding/embedder';
import { loadManifest } from '../../functions/embedding/model-manifest';
import { catalogueJpeg, emojiImages } from '../support/images';
import { TfjsReference } from '../support/tfjs-reference';
import { bundleForNode, runNodeChild, scratchDir } from './support/child-process';
import { modelManifestsFromArgs } from './support/models';
import { median, progress, round } from './support/stats';

const IMAGES = Number(process.env.BENCH_IMAGES ?? 30);
/** Runs of the preprocess / sharp-floor comparison; the reported ratio is their median. */
const FLOOR_RUNS = 5;
/** Rounds per run, each visiting every image with ours and the floor alternating. */
const FLOOR_ROUNDS = Number(process.env.BENCH_FLOOR_ROUNDS ?? 4);
/** TF.js CPU takes tens of seconds per image: a few images, after one untimed call. */
const TFJS_IMAGES = Number(process.env.BENCH_TFJS_IMAGES ?? 3);
const ORT_RUNS_PER_TFJS_IMAGE = 3;
/** An int8 model's embeddings against TF.js's float network (0.95-0.97 measured on the default). */
const INT8_MIN_COSINE = 0.9;
const COLD_STARTS = Number(process.env.BENCH_COLD_STARTS ?? 5);
const WARMUP_IMAGES = 3;

const log = progress('embed');

interface StageTimes {
  preprocessMs: number;
  inferenceMs: number;
  e2eMs: number;
}

interface ColdStartReport {
  bootMs: number;
  requireMs: number;
  sessionMs: number;
  firstEmbedMs: number;
  coldStartMs: number;
  dim: number;
}

async function time<T>(samples: number[], work: () => Promise<T> | T): Promise<T> {
  const started = performance.now();
  const result = await work();
  samples.push(performance.now() - started);
  return result;
}

/** Median preprocess (alone), inference (on prebuilt tensors) and end-to-end time per image. */
async function stageTimes(embedder: Embedder, bodies: Buffer[]): Promise<StageTimes> {
  for (const bytes of bodies.slice(0, WARMUP_IMAGES)) await embedder.embed(bytes);
  const preprocessMs: number[] = [];
  const tensors: ort.Tensor[] = [];
  for (const bytes of bodies) {
    tensors.push(await time(preprocessMs, async () => embedder.toTensor(await embedder.preprocess(bytes))));
  }
  const inferenceMs: number[] = [];
  for (const tensor of tensors) await time(inferenceMs, () => embedder.infer(tensor));
  const e2eMs: number[] = [];
  for (const bytes of bodies) await time(e2eMs, () => embedder.embed(bytes));
  return { preprocessMs: median(preprocessMs), inferenceMs: median(inferenceMs), e2eMs: median(e2eMs) };
}

/**
 * The floor: sharp alone, decoding and resizing to raw pixels exactly as the manifest says (EXIF
 * orientation, flatten, kernel, fit; sRGB and the first frame are sharp's defaults), nothing else.
 */
function sharpFloor(embedder: Embedder): (bytes: Buffer) => Promise<Buffer> {
  const { width, height } = embedder.manifest.input;
  const { fit, kernel, background } = embedder.manifest.preprocess;
  return (bytes) =>
    sharp(bytes)
      .rotate()
      .flatten({ background })
      .resize(width, height, { fit, kernel, background })
      .raw()
      .toBuffer();
}

/** Our decode + preprocess against the sharp floor: FLOOR_RUNS interleaved runs. */
async function preprocessAgainstFloor(embedder: Embedder, bodies: Buffer[]) {
  const floor = sharpFloor(embedder);
  for (const [i, bytes] of bodies.entries()) {
    const [ours, theirs] = [await embedder.preprocess(bytes), await floor(bytes)];
    if (!ours.pixels.equals(theirs)) throw new Error(`image ${i}: the floor's pixels differ from ours`);
  }
  // Our two steps are also timed apart, to show where any excess over the floor goes.
  const decodeMs: number[] = [];
  const toTensorMs: number[] = [];
  // As in the pipeline, where inference hands each input buffer back for the next image.
  const ours = async (bytes: Buffer) => {
    const image = await time(decodeMs, () => embedder.preprocess(bytes));
    const tensor = await time(toTensorMs, () => embedder.toTensor(image));
    embedder.releaseTensor(tensor);
    return tensor;
  };
  for (const bytes of bodies.slice(0, WARMUP_IMAGES)) {
    await floor(bytes);
    await ours(bytes);
  }
  decodeMs.length = 0;
  toTensorMs.length = 0;
  const runs: { oursMs: number; floorMs: number; ratio: number }[] = [];
  for (let run = 0; run < FLOOR_RUNS; run++) {
    const oursMs: number[] = [];
    const floorMs: number[] = [];
    for (let r = 0; r < FLOOR_ROUNDS; r++) {
      for (const [i, bytes] of bodies.entries()) {
        if ((run + r + i) % 2 === 0) {
          await time(oursMs, () => ours(bytes));
          await time(floorMs, () => floor(bytes));
        } else {
          await time(floorMs, () => floor(bytes));
          await time(oursMs, () => ours(bytes));
        }
      }
    }
    runs.push({ oursMs: median(oursMs), floorMs: median(floorMs), ratio: median(oursMs) / median(floorMs) });
    log(`floor run ${run + 1}/${FLOOR_RUNS}: ${JSON.stringify(runs.at(-1))}`);
  }
  return {
    ratio: median(runs.map((r) => r.ratio)),
    ratios: runs.map((r) => round(r.ratio, 3)),
    oursMs: median(runs.map((r) => r.oursMs)),
    floorMs: median(runs.map((r) => r.floorMs)),
    decodeMs: median(decodeMs),
    toTensorMs: median(toTensorMs),
  };
}

/**
 * ORT: `Embedder.infer` = the whole ONNX graph (truncated InceptionV3, GeM pooling, per-block L2,
 * concatenation, centring, PCA projection) + the final L2 normalisation in JS.
 * TF.js: `TfjsReference.embed` = the original Keras network truncated at the same layers, the same
 * pooling in TF.js, the same head constants applied in JS, the same final L2 normalisation.
 * Same input tensor on both sides; the outputs must agree, or the ratio would compare different work.
 */
/** TF.js takes the normalised float image: a uint8 model's bytes normalised as its graph does it. */
function asNormalisedFloats(
  tensor: ort.Tensor,
  { mean, std }: { mean: readonly number[]; std: readonly number[] },
): Float32Array {
  if (tensor.type === 'float32') return tensor.data as Float32Array;
  const bytes = tensor.data as Uint8Array;
  return Float32Array.from(bytes, (value, i) => {
    const channel = i % 3;
    return (value / 255 - (mean[channel] as number)) / (std[channel] as number);
  });
}

async function tfjsAgainstOrt(embedder: Embedder, manifestPath: string, tensors: ort.Tensor[]) {
  const { modelPath } = loadManifest(manifestPath);
  const reference = await TfjsReference.load(embedder.manifest, modelPath);
  try {
    const [first] = tensors;
    if (!first) throw new Error('no tensors');
    log('TF.js: untimed first call');
    reference.embed(asNormalisedFloats(first, embedder.manifest.preprocess));
    const ortMs: number[] = [];
    const tfjsMs: number[] = [];
    let maxDifference = 0;
    let minCosine = 1;
    const quantised = (onnx.ModelProto.decode(readFileSync(modelPath)).graph?.node ?? []).some(
      (node) => node.opType === 'QuantizeLinear',
    );
    for (const [i, tensor] of tensors.slice(1, 1 + TFJS_IMAGES).entries()) {
      const runs: number[] = [];
      let vector: Float32Array | undefined;
      for (let run = 0; run < ORT_RUNS_PER_TFJS_IMAGE; run++)
        vector = await time(runs, () => embedder.infer(tensor));
      ortMs.push(median(runs));
      const floats = asNormalisedFloats(tensor, embedder.manifest.preprocess);
      const expected = await time(tfjsMs, () => reference.embed(floats));
      let dot = 0;
      expected.forEach((v, k) => {
        maxDifference = Math.max(maxDifference, Math.abs(v - ((vector as Float32Array)[k] as number)));
        dot += v * ((vector as Float32Array)[k] as number);
      });
      minCosine = Math.min(minCosine, dot);
      log(
        `TF.js image ${i + 1}/${TFJS_IMAGES}: ${round(tfjsMs.at(-1) ?? 0, 0)} ms; ORT ${round(ortMs.at(-1) ?? 0, 1)} ms`,
      );
    }
    // int8 moves the pooled blocks by ~0.2% (cosine > 0.99, test/model/parity.test.ts), and the
    // eigenvalue^-0.25 scaling of the projection magnifies that in the low-variance axes.
    const agrees = quantised ? minCosine > INT8_MIN_COSINE : maxDifference < 1e-4;
    if (!agrees)
      throw new Error(`TF.js and ORT embeddings differ by ${maxDifference} (cosine down to ${minCosine})`);
    return { tfjsMs: median(tfjsMs), ortMs: median(ortMs), maxDifference, minCosine };
  } finally {
    reference.dispose();
  }
}

async function coldStarts(image: Buffer, manifestPath: string): Promise<ColdStartReport[]> {
  const dir = scratchDir('embed-bench');
  try {
    const imagePath = join(dir, 'image.jpg');
    writeFileSync(imagePath, image);
    const script = await bundleForNode(
      join(__dirname, 'support/embed-cold-start.ts'),
      join(dir, 'child.js'),
      {
        external: ['onnxruntime-node', 'sharp'],
      },
    );
    const reports: ColdStartReport[] = [];
    for (let run = 0; run < COLD_STARTS; run++) {
      const { report } = await runNodeChild<ColdStartReport>(script, [imagePath], {
        LOOKALIKE_MODEL_MANIFEST: manifestPath,
      });
      log(`cold start ${run + 1}/${COLD_STARTS}: ${JSON.stringify(report)}`);
      reports.push(report);
    }
    return reports;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const [manifestPath, ...others] = modelManifestsFromArgs();
  if (!manifestPath || others.length > 0)
    throw new Error('bench:embed measures one model: at most one --model');
  const defaultSharpConcurrency = sharp.concurrency();
  const catalogue = emojiImages();
  log(`building ${IMAGES} catalogue JPEGs (1000 x 1000)...`);
  const bodies: Buffer[] = [];
  for (let i = 0; i < IMAGES; i++) {
    const image = catalogue[Math.floor((i * catalogue.length) / IMAGES)];
    bodies.push(await catalogueJpeg(image?.file ?? '', 1000));
  }

  log('single thread: preprocess against the sharp floor (alternating)');
  sharp.concurrency(1);
  const single = await Embedder.load({ manifestPath, threads: 1 });
  log(`model ${single.modelId} (${manifestPath})`);
  const floor = await preprocessAgainstFloor(single, bodies);
  log(
    `ours ${round(floor.oursMs)} ms, sharp floor ${round(floor.floorMs)} ms, ratios ${floor.ratios.join(' ')}`,
  );
  log('single thread: stages');
  const singleStages = await stageTimes(single, bodies);
  log(JSON.stringify(singleStages));

  let tfjs: Awaited<ReturnType<typeof tfjsAgainstOrt>> | undefined;
  if (TFJS_IMAGES > 0) {
    log(`TF.js CPU against ORT, ${TFJS_IMAGES} images (each takes tens of seconds in TF.js)`);
    const tensors: ort.Tensor[] = [];
    for (const bytes of bodies.slice(0, 1 + TFJS_IMAGES))
      tensors.push(single.toTensor(await single.preprocess(bytes)));
    tfjs = await tfjsAgainstOrt(single, manifestPath, tensors);
  }

  const threads = availableParallelism();
  log(`default threads: sharp ${defaultSharpConcurrency}, ORT ${threads}`);
  sharp.concurrency(defaultSharpConcurrency);
  const multi = await Embedder.load({ manifestPath, threads });
  const multiStages = await stageTimes(multi, bodies);
  log(JSON.stringify(multiStages));

  log(`cold start: ${COLD_STARTS} fresh processes`);
  const cold = COLD_STARTS > 0 ? await coldStarts(bodies[0] as Buffer, manifestPath) : undefined;
  const coldMedian = (pick: (c: ColdStartReport) => number) =>
    cold ? round(median(cold.map(pick)), 1) : null;

  const summary = {
    model_id: single.modelId,
    model_manifest: manifestPath,
    images: IMAGES,
    e2e_ms_1thread: round(singleStages.e2eMs),
    preprocess_over_sharp_floor: round(floor.ratio, 3),
    preprocess_over_sharp_floor_runs: floor.ratios,
    tfjs_over_ort: tfjs ? round(tfjs.tfjsMs / tfjs.ortMs, 1) : null,
    cold_start_ms: coldMedian((c) => c.coldStartMs),
    e2e_ms_default_threads: round(multiStages.e2eMs),
    inference_ms_1thread: round(singleStages.inferenceMs),
    preprocess_ms_1thread: round(floor.oursMs),
    sharp_floor_ms_1thread: round(floor.floorMs),
    preprocess_only_ms_1thread: round(floor.decodeMs),
    to_tensor_ms_1thread: round(floor.toTensorMs),
    inference_ms_default_threads: round(multiStages.inferenceMs),
    preprocess_ms_default_threads: round(multiStages.preprocessMs),
    tfjs_ms: tfjs ? round(tfjs.tfjsMs, 0) : null,
    tfjs_ort_ms: tfjs ? round(tfjs.ortMs) : null,
    tfjs_max_abs_difference: tfjs ? Number(tfjs.maxDifference.toExponential(2)) : null,
    tfjs_min_cosine: tfjs ? round(tfjs.minCosine, 4) : null,
    cold_start_require_ms: coldMedian((c) => c.requireMs),
    cold_start_session_ms: coldMedian((c) => c.sessionMs),
    cold_start_first_embed_ms: coldMedian((c) => c.firstEmbedMs),
    threads_default: threads,
    sharp_concurrency_default: defaultSharpConcurrency,
    dim: single.dim,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});

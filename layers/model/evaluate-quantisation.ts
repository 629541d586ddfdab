/**
 * Float32 against static int8 for the MobileNetV2 candidate descriptors: precision@5 on both emoji
 * packages under docs/descriptors.md's protocol, ms/image on one intra-op thread (float and int8
 * interleaved, median), and model size; writes docs/quantisation.md with the keep rule's verdict.
 *
 *   npm run evaluate:quantisation
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { type ConversionRequest, convertToOnnx, type PooledBlock, pooledOutputName } from './convert';
import {
  combineBlocks,
  type DescriptorSpec,
  describeDescriptor,
  descriptorLabel,
  fitTransform,
} from './descriptor';
import { type EmojiImage, type EmojiPackage, evaluationSet, fittingSet } from './emoji-dataset';
import { createSession, extractFeatures, runImage } from './features';
import type { ActivationType, ValueRange } from './onnx-graph';
import { applyProjection } from './pca';
import { imageToTensor, PREPROCESSING } from './preprocess';
import { calibrateActivations, DEFAULT_ACTIVATION_TYPE } from './quantise';
import { precisionAtK } from './retrieval-metrics';
import { loadSourceModel } from './source-model';

const CHOOSE: EmojiPackage = 'google';
const REPORT: EmojiPackage = 'twitter';
const OTHER: Record<EmojiPackage, EmojiPackage> = { google: 'twitter', twitter: 'google' };
const K = 5;
/** Keep int8 only if p@5 drops by at most this on both packages and it is faster (issue 17). */
const MAX_PRECISION_DROP = 0.005;
const TIMING_IMAGES = 40;
const TIMING_ROUNDS = 3;
const WARM_UP = 5;

const gem3 = (layer: string): PooledBlock => ({ layer, pooling: { kind: 'gem', p: 3 } });
/** The MobileNetV2 multi-layer descriptors docs/descriptors.md ranks for the new default. */
export const QUANTISATION_CANDIDATES: DescriptorSpec[] = [
  {
    model: 'mobilenet_v2',
    blocks: [gem3('block_11_expand_relu'), gem3('block_13_expand_relu')],
    l2PerBlock: true,
    transform: { kind: 'pca', outDim: 128, power: 0.25 },
  },
  {
    model: 'mobilenet_v2',
    blocks: [gem3('block_10_expand_relu'), gem3('block_11_expand_relu'), gem3('block_13_expand_relu')],
    l2PerBlock: true,
    transform: { kind: 'pca', outDim: 256, power: 0.25 },
  },
];

type Variant = 'float32' | 'int8';
type SetKey = `${'eval' | 'fit'}:${EmojiPackage}`;

interface CandidateResult {
  spec: DescriptorSpec;
  precision: Record<Variant, Record<EmojiPackage, number>>;
  ms: Record<Variant, number>;
  megabytes: Record<Variant, number>;
  /** Mean cosine between float and int8 embeddings of the report package's evaluation images. */
  cosine: number;
}

const log = (message: string) => process.stderr.write(`${message}\n`);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)}s`;

async function main(): Promise<void> {
  const source = loadSourceModel('mobilenet_v2');
  const size = source.inputSize;
  const sets: Record<SetKey, EmojiImage[]> = {
    'eval:google': evaluationSet('google'),
    'eval:twitter': evaluationSet('twitter'),
    'fit:google': fittingSet('google'),
    'fit:twitter': fittingSet('twitter'),
  };
  const labels = (emojiPackage: EmojiPackage) =>
    sets[`eval:${emojiPackage}`].map((image) => image.subcategory);
  const paths = (key: SetKey) => sets[key].map((image) => image.path);

  // Every candidate truncates MobileNetV2 at block_13_expand_relu, so one network (and one
  // calibration per fitting package) serves them all; each candidate reads its own pooled blocks.
  const allBlocks = uniqueBlocks(QUANTISATION_CANDIDATES.flatMap((spec) => spec.blocks));
  const network: ConversionRequest = { pooledOutputs: allBlocks };
  const names = allBlocks.map(pooledOutputName);

  const features = new Map<`${Variant}@${SetKey}`, Map<string, Float32Array[]>>();
  const floatSession = await createSession(convertToOnnx(source, network).bytes, 2);
  for (const key of Object.keys(sets) as SetKey[]) {
    features.set(
      `float32@${key}`,
      await extractFeatures(floatSession, paths(key), size, PREPROCESSING, names),
    );
    log(`${elapsed()} float32 features of ${key}`);
  }
  await floatSession.release();

  // int8 for an evaluation on package P: calibrated on, and its head fitted on, OTHER[P]'s fitting set.
  const ranges = new Map<EmojiPackage, Map<string, ValueRange>>();
  for (const fitted of [OTHER[CHOOSE], OTHER[REPORT]]) {
    const calibrated = await calibrateActivations(source, network, paths(`fit:${fitted}`));
    ranges.set(fitted, calibrated);
    log(`${elapsed()} calibrated ${calibrated.size} activations on fit:${fitted}`);
    const session = await createSession(
      convertToOnnx(source, {
        ...network,
        quantisation: { ranges: calibrated, activationType: DEFAULT_ACTIVATION_TYPE },
      }).bytes,
      2,
    );
    for (const key of [`fit:${fitted}`, `eval:${OTHER[fitted]}`] as SetKey[]) {
      features.set(`int8@${key}`, await extractFeatures(session, paths(key), size, PREPROCESSING, names));
      log(`${elapsed()} int8 features of ${key}`);
    }
    await session.release();
  }

  const results: CandidateResult[] = [];
  for (const spec of QUANTISATION_CANDIDATES) {
    const combined = (variant: Variant, key: SetKey) => {
      const store = features.get(`${variant}@${key}`) as Map<string, Float32Array[]>;
      const perBlock = spec.blocks.map((block) => store.get(pooledOutputName(block)) as Float32Array[]);
      return (perBlock[0] as Float32Array[]).map((_, i) =>
        combineBlocks(
          perBlock.map((blockFeatures) => blockFeatures[i] as Float32Array),
          spec.l2PerBlock,
        ),
      );
    };
    const embeddings = (variant: Variant, evaluated: EmojiPackage) => {
      const projection = fitTransform(spec, combined(variant, `fit:${OTHER[evaluated]}`));
      const vectors = combined(variant, `eval:${evaluated}`);
      return projection ? vectors.map((vector) => applyProjection(projection, vector)) : vectors;
    };
    const precision = { float32: { google: 0, twitter: 0 }, int8: { google: 0, twitter: 0 } };
    let cosine = 0;
    for (const variant of ['float32', 'int8'] as const) {
      for (const evaluated of [CHOOSE, REPORT]) {
        precision[variant][evaluated] = precisionAtK(embeddings(variant, evaluated), labels(evaluated), K);
      }
    }
    const floatReport = embeddings('float32', REPORT);
    const int8Report = embeddings('int8', REPORT);
    floatReport.forEach((vector, i) => {
      cosine += cosineSimilarity(vector, int8Report[i] as Float64Array) / floatReport.length;
    });
    log(`${elapsed()} ${descriptorLabel(spec)}: ${JSON.stringify(precision)}`);

    // The shipped shape: head fitted on the build's fitting package (the report column's), float vs int8.
    const fitted = OTHER[REPORT];
    const model = (variant: Variant, activationType: ActivationType = DEFAULT_ACTIVATION_TYPE) =>
      convertToOnnx(source, {
        head: {
          blocks: spec.blocks,
          l2PerBlock: spec.l2PerBlock,
          projection: fitTransform(spec, combined(variant, `fit:${fitted}`)),
          l2Output: false,
        },
        quantisation:
          variant === 'int8'
            ? { ranges: ranges.get(fitted) as Map<string, ValueRange>, activationType }
            : undefined,
      }).bytes;
    const models = { float32: model('float32'), int8: model('int8') };
    const ms = await interleavedTiming(models, paths(`eval:${REPORT}`).slice(0, TIMING_IMAGES), size);
    log(`${elapsed()} timing ${JSON.stringify(ms)}`);
    results.push({
      spec,
      precision,
      ms,
      megabytes: { float32: models.float32.length / 1e6, int8: models.int8.length / 1e6 },
      cosine,
    });
  }

  // Why uint8 activations: the same ranges with int8 activations, timed against uint8 on the first candidate.
  const first = QUANTISATION_CANDIDATES[0] as DescriptorSpec;
  const activationTiming = await interleavedTiming(
    Object.fromEntries(
      (['uint8', 'int8'] as const).map((activationType) => [
        activationType,
        convertToOnnx(source, {
          pooledOutputs: first.blocks,
          quantisation: { ranges: ranges.get(OTHER[REPORT]) as Map<string, ValueRange>, activationType },
        }).bytes,
      ]),
    ) as Record<ActivationType, Uint8Array>,
    paths(`eval:${REPORT}`).slice(0, TIMING_IMAGES),
    size,
  );
  log(`${elapsed()} activation types ${JSON.stringify(activationTiming)}`);

  const markdown = renderMarkdown(results, activationTiming, sets, (Date.now() - started) / 1000);
  await writeFile(join(__dirname, '..', '..', 'docs', 'quantisation.md'), markdown);
  process.stdout.write(markdown);
}

/** Median ms/image per model on one intra-op thread, the models taking turns on every image. */
async function interleavedTiming<Name extends string>(
  models: Record<Name, Uint8Array>,
  imagePaths: readonly string[],
  size: number,
): Promise<Record<Name, number>> {
  const names = Object.keys(models) as Name[];
  const sessions = new Map<Name, ort.InferenceSession>();
  for (const name of names) sessions.set(name, await createSession(models[name], 1));
  const tensors = await Promise.all(
    imagePaths.map(async (path) => imageToTensor(await readFile(path), size, size)),
  );
  const runs = new Map<Name, number[]>(names.map((name) => [name, []]));
  const run = async (name: Name, tensor: Float32Array) => {
    const session = sessions.get(name) as ort.InferenceSession;
    const start = process.hrtime.bigint();
    await runImage(session, tensor, size, session.outputNames);
    return Number(process.hrtime.bigint() - start) / 1e6;
  };
  for (const tensor of tensors.slice(0, WARM_UP)) for (const name of names) await run(name, tensor);
  for (let round = 0; round < TIMING_ROUNDS; round++) {
    for (const [i, tensor] of tensors.entries()) {
      // Alternate who goes first, so neither model always runs on a warmer cache.
      const order = (i + round) % 2 === 0 ? names : [...names].reverse();
      for (const name of order) runs.get(name)?.push(await run(name, tensor));
    }
  }
  for (const session of sessions.values()) await session.release();
  return Object.fromEntries(names.map((name) => [name, median(runs.get(name) as number[])])) as Record<
    Name,
    number
  >;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += (a[i] as number) * (b[i] as number);
    aa += (a[i] as number) ** 2;
    bb += (b[i] as number) ** 2;
  }
  return dot / Math.sqrt(aa * bb);
}

function uniqueBlocks(blocks: PooledBlock[]): PooledBlock[] {
  const byName = new Map(blocks.map((block) => [pooledOutputName(block), block]));
  return [...byName.values()];
}

/** The keep rule: no more than MAX_PRECISION_DROP lost on either package, and faster. */
export function keepsInt8(result: Pick<CandidateResult, 'precision' | 'ms'>): boolean {
  const drop = (emojiPackage: EmojiPackage) =>
    result.precision.float32[emojiPackage] - result.precision.int8[emojiPackage];
  return (
    drop(CHOOSE) <= MAX_PRECISION_DROP &&
    drop(REPORT) <= MAX_PRECISION_DROP &&
    result.ms.int8 < result.ms.float32
  );
}

function renderMarkdown(
  results: CandidateResult[],
  activationTiming: Record<ActivationType, number>,
  sets: Record<SetKey, EmojiImage[]>,
  seconds: number,
): string {
  const p = (value: number) => value.toFixed(3);
  const signed = (value: number) => `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(3)}`;
  const rows = results.flatMap((result) => {
    const label = descriptorLabel(result.spec);
    return (['float32', 'int8'] as const).map(
      (variant) =>
        `| \`${label}\` | ${variant} | ${p(result.precision[variant][CHOOSE])} | ${p(result.precision[variant][REPORT])} | ` +
        `${result.ms[variant].toFixed(1)} | ${result.megabytes[variant].toFixed(1)} |`,
    );
  });
  const verdicts = results.map((result) => {
    const dropChoose = result.precision.int8[CHOOSE] - result.precision.float32[CHOOSE];
    const dropReport = result.precision.int8[REPORT] - result.precision.float32[REPORT];
    return (
      `- \`${descriptorLabel(result.spec)}\` (${describeDescriptor(result.spec)}): p@5 ${signed(dropChoose)} (${CHOOSE}), ` +
      `${signed(dropReport)} (${REPORT}); ${(result.ms.float32 / result.ms.int8).toFixed(2)}x the float speed ` +
      `(${result.ms.int8.toFixed(1)} vs ${result.ms.float32.toFixed(1)} ms); ${result.megabytes.int8.toFixed(1)} MB vs ` +
      `${result.megabytes.float32.toFixed(1)}; mean cosine float vs int8 ${result.cosine.toFixed(4)}. ` +
      `**${keepsInt8(result) ? 'Keep int8' : 'Stay float32'}.**`
    );
  });
  return [
    '# Quantising the embedder to int8',
    '',
    `Generated by \`npm run evaluate:quantisation\` (layers/model/evaluate-quantisation.ts), which writes this file; this run took ${Math.round(seconds / 60)} min on 2 shared cores.`,
    'Precision figures are reproducible; timings are ratios measured side by side in one run.',
    '',
    '## Rule',
    '',
    `Keep int8 for a descriptor only if precision@${K} drops by at most ${MAX_PRECISION_DROP} on **both** packages`,
    `(${CHOOSE} and ${REPORT}) and the int8 model is faster here (median ms/image, one intra-op thread).`,
    '',
    '## Result',
    '',
    ...verdicts,
    '',
    `| Descriptor | weights | p@5 ${CHOOSE} | p@5 ${REPORT} | ms/image | model MB |`,
    '| --- | --- | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    '## What int8 means here',
    '',
    '- `convertToOnnx(source, { quantisation })` (layers/model/convert.ts, layers/model/onnx-graph.ts) emits the',
    '  network in QDQ form: every Conv (depthwise included) has int8 weights, symmetric, one scale per output',
    '  channel, and an int32 bias at input scale × weight scale; every activation entering or leaving a Conv or a',
    '  residual Add goes through QuantizeLinear/DequantizeLinear with one scale and zero point per tensor.',
    '  MobileNetV2 has no MatMul/Gemm before the pooled layers. ReLU6 is left to the quantiser: each range is kept',
    '  within [0, 6] so onnxruntime drops the Clip and fuses the rest into QLinearConv and QLinearAdd. GeM pooling,',
    '  per-block L2, centring and the PCA projection stay float32, reading the dequantised feature maps.',
    '- Calibration (layers/model/quantise.ts): min/max of every quantised activation over the fitting set images',
    `  (${sets[`fit:${CHOOSE}`].length} per package), run through the float graph. As in docs/descriptors.md, the evaluation on`,
    "  one package uses the other package's fitting set for both the calibration and the PCA fit (fitted on the",
    "  int8 network's features, which is what an int8 build would fit on); the build fits on google.",
    `- Activations are uint8 (onnxruntime's U8S8 kernels): with the same ranges, int8 activations ran at`,
    `  ${activationTiming.int8.toFixed(1)} ms against ${activationTiming.uint8.toFixed(1)} ms for uint8 (network and pooling only, first candidate),`,
    '  because onnxruntime-node 1.30 leaves part of an S8S8 graph as float Conv with dequantised inputs.',
    '  The QDQ form is what onnxruntime rewrites into the QOperator kernels itself (40 QLinearConv + 8 QLinearAdd for',
    '  this network, checked on the optimised graph), so a hand-written QOperator graph would run the same kernels.',
    '- The same ranges give the same bytes: quantisation is float64 arithmetic in a fixed order, rounded once.',
    '',
    '## Protocol',
    '',
    `- Evaluation sets, fitting sets, preprocessing and precision@${K} exactly as docs/descriptors.md; ${sets[`eval:${CHOOSE}`].length} queries per package.`,
    `- ms/image: the complete model (network, pooling, projection), onnxruntime-node, 1 intra-op thread, batch 1,`,
    `  ${TIMING_IMAGES} report-package images × ${TIMING_ROUNDS} rounds after ${WARM_UP} warm-up images, float32 and int8 taking turns on`,
    '  every image (who goes first alternates); median. Decoding and resizing are not included.',
    '- Model MB: the ONNX file as the build would write it.',
    '',
  ].join('\n');
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

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
import { cosine as cosineSimilarity } from '../../functions/domain/interest-profile';
import { CHOSEN_DESCRIPTOR } from './chosen-descriptor';
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
import type { ActivationType, StaticQuantisation } from './onnx-graph';
import { applyProjection } from './pca';
import { imageToTensor, PREPROCESSING } from './preprocess';
import {
  activationRanges,
  type CalibrationMethod,
  DEFAULT_ACTIVATION_TYPE,
  observeActivations,
} from './quantise';
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

/** An int8 model: how activation ranges are calibrated, and which convolutions (if any) stay float. */
interface Int8Setting {
  calibration: CalibrationMethod;
  floatConvs?: string[];
  /** What the float convolutions are, for the table. */
  floatLabel?: string;
}
/** The convolutions whose ReLU6 outputs the candidates pool (GeM reads them): kept float, GeM reads exact values. */
const POOLED_CONVS = ['block_10_expand', 'block_11_expand', 'block_13_expand'];
const INT8_SETTINGS: Int8Setting[] = [
  { calibration: 'minmax' },
  { calibration: 'mean-minmax' },
  { calibration: 'image-p99.9' },
  { calibration: 'image-p99' },
  { calibration: 'image-p90' },
  { calibration: 'minmax', floatConvs: POOLED_CONVS, floatLabel: 'pooled convs float' },
  { calibration: 'minmax', floatConvs: ['Conv1'], floatLabel: 'first conv float' },
];
type Variant = string;
const int8Name = (setting: Int8Setting): Variant =>
  `int8 ${setting.calibration}${setting.floatLabel ? `, ${setting.floatLabel}` : ''}`;
const SETTING = new Map(INT8_SETTINGS.map((setting) => [int8Name(setting), setting]));
const VARIANTS: Variant[] = ['float32', ...SETTING.keys()];
type SetKey = `${'eval' | 'fit'}:${EmojiPackage}`;

interface CandidateResult {
  spec: DescriptorSpec;
  precision: Record<Variant, Record<EmojiPackage, number>>;
  ms: Record<Variant, number>;
  megabytes: Record<Variant, number>;
  /** Mean cosine between float and int8 concatenated pooled features of the report package's evaluation images. */
  cosine: Record<Variant, number>;
  /** The int8 calibration picked on the choose package alone (smallest drop there). */
  picked: Variant;
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
  const quantisations = new Map<`${Variant}@${EmojiPackage}`, StaticQuantisation>();
  for (const fitted of [OTHER[CHOOSE], OTHER[REPORT]]) {
    const observations = await observeActivations(source, network, paths(`fit:${fitted}`));
    log(`${elapsed()} calibrated ${observations.size} activations on fit:${fitted}`);
    for (const [variant, setting] of SETTING) {
      const quantisation: StaticQuantisation = {
        ranges: activationRanges(observations, setting.calibration),
        activationType: DEFAULT_ACTIVATION_TYPE,
        ...(setting.floatConvs ? { floatConvs: new Set(setting.floatConvs) } : {}),
      };
      quantisations.set(`${variant}@${fitted}`, quantisation);
      const session = await createSession(convertToOnnx(source, { ...network, quantisation }).bytes, 2);
      for (const key of [`fit:${fitted}`, `eval:${OTHER[fitted]}`] as SetKey[]) {
        features.set(
          `${variant}@${key}`,
          await extractFeatures(session, paths(key), size, PREPROCESSING, names),
        );
        log(`${elapsed()} ${variant} features of ${key}`);
      }
      await session.release();
    }
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
    const precision = {} as Record<Variant, Record<EmojiPackage, number>>;
    const cosine = {} as Record<Variant, number>;
    // Compared before the projection: float and int8 heads are fitted separately, so their PCA axes differ.
    const floatReport = combined('float32', `eval:${REPORT}`);
    for (const variant of VARIANTS) {
      const scores = { google: 0, twitter: 0 };
      for (const evaluated of [CHOOSE, REPORT]) {
        scores[evaluated] = precisionAtK(embeddings(variant, evaluated), labels(evaluated), K);
      }
      precision[variant] = scores;
      const report = combined(variant, `eval:${REPORT}`);
      let similarity = 0;
      floatReport.forEach((vector, i) => {
        similarity += cosineSimilarity(vector, report[i] as Float64Array) / floatReport.length;
      });
      cosine[variant] = similarity;
    }
    const picked = VARIANTS.slice(1).sort(
      (a, b) =>
        of(precision, b)[CHOOSE] - of(precision, a)[CHOOSE] || VARIANTS.indexOf(a) - VARIANTS.indexOf(b),
    )[0] as Variant;
    log(`${elapsed()} ${descriptorLabel(spec)}: ${JSON.stringify(precision)}`);

    // The shipped shape: head fitted on the build's fitting package (the report column's), float vs int8.
    const fitted = OTHER[REPORT];
    const model = (variant: Variant) =>
      convertToOnnx(source, {
        head: {
          blocks: spec.blocks,
          l2PerBlock: spec.l2PerBlock,
          projection: fitTransform(spec, combined(variant, `fit:${fitted}`)),
          l2Output: false,
        },
        quantisation: variant === 'float32' ? undefined : quantisations.get(`${variant}@${fitted}`),
      }).bytes;
    const models = Object.fromEntries(VARIANTS.map((variant) => [variant, model(variant)])) as Record<
      Variant,
      Uint8Array
    >;
    const ms = await interleavedTiming(models, paths(`eval:${REPORT}`).slice(0, TIMING_IMAGES), size);
    log(`${elapsed()} timing ${JSON.stringify(ms)}`);
    results.push({
      spec,
      precision,
      ms,
      megabytes: Object.fromEntries(
        VARIANTS.map((variant) => [variant, of(models, variant).length / 1e6]),
      ) as Record<Variant, number>,
      cosine,
      picked,
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
          quantisation: {
            ranges: (quantisations.get(`int8 minmax@${OTHER[REPORT]}`) as StaticQuantisation).ranges,
            activationType,
          },
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

/** The Shipping paragraph: what the build does with the verdicts, read from layers/model/chosen-descriptor.ts. */
function shipping(results: CandidateResult[]): string {
  const floatLabel = (spec: DescriptorSpec) =>
    descriptorLabel({ ...spec, quantisation: undefined, inputType: undefined });
  const chosen = results.find((result) => floatLabel(result.spec) === floatLabel(CHOSEN_DESCRIPTOR));
  const shipped = CHOSEN_DESCRIPTOR.quantisation;
  if (chosen && shipped) {
    const variant = int8Name({ calibration: shipped.calibration });
    if (variant !== chosen.picked || !keepsInt8(chosen, variant))
      return `**Inconsistent:** layers/model/chosen-descriptor.ts ships ${variant}, which the rule does not keep; set its \`quantisation\` back.`;
    return (
      `The default descriptor (layers/model/chosen-descriptor.ts, \`${floatLabel(CHOSEN_DESCRIPTOR)}\`) keeps int8 under the rule ` +
      `with ${variant}, so it ships quantised: buildModel calibrates the activation ranges on the ${OTHER[REPORT]} fitting set ` +
      "and fits the head on the int8 network's features (the shape measured above, fitted on google as for the twitter column), and " +
      `\`quantisation\` is part of the descriptor label and so of the model id. The other descriptors, \`npm run model -- --descriptor previous\` ` +
      'included, build float32 as before. The margin is thin (p@5 on 575 queries moves by a few thousandths between ' +
      'calibrations that differ only in a handful of outlier images), so the rule, not the size of the gain, is what decides.'
    );
  }
  if (results.some((result) => keepsInt8(result, result.picked)))
    return 'At least one candidate keeps int8 under the rule, but the default descriptor ships float32: set its `quantisation` to ship it.';
  return (
    `No candidate keeps int8 (each loses more than ${MAX_PRECISION_DROP} p@5 on a package, or is not faster), ` +
    'so the build ships float32. The converter option stays (test/model/quantisation.test.ts checks that it runs as ' +
    'integer kernels, is deterministic and stays close to float); entropy-calibrated ranges or quantisation-aware ' +
    'fine-tuning are the next things to measure before trying again.'
  );
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

/** A variant's entry; every record here has one for each of VARIANTS. */
function of<T>(record: Record<Variant, T>, variant: Variant): T {
  const value = record[variant];
  if (value === undefined) throw new Error(`no ${variant} figure`);
  return value;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function uniqueBlocks(blocks: PooledBlock[]): PooledBlock[] {
  const byName = new Map(blocks.map((block) => [pooledOutputName(block), block]));
  return [...byName.values()];
}

/** The keep rule: no more than MAX_PRECISION_DROP lost on either package, and faster. */
export function keepsInt8(result: Pick<CandidateResult, 'precision' | 'ms'>, variant: Variant): boolean {
  const drop = (emojiPackage: EmojiPackage) =>
    of(result.precision, 'float32')[emojiPackage] - of(result.precision, variant)[emojiPackage];
  return (
    drop(CHOOSE) <= MAX_PRECISION_DROP + 1e-9 &&
    drop(REPORT) <= MAX_PRECISION_DROP + 1e-9 &&
    of(result.ms, variant) < of(result.ms, 'float32')
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
    return VARIANTS.map(
      (variant) =>
        `| \`${label}\` | ${variant} | ${p(of(result.precision, variant)[CHOOSE])} | ${p(of(result.precision, variant)[REPORT])} | ` +
        `${of(result.ms, variant).toFixed(1)} | ${of(result.megabytes, variant).toFixed(1)} | ${of(result.cosine, variant).toFixed(4)} |`,
    );
  });
  const verdicts = results.map((result) => {
    const variant = result.picked;
    const change = (emojiPackage: EmojiPackage) =>
      of(result.precision, variant)[emojiPackage] - of(result.precision, 'float32')[emojiPackage];
    return (
      `- \`${descriptorLabel(result.spec)}\` (${describeDescriptor(result.spec)}), ${variant} ` +
      `(picked on ${CHOOSE}): p@5 ${signed(change(CHOOSE))} (${CHOOSE}), ${signed(change(REPORT))} (${REPORT}); ` +
      `${(of(result.ms, 'float32') / of(result.ms, variant)).toFixed(2)}x the float speed ` +
      `(${of(result.ms, variant).toFixed(1)} vs ${of(result.ms, 'float32').toFixed(1)} ms); ${of(result.megabytes, variant).toFixed(1)} MB vs ` +
      `${of(result.megabytes, 'float32').toFixed(1)}. **${keepsInt8(result, variant) ? 'Keep int8' : 'Stay float32'}.**`
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
    `Of the int8 variants measured (calibrations, convolutions kept float), the one with the best ${CHOOSE} p@5 is the one the rule is applied to`,
    `(choices look at the choose package only, as in docs/descriptors.md); the ${REPORT} column is reported, not chosen on.`,
    '',
    '## Result',
    '',
    ...verdicts,
    '',
    `| Descriptor | model | p@5 ${CHOOSE} | p@5 ${REPORT} | ms/image | model MB | cosine to float, pooled (${REPORT}) |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    '## Shipping',
    '',
    shipping(results),
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
    '- Calibration (layers/model/quantise.ts): the float graph reduces every quantised activation to its minimum and',
    `  maximum on each fitting set image (${sets[`fit:${CHOOSE}`].length} per package). \`minmax\` takes the extremes over all images;`,
    '  `mean-minmax` the mean of the per-image extremes; `image-p<q>` the q-th percentile of the per-image maxima',
    '  (and the (100 − q)-th of the minima), interpolated between order statistics. The last two clip rare outliers',
    '  (notably in the linear projection outputs of the residual stream) to get finer steps for every other image.',
    `  \`pooled convs float\` keeps ${POOLED_CONVS.join(', ')} in float32 (their ReLU6 outputs are the feature maps GeM`,
    '  pools, read exactly; the next depthwise conv still reads them quantised); `first conv float` keeps Conv1 in float32',
    '  (the normalised image is not quantised). As in docs/descriptors.md, the evaluation on',
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

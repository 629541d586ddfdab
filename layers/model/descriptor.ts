import { createHash } from 'node:crypto';
import { type PooledBlock, type Projection, poolingTag } from './convert';
import { fitPca, pcaProjection, sampleMean } from './pca';
import type { CalibrationMethod } from './quantise';
import type { SourceModelName } from './source-model';

/** What happens to the concatenated pooled features; anything fitted is fitted on a separate image set. */
export type Transform =
  | { kind: 'none' }
  | { kind: 'centre' }
  | { kind: 'pca'; outDim: number; power: number };

/** A candidate embedding: which network, which pooled layers, and the post-processing. */
export interface DescriptorSpec {
  model: SourceModelName;
  blocks: PooledBlock[];
  /** L2-normalise each pooled block before concatenating, so no layer dominates by scale. */
  l2PerBlock: boolean;
  transform: Transform;
  /**
   * What the shipped graph takes: normalised floats (the default, and what every model built before
   * takes), or the resized RGB bytes, normalised inside the graph (no tensor fill in the embedder).
   * Not part of the label: the same descriptor, fed differently; the model id's digest tells them apart.
   */
  inputType?: 'float32' | 'uint8';
  /**
   * Static int8 quantisation of the network (docs/quantisation.md): int8 weights, uint8 activations
   * whose ranges come from the fitting set by `calibration`; the head is fitted on the quantised
   * network's features. Part of the label. Default: float32.
   */
  quantisation?: { calibration: CalibrationMethod };
}

const MODEL_LABEL: Record<SourceModelName, string> = {
  mobilenet_v2: 'mobilenet-v2',
  inception_v3: 'inception-v3',
};

/** Short, stable, file-name-safe label, e.g. `inception-v3.mixed5-gem3.pca256w0.5`. */
export function descriptorLabel(spec: DescriptorSpec): string {
  const blocks = spec.blocks.map((b) => `${b.layer}-${poolingTag(b.pooling)}`).join('+');
  const transform =
    spec.transform.kind === 'pca'
      ? `.pca${spec.transform.outDim}w${spec.transform.power}`
      : spec.transform.kind === 'centre'
        ? '.centred'
        : '';
  const quantisation = spec.quantisation ? `.int8-${spec.quantisation.calibration}` : '';
  return `${MODEL_LABEL[spec.model]}.${blocks}${spec.blocks.length > 1 && spec.l2PerBlock ? '.l2' : ''}${transform}${quantisation}`;
}

/** The digest suffix of a model id: `-` and 16 hex digits of the model's sha256. */
const DIGEST_SUFFIX_LENGTH = 17;
/** The manifest's limit on a model id. */
const MODEL_ID_MAX = 100;

/**
 * The label part of a model id, so that any descriptor builds within the manifest's 100 characters.
 * The full label when it fits (every model built so far keeps its id); otherwise the same label with
 * layer names abbreviated (`block_10_expand_relu` -> `b10e`, `mixed6` -> `m6`); should that not fit
 * either, its head and 8 hex digits of the full label's sha256. Stable: a function of the spec only.
 */
export function modelIdLabel(spec: DescriptorSpec): string {
  const room = MODEL_ID_MAX - DIGEST_SUFFIX_LENGTH;
  const full = descriptorLabel(spec).replace(/\+/g, '_');
  if (full.length <= room) return full;
  const compact = full
    .replace(/block_(\d+)_expand_relu/g, 'b$1e')
    .replace(/block_(\d+)_project_BN/g, 'b$1p')
    .replace(/block_(\d+)_add/g, 'b$1a')
    .replace(/block_(\d+)_depthwise_relu/g, 'b$1d')
    .replace(/mixed(\d+)/g, 'm$1')
    .replace(/out_relu/g, 'out');
  if (compact.length <= room) return compact;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${compact.slice(0, room - 9)}.${hash}`;
}

/** For people: e.g. "InceptionV3 mixed5, GeM-pooled (p=3), centred, PCA-whitened to 256-d". */
export function describeDescriptor(spec: DescriptorSpec): string {
  const model = spec.model === 'mobilenet_v2' ? 'MobileNetV2' : 'InceptionV3';
  const pooling = (block: PooledBlock) =>
    block.pooling.kind === 'gem'
      ? `GeM-pooled (p=${block.pooling.p})`
      : block.pooling.kind === 'avg'
        ? 'average-pooled'
        : 'max-pooled';
  const blocks = spec.blocks.map((b) => `${b.layer} ${pooling(b)}`).join(' + ');
  const parts = [`${model} ${blocks}`];
  if (spec.blocks.length > 1 && spec.l2PerBlock) parts.push('each block L2-normalised, concatenated');
  if (spec.transform.kind === 'centre') parts.push('centred');
  if (spec.transform.kind === 'pca') {
    const { outDim, power } = spec.transform;
    const kind = power === 0 ? 'PCA' : power === 0.5 ? 'PCA-whitened' : `PCA, eigenvalue^-${power} scaled`;
    parts.push(`centred, ${kind} to ${outDim}-d`);
  }
  if (spec.quantisation)
    parts.push(
      `network int8 (uint8 activations, ranges ${spec.quantisation.calibration} over the fitting set)`,
    );
  return parts.join(', ');
}

/** The head's features in float64: per-block L2 (optional) then concatenation, as the graph does it. */
export function combineBlocks(pooled: ArrayLike<number>[], l2PerBlock: boolean): Float64Array {
  const total = pooled.reduce((sum, block) => sum + block.length, 0);
  const features = new Float64Array(total);
  let offset = 0;
  for (const block of pooled) {
    let scale = 1;
    if (l2PerBlock) {
      let norm = 0;
      for (let i = 0; i < block.length; i++) norm += (block[i] as number) ** 2;
      scale = 1 / Math.max(Math.sqrt(norm), 1e-12);
    }
    for (let i = 0; i < block.length; i++) features[offset + i] = (block[i] as number) * scale;
    offset += block.length;
  }
  return features;
}

/** Fits the spec's transform on combined features of the fitting images (in their given order). */
export function fitTransform(
  spec: DescriptorSpec,
  fittingFeatures: ArrayLike<number>[],
): Projection | undefined {
  if (spec.transform.kind === 'none') return undefined;
  if (spec.transform.kind === 'centre') {
    const mean = sampleMean(fittingFeatures);
    return { mean, outDim: mean.length };
  }
  return pcaProjection(fitPca(fittingFeatures), spec.transform.outDim, spec.transform.power);
}

import type { DescriptorSpec } from './descriptor';

/**
 * The default model before this one: InceptionV3 mixed3 + mixed6, GeM-pooled, each block
 * L2-normalised, centred and projected onto 128 principal axes scaled by eigenvalue^-0.25. Stacks
 * deployed with it keep it until they opt in to the new default (README, "Upgrading"):
 * `npm run model -- --descriptor previous <dir>` rebuilds it byte for byte, with the same model id.
 * docs/descriptors.md's rule also measures every candidate against it.
 */
export const PREVIOUS_DEFAULT_DESCRIPTOR: DescriptorSpec = {
  model: 'inception_v3',
  blocks: [
    { layer: 'mixed3', pooling: { kind: 'gem', p: 3 } },
    { layer: 'mixed6', pooling: { kind: 'gem', p: 3 } },
  ],
  l2PerBlock: true,
  transform: { kind: 'pca', outDim: 128, power: 0.25 },
};

/**
 * The embedding the build ships, picked by docs/descriptors.md's rule (quality per cost): MobileNetV2
 * block_11 + block_13 expand_relu, GeM-pooled, each block L2-normalised, centred and projected onto
 * 128 principal axes scaled by eigenvalue^-0.25; the graph takes the resized RGB bytes and
 * normalises them itself; the network runs int8 (docs/quantisation.md). Re-run `npm run evaluate:descriptors`
 * and `npm run evaluate:quantisation` before changing it.
 */
export const CHOSEN_DESCRIPTOR: DescriptorSpec = {
  model: 'mobilenet_v2',
  blocks: [
    { layer: 'block_11_expand_relu', pooling: { kind: 'gem', p: 3 } },
    { layer: 'block_13_expand_relu', pooling: { kind: 'gem', p: 3 } },
  ],
  l2PerBlock: true,
  transform: { kind: 'pca', outDim: 128, power: 0.25 },
  inputType: 'uint8',
  // The 99.9th percentile of per-image activation maxima keeps p@5 within the rule on both packages (docs/quantisation.md).
  quantisation: { calibration: 'image-p99.9' },
};

/** The descriptors `npm run model -- --descriptor <name>` builds by name. */
export const NAMED_DESCRIPTORS: Readonly<Record<string, DescriptorSpec>> = {
  default: CHOSEN_DESCRIPTOR,
  previous: PREVIOUS_DEFAULT_DESCRIPTOR,
};

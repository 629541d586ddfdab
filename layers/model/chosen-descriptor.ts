import type { DescriptorSpec } from './descriptor';

/**
 * The embedding the build ships, picked by docs/descriptors.md's rule on the choose package:
 * InceptionV3 mixed3 + mixed6, GeM-pooled, each block L2-normalised, centred and projected onto
 * 128 principal axes scaled by eigenvalue^-0.25 (a partial whitening). Re-run
 * layers/model/evaluate-descriptors.ts before changing it.
 */
export const CHOSEN_DESCRIPTOR: DescriptorSpec = {
  model: 'inception_v3',
  blocks: [
    { layer: 'mixed3', pooling: { kind: 'gem', p: 3 } },
    { layer: 'mixed6', pooling: { kind: 'gem', p: 3 } },
  ],
  l2PerBlock: true,
  transform: { kind: 'pca', outDim: 128, power: 0.25 },
};

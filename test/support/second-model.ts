/**
 * A second real model for rollout tests: a MobileNetV2 descriptor from docs/descriptors.md, of the
 * default model's dimension (128), built by the model build and cached under .cache/models/ like the
 * default model (rebuilt only when its build inputs change).
 */
import { join, resolve } from 'node:path';
import { type BuiltModel, ensureModel } from '../../layers/model/build';
import { type DescriptorSpec, descriptorLabel } from '../../layers/model/descriptor';

export const SECOND_DESCRIPTOR: DescriptorSpec = {
  model: 'mobilenet_v2',
  blocks: [{ layer: 'block_13_expand_relu', pooling: { kind: 'gem', p: 3 } }],
  l2PerBlock: true,
  transform: { kind: 'pca', outDim: 128, power: 0.25 },
};

export const SECOND_MODEL_DIR = resolve(
  __dirname,
  '..',
  '..',
  '.cache',
  'models',
  descriptorLabel(SECOND_DESCRIPTOR).replace(/[^A-Za-z0-9._-]/g, '_'),
);

/** The second model's manifest and ONNX file (about a minute to build the first time). */
export const ensureSecondModel = (): Promise<BuiltModel> => ensureModel(SECOND_MODEL_DIR, SECOND_DESCRIPTOR);

export const secondManifestPath = () => join(SECOND_MODEL_DIR, 'manifest.json');

import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import type { InferenceSession } from 'onnxruntime-node';
import { type BuiltModel, ensureModel } from '../../layers/model/build';
import { CHOSEN_DESCRIPTOR } from '../../layers/model/chosen-descriptor';
import {
  type Pooling,
  PROJECTION_MATRIX,
  PROJECTION_NEG_MEAN,
  type Projection,
  pooledOutputName,
} from '../../layers/model/convert';
import { combineBlocks, descriptorLabel } from '../../layers/model/descriptor';
import { evaluationSet } from '../../layers/model/emoji-dataset';
import { createSession, runImage } from '../../layers/model/features';
import { readInitializer } from '../../layers/model/onnx-graph';
import { applyProjection } from '../../layers/model/pca';
import { imageToTensor } from '../../layers/model/preprocess';
import { loadSourceModel } from '../../layers/model/source-model';
import { seededUniform } from '../support/seeded-random';

// The converted, truncated, pooled and projected ONNX model must compute what the original TF.js
// model computes: same layers, same pooling, same projection constants.
const TOLERANCE = 1e-4;

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

/** The same global pooling as the ONNX head, in TF.js, over NHWC feature maps. */
function poolInTfjs(featureMap: tf.Tensor4D, pooling: Pooling): Float32Array {
  return tf
    .tidy(() => {
      if (pooling.kind === 'avg') return featureMap.mean([1, 2]);
      if (pooling.kind === 'max') return featureMap.max([1, 2]);
      return featureMap
        .clipByValue(1e-6, Number.MAX_VALUE)
        .pow(pooling.p)
        .mean([1, 2])
        .pow(1 / pooling.p);
    })
    .dataSync() as Float32Array;
}

describe('ONNX model parity with the original TF.js model', () => {
  const spec = CHOSEN_DESCRIPTOR;
  let built: BuiltModel;
  let session: InferenceSession;
  let reference: tf.LayersModel;
  const inputs: { name: string; tensor: Float32Array }[] = [];
  const size = spec.model === 'inception_v3' ? 299 : 224;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    built = await ensureModel();
    session = await createSession(built.modelPath, 1);

    const source = loadSourceModel(spec.model);
    // A custom IOHandler over the bytes nsfwjs ships: TF.js dequantizes them itself, independently of us.
    const model = await tf.loadLayersModel({
      load: async () => ({
        modelTopology: source.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs: source.weightSpecs as tf.io.WeightsManifestEntry[],
        weightData: source.weightData,
      }),
    });
    reference = tf.model({
      inputs: model.inputs,
      outputs: spec.blocks.map((block) => model.getLayer(block.layer).output as tf.SymbolicTensor),
    });

    for (const image of [evaluationSet('google')[30], evaluationSet('twitter')[400]]) {
      if (!image) throw new Error('evaluation set too small');
      inputs.push({ name: image.path, tensor: await imageToTensor(await readFile(image.path), size, size) });
    }
    inputs.push({
      name: 'uniform noise',
      tensor: Float32Array.from({ length: size * size * 3 }, seededUniform(42)),
    });
  }, 300_000);

  afterAll(async () => {
    await session?.release();
  });

  it('is the chosen descriptor, at the manifest dimension', () => {
    expect(built.manifest.source?.descriptor).toBe(descriptorLabel(spec));
    expect(built.manifest.input).toMatchObject({ width: size, height: size, layout: 'NHWC' });
  });

  it('matches TF.js within 1e-4 on every pooled block and on the projected embedding', async () => {
    const projection = projectionInModel(await readFile(built.modelPath), spec.transform.kind);
    const outputNames = [...spec.blocks.map(pooledOutputName), built.manifest.output.name];
    const differences: { input: string; output: string; difference: number }[] = [];
    for (const input of inputs) {
      const onnx = await runImage(session, input.tensor, size, outputNames);
      const featureMaps = tf.tidy(() => {
        const result = reference.predict(tf.tensor4d(input.tensor, [1, size, size, 3]));
        return Array.isArray(result) ? result : [result];
      }) as tf.Tensor4D[];
      const pooled = spec.blocks.map((block, i) => poolInTfjs(featureMaps[i] as tf.Tensor4D, block.pooling));
      tf.dispose(featureMaps);

      spec.blocks.forEach((block, i) => {
        const output = pooledOutputName(block);
        differences.push({
          input: input.name,
          output,
          difference: maxAbsDifference(onnx.get(output) as Float32Array, pooled[i] as Float32Array),
        });
      });
      const features = combineBlocks(pooled, spec.l2PerBlock);
      const expected = projection ? applyProjection(projection, features) : features;
      const embedding = onnx.get(built.manifest.output.name) as Float32Array;
      expect(embedding).toHaveLength(built.manifest.output.dim);
      // A tiny embedding would make an absolute tolerance meaningless.
      expect(Math.max(...embedding.map(Math.abs))).toBeGreaterThan(100 * TOLERANCE);
      differences.push({
        input: input.name,
        output: built.manifest.output.name,
        difference: maxAbsDifference(embedding, expected),
      });
    }
    expect(differences).toHaveLength(inputs.length * (spec.blocks.length + 1));
    expect(differences.filter((d) => !(d.difference <= TOLERANCE))).toEqual([]);
  }, 240_000);
});

/** The centring and projection constants exactly as baked into the graph. */
function projectionInModel(modelBytes: Uint8Array, kind: 'none' | 'centre' | 'pca'): Projection | undefined {
  if (kind === 'none') return undefined;
  const negatedMean = readInitializer(modelBytes, PROJECTION_NEG_MEAN);
  const mean = Float64Array.from(negatedMean.values, (v) => -v);
  if (kind === 'centre') return { mean, outDim: mean.length };
  const matrix = readInitializer(modelBytes, PROJECTION_MATRIX);
  const [featureDim, outDim] = matrix.dims as [number, number];
  const components = new Float64Array(outDim * featureDim);
  for (let d = 0; d < featureDim; d++) {
    for (let k = 0; k < outDim; k++) components[k * featureDim + d] = matrix.values[d * outDim + k] as number;
  }
  return { mean, components, outDim };
}

import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { ModelManifest } from '../../functions/embedding/model-manifest';
import { PROJECTION_MATRIX, PROJECTION_NEG_MEAN, type Projection } from '../../layers/model/convert';
import { combineBlocks } from '../../layers/model/descriptor';
import { readInitializer } from '../../layers/model/onnx-graph';
import { applyProjection } from '../../layers/model/pca';
import { loadSourceModel } from '../../layers/model/source-model';

/** What the manifest records about how the ONNX graph was cut from the nsfwjs model. */
const SourceSchema = z.object({
  network: z.enum(['inception_v3', 'mobilenet_v2']),
  blocks: z
    .array(
      z.object({
        layer: z.string(),
        pooling: z.union([
          z.object({ kind: z.literal('avg') }),
          z.object({ kind: z.literal('max') }),
          z.object({ kind: z.literal('gem'), p: z.number() }),
        ]),
      }),
    )
    .min(1),
  l2PerBlock: z.boolean(),
  transform: z.object({ kind: z.enum(['none', 'centre', 'pca']) }),
});
type Pooling = z.infer<typeof SourceSchema>['blocks'][number]['pooling'];

/**
 * The embedding computed by the original nsfwjs Keras model in TF.js: the network truncated at the
 * manifest's blocks, the same global pooling in TF.js, then the head (per-block L2, concatenation,
 * centring and projection with the constants baked into the ONNX graph) in plain JS, and the
 * embedder's final L2 normalisation. test/model/parity.test.ts holds the ONNX model to it block by
 * block; bench:embed times it.
 */
export class TfjsReference {
  private constructor(
    private readonly truncated: tf.LayersModel,
    private readonly source: z.infer<typeof SourceSchema>,
    private readonly projection: Projection | undefined,
    private readonly inputShape: [number, number, number, number],
  ) {}

  static async load(manifest: ModelManifest, modelPath: string): Promise<TfjsReference> {
    if (manifest.input.layout !== 'NHWC') throw new Error('the TF.js reference takes NHWC input only');
    const source = SourceSchema.parse(manifest.source);
    await tf.setBackend('cpu');
    const original = loadSourceModel(source.network);
    // The bytes nsfwjs ships, through a custom IOHandler: TF.js dequantizes them itself.
    const model = await tf.loadLayersModel({
      load: async () => ({
        modelTopology: original.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs: original.weightSpecs as tf.io.WeightsManifestEntry[],
        weightData: original.weightData,
      }),
    });
    const truncated = tf.model({
      inputs: model.inputs,
      outputs: source.blocks.map((block) => model.getLayer(block.layer).output as tf.SymbolicTensor),
    });
    const { width, height } = manifest.input;
    return new TfjsReference(
      truncated,
      source,
      projectionInModel(readFileSync(modelPath), source.transform.kind),
      [1, height, width, 3],
    );
  }

  /** The network truncated at the manifest's blocks and each block's global pooling, for one image. */
  pooledBlocks(tensor: Float32Array): Float32Array[] {
    const pooled = tf.tidy(() => {
      const result = this.truncated.predict(tf.tensor4d(tensor, this.inputShape));
      const featureMaps = (Array.isArray(result) ? result : [result]) as tf.Tensor4D[];
      return this.source.blocks.map((block, i) => pool(featureMaps[i] as tf.Tensor4D, block.pooling));
    });
    const blocks = pooled.map((block) => block.dataSync() as Float32Array);
    tf.dispose(pooled);
    return blocks;
  }

  /** The head on pooled blocks: per-block L2, concatenation, centring and projection (the model's output). */
  head(blocks: Float32Array[]): Float64Array {
    const features = combineBlocks(blocks, this.source.l2PerBlock);
    return this.projection ? applyProjection(this.projection, features) : features;
  }

  /** One image: network, pooling and head; returns the unit embedding. */
  embed(tensor: Float32Array): Float32Array {
    const projected = this.head(this.pooledBlocks(tensor));
    let norm = 0;
    for (const v of projected) norm += v * v;
    norm = Math.sqrt(norm);
    return Float32Array.from(projected, (v) => v / norm);
  }

  dispose(): void {
    this.truncated.dispose();
  }
}

/** The same global pooling as the ONNX head, over NHWC feature maps. */
function pool(featureMap: tf.Tensor4D, pooling: Pooling): tf.Tensor {
  if (pooling.kind === 'avg') return featureMap.mean([1, 2]);
  if (pooling.kind === 'max') return featureMap.max([1, 2]);
  return featureMap
    .clipByValue(1e-6, Number.MAX_VALUE)
    .pow(pooling.p)
    .mean([1, 2])
    .pow(1 / pooling.p);
}

/** The centring and projection constants exactly as baked into the graph. */
function projectionInModel(modelBytes: Uint8Array, kind: 'none' | 'centre' | 'pca'): Projection | undefined {
  if (kind === 'none') return undefined;
  const mean = Float64Array.from(readInitializer(modelBytes, PROJECTION_NEG_MEAN).values, (v) => -v);
  if (kind === 'centre') return { mean, outDim: mean.length };
  const matrix = readInitializer(modelBytes, PROJECTION_MATRIX);
  const [featureDim, outDim] = matrix.dims as [number, number];
  const components = new Float64Array(outDim * featureDim);
  for (let d = 0; d < featureDim; d++) {
    for (let k = 0; k < outDim; k++) components[k * featureDim + d] = matrix.values[d * outDim + k] as number;
  }
  return { mean, components, outDim };
}

import { dirname, join } from 'node:path';

/** The two Keras-format TF.js layers models that the npm package `nsfwjs` ships. */
export type SourceModelName = 'mobilenet_v2' | 'inception_v3';

export interface KerasInboundTensor {
  layer: string;
  nodeIndex: number;
  tensorIndex: number;
}

export interface KerasLayer {
  name: string;
  className: string;
  config: Record<string, unknown>;
  inputs: KerasInboundTensor[];
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32';
  quantization?: { dtype: 'uint8'; min: number; scale: number };
}

export interface Weight {
  shape: number[];
  values: Float32Array;
}

export interface SourceModel {
  name: SourceModelName;
  /** Square input side nsfwjs feeds the network (pixels are squashed to it, not cropped). */
  inputSize: number;
  /** The raw `modelTopology` JSON, as tf.loadLayersModel wants it. */
  modelTopology: Record<string, unknown>;
  layers: KerasLayer[];
  inputLayer: string;
  /** Weight specs in manifest order and the packed (still quantized) bytes they describe. */
  weightSpecs: WeightSpec[];
  weightData: ArrayBuffer;
  /** Dequantized weights by name (`layer/kernel`, `layer_bn/gamma`, ...). */
  weights: Map<string, Weight>;
  /** Provenance for the manifest. */
  packageVersion: string;
}

const INPUT_SIZE: Record<SourceModelName, number> = { mobilenet_v2: 224, inception_v3: 299 };

interface RawManifestGroup {
  paths: string[];
  weights: WeightSpec[];
}

interface RawKerasLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, unknown][][];
}

// nsfwjs's `exports` map hides dist/models, so resolve an exported entry point and walk from it.
function modelDirectory(name: SourceModelName): string {
  return join(dirname(require.resolve('nsfwjs/core')), '..', 'models', name);
}

export function nsfwjsVersion(): string {
  const packageJson = require(join(dirname(require.resolve('nsfwjs/core')), '..', '..', 'package.json')) as {
    version: string;
  };
  return packageJson.version;
}

/** Loads one nsfwjs model from node_modules, without the network and without TF.js. */
export function loadSourceModel(name: SourceModelName): SourceModel {
  const directory = modelDirectory(name);
  const bundle = require(join(directory, 'model.min.js')) as {
    modelTopology: Record<string, unknown> & {
      model_config: { config: { layers: RawKerasLayer[]; input_layers: [string, number, number][] } };
    };
    weightsManifest: RawManifestGroup[];
  };
  const modelConfig = bundle.modelTopology.model_config.config;
  const layers: KerasLayer[] = modelConfig.layers.map((layer) => {
    if (layer.inbound_nodes.length > 1) throw new Error(`layer ${layer.name} is shared; not supported`);
    return {
      name: layer.name,
      className: layer.class_name,
      config: layer.config,
      inputs: (layer.inbound_nodes[0] ?? []).map(([inbound, nodeIndex, tensorIndex]) => ({
        layer: inbound,
        nodeIndex,
        tensorIndex,
      })),
    };
  });
  const inputLayer = modelConfig.input_layers[0]?.[0];
  if (inputLayer === undefined || modelConfig.input_layers.length !== 1) {
    throw new Error(`${name}: expected exactly one input layer`);
  }

  const weightSpecs: WeightSpec[] = [];
  const shards: Buffer[] = [];
  for (const group of bundle.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const path of group.paths) {
      shards.push(Buffer.from(require(join(directory, `${path}.min.js`)) as string, 'base64'));
    }
  }
  const packed = Buffer.concat(shards);
  const weightData = packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength);

  const weights = new Map<string, Weight>();
  let offset = 0;
  for (const spec of weightSpecs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    if (spec.quantization) {
      if (spec.quantization.dtype !== 'uint8') throw new Error(`${spec.name}: unsupported quantization`);
      const { min, scale } = spec.quantization;
      // Same expression and rounding as tfjs-core's decodeWeight, so both runtimes see identical weights.
      for (let i = 0; i < size; i++) values[i] = (packed[offset + i] as number) * scale + min;
      offset += size;
    } else {
      values.set(new Float32Array(weightData.slice(offset, offset + size * 4)));
      offset += size * 4;
    }
    weights.set(spec.name, { shape: spec.shape, values });
  }
  if (offset !== packed.byteLength) throw new Error(`${name}: weight bytes do not match the manifest`);

  return {
    name,
    inputSize: INPUT_SIZE[name],
    modelTopology: bundle.modelTopology,
    layers,
    inputLayer,
    weightSpecs,
    weightData,
    weights,
    packageVersion: nsfwjsVersion(),
  };
}

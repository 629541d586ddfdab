import { onnx } from 'onnx-proto';
import { OnnxGraphBuilder, type StaticQuantisation } from './onnx-graph';
import type { KerasLayer, SourceModel, Weight } from './source-model';

/**
 * Converts a Keras-format TF.js layers model (as nsfwjs ships it) into ONNX: optionally truncated
 * after named layers, with an optional descriptor head (global pooling, concatenation, per-block L2,
 * centring + projection) appended. Input is NHWC float32 [N, H, W, 3] in [0, 1]; the graph
 * transposes to NCHW itself, so callers feed exactly what nsfwjs feeds TF.js.
 */

export type Pooling = { kind: 'avg' } | { kind: 'max' } | { kind: 'gem'; p: number };

export interface PooledBlock {
  layer: string;
  pooling: Pooling;
}

/**
 * y = (x - mean) · componentsᵀ, components row-major [outDim, inDim] with any whitening folded into
 * the rows; without components it is centring only.
 */
export interface Projection {
  mean: ArrayLike<number>;
  components?: ArrayLike<number>;
  outDim: number;
}

export interface DescriptorHead {
  /** Pooled layer outputs, concatenated in this order. */
  blocks: PooledBlock[];
  /** L2-normalise each pooled block before concatenation, so no block dominates by scale. */
  l2PerBlock: boolean;
  projection?: Projection;
  /** L2-normalise the final embedding inside the graph. */
  l2Output: boolean;
}

export interface ConversionRequest {
  /** Keras layer outputs to expose unchanged, NCHW. */
  rawOutputs?: string[];
  /** Pooled layer outputs to expose, each [N, C], named by pooledOutputName(). */
  pooledOutputs?: PooledBlock[];
  /** Descriptor head; exposes its pooled blocks, `features` (before projection) and `embedding`. */
  head?: DescriptorHead;
  /**
   * Static int8 quantisation of the network (QDQ form, layers/model/quantise.ts calibrates the ranges);
   * pooling and the head stay float, reading the dequantised feature maps.
   */
  quantisation?: StaticQuantisation;
  /**
   * Also expose the minimum and maximum (calibrationOutputName) of every activation tensor a
   * quantisation needs a range for; the tensors are listed in `calibrationTensors`.
   */
  calibrationOutputs?: boolean;
  /** Name of the NHWC graph input; default `input`. */
  inputName?: string;
  /**
   * Take the image as raw RGB bytes (uint8, NHWC) and normalise inside the graph, as
   * (pixel / 255 - mean) / std per channel: the embedder hands sharp's buffer to onnxruntime as it
   * is, with no float tensor to fill. Default: float input, already normalised.
   */
  uint8Input?: { mean: readonly [number, number, number]; std: readonly [number, number, number] };
  docString?: string;
}

export const EMBEDDING_OUTPUT = 'embedding';
export const FEATURES_OUTPUT = 'features';
export const PROJECTION_NEG_MEAN = 'projection/neg_mean';
export const PROJECTION_MATRIX = 'projection/matrix';
const GEM_CLAMP = 1e-6;
const L2_EPSILON = 1e-12;

/** The graph output holding a calibrated tensor's minimum or maximum over one batch. */
export function calibrationOutputName(tensor: string, extreme: 'min' | 'max'): string {
  return `calibration/${tensor}/${extreme}`;
}

export function poolingTag(pooling: Pooling): string {
  return pooling.kind === 'gem' ? `gem${pooling.p}` : pooling.kind;
}

export function pooledOutputName(block: PooledBlock): string {
  return `pooled/${block.layer}/${poolingTag(block.pooling)}`;
}

export interface ConversionResult {
  bytes: Uint8Array;
  outputs: { name: string; shape: (number | string)[] }[];
  /** Length of `features` and `embedding` when a head was requested. */
  featureDim?: number;
  embeddingDim?: number;
  /** With `calibrationOutputs`: the activation tensors to calibrate, each also a graph output. */
  calibrationTensors?: string[];
}

type Shape = number[];

interface LayerConfig {
  padding?: unknown;
  strides?: [number, number] | null;
  kernel_size?: [number, number];
  pool_size?: [number, number];
  dilation_rate?: [number, number];
  activation?: string;
  use_bias?: boolean;
  depth_multiplier?: number;
  axis?: number | number[];
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  max_value?: number | null;
  negative_slope?: number;
  threshold?: number;
  data_format?: string;
}

export function convertToOnnx(source: SourceModel, request: ConversionRequest): ConversionResult {
  const layerByName = new Map(source.layers.map((layer) => [layer.name, layer]));
  const requestedLayers = [
    ...(request.rawOutputs ?? []),
    ...(request.pooledOutputs ?? []).map((b) => b.layer),
    ...(request.head?.blocks ?? []).map((b) => b.layer),
  ];
  if (requestedLayers.length === 0) throw new Error('nothing to convert: request at least one output');
  for (const name of requestedLayers) {
    if (!layerByName.has(name)) throw new Error(`${source.name} has no layer ${name}`);
  }

  // Only layers some requested output depends on are converted: this is the truncation.
  const needed = new Set<string>();
  const pending = [...requestedLayers];
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (needed.has(name)) continue;
    needed.add(name);
    for (const inbound of layerByName.get(name)?.inputs ?? []) pending.push(inbound.layer);
  }
  const consumers = new Map<string, string[]>();
  for (const layer of source.layers) {
    if (!needed.has(layer.name)) continue;
    for (const inbound of layer.inputs) {
      if (inbound.nodeIndex !== 0 || inbound.tensorIndex !== 0)
        throw new Error(`${layer.name}: multi-output inbound`);
      consumers.set(inbound.layer, [...(consumers.get(inbound.layer) ?? []), layer.name]);
    }
  }
  const exposed = new Set(requestedLayers);
  // A layer can be folded into its single consumer only if nobody else needs its own output.
  const soleConsumer = (name: string): KerasLayer | undefined => {
    const list = consumers.get(name) ?? [];
    return list.length === 1 && !exposed.has(name) ? layerByName.get(list[0] as string) : undefined;
  };

  const graph = new OnnxGraphBuilder();
  const tensorOf = new Map<string, string>();
  const shapeOf = new Map<string, Shape>();
  const deferredPads = new Map<string, { source: string; pads: [number, number, number, number] }>();
  const inputName = request.inputName ?? 'input';
  const size = source.inputSize;

  const inputTensor = (layer: KerasLayer, index = 0): string => {
    const inbound = layer.inputs[index];
    const tensor = inbound && tensorOf.get(inbound.layer);
    if (!tensor) throw new Error(`${layer.name}: input ${index} not converted`);
    return tensor;
  };
  const inputShape = (layer: KerasLayer, index = 0): Shape => {
    const inbound = layer.inputs[index];
    const shape = inbound && shapeOf.get(inbound.layer);
    if (!shape) throw new Error(`${layer.name}: input ${index} has no shape`);
    return shape;
  };
  const weight = (name: string): Weight => {
    const found = source.weights.get(name);
    if (!found) throw new Error(`missing weight ${name}`);
    return found;
  };
  /** The float, normalised NHWC input: the graph input itself, or its uint8 bytes cast and normalised. */
  const normalisedInput = (): string => {
    const bytesIn = request.uint8Input;
    if (!bytesIn) return inputName;
    let tensor = graph.node('Cast', [inputName], 'input/float', { to: onnx.TensorProto.DataType.FLOAT });
    // Division, not a multiplication by 1/255: the same float32 values as the embedder's float path.
    tensor = graph.node('Div', [tensor, graph.scalar(255)], 'input/unit');
    if (bytesIn.mean.some((m) => m !== 0))
      tensor = graph.node('Sub', [tensor, graph.constant('input/mean', [3], bytesIn.mean)], 'input/centred');
    if (bytesIn.std.some((d) => d !== 1))
      tensor = graph.node('Div', [tensor, graph.constant('input/std', [3], bytesIn.std)], 'input/normalised');
    return tensor;
  };
  const define = (layer: KerasLayer, tensor: string, shape: Shape) => {
    tensorOf.set(layer.name, tensor);
    shapeOf.set(layer.name, shape);
  };

  for (const layer of source.layers) {
    if (!needed.has(layer.name) || tensorOf.has(layer.name)) continue;
    const config = layer.config as LayerConfig;
    if (config.data_format !== undefined && config.data_format !== 'channels_last') {
      throw new Error(`${layer.name}: only channels_last is supported`);
    }
    switch (layer.className) {
      case 'InputLayer': {
        if (layer.name !== source.inputLayer) throw new Error(`unexpected input layer ${layer.name}`);
        define(layer, graph.node('Transpose', [normalisedInput()], layer.name, { perm: [0, 3, 1, 2] }), [
          3,
          size,
          size,
        ]);
        break;
      }
      case 'ZeroPadding2D': {
        const [[top, bottom], [left, right]] = config.padding as [[number, number], [number, number]];
        const consumer = soleConsumer(layer.name);
        const [c, h, w] = inputShape(layer) as [number, number, number];
        const shape = [c, h + top + bottom, w + left + right];
        if (consumer && (consumer.className === 'Conv2D' || consumer.className === 'DepthwiseConv2D')) {
          // Folded into the convolution's own pads: one node fewer, same arithmetic.
          deferredPads.set(layer.name, { source: inputTensor(layer), pads: [top, left, bottom, right] });
          shapeOf.set(layer.name, shape);
        } else {
          const pads = graph.integerConstant(`${layer.name}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
          define(layer, graph.node('Pad', [inputTensor(layer), pads], layer.name), shape);
        }
        break;
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        convertConvolution(layer, config);
        break;
      }
      case 'BatchNormalization': {
        // Reached only when it could not be folded into the preceding convolution.
        const [c] = inputShape(layer) as [number];
        const { scale, shift } = batchNormAffine(layer, config, c);
        const scaled = graph.node(
          'Mul',
          [inputTensor(layer), graph.constant(`${layer.name}/scale`, [c, 1, 1], scale)],
          `${layer.name}/scaled`,
        );
        define(
          layer,
          graph.node('Add', [scaled, graph.constant(`${layer.name}/shift`, [c, 1, 1], shift)], layer.name),
          inputShape(layer),
        );
        break;
      }
      case 'ReLU': {
        if ((config.negative_slope ?? 0) !== 0 || (config.threshold ?? 0) !== 0) {
          throw new Error(`${layer.name}: leaky or thresholded ReLU not supported`);
        }
        const max = config.max_value ?? null;
        const output =
          max === null
            ? graph.node('Relu', [inputTensor(layer)], layer.name)
            : graph.node('Clip', [inputTensor(layer), graph.scalar(0), graph.scalar(max)], layer.name);
        define(layer, output, inputShape(layer));
        break;
      }
      case 'Activation': {
        define(
          layer,
          activation(inputTensor(layer), config.activation ?? 'linear', layer.name),
          inputShape(layer),
        );
        break;
      }
      case 'Add': {
        const inputs = layer.inputs.map((_, i) => inputTensor(layer, i));
        define(layer, graph.node(inputs.length === 2 ? 'Add' : 'Sum', inputs, layer.name), inputShape(layer));
        break;
      }
      case 'Concatenate': {
        const first = inputShape(layer);
        const axis = config.axis as number;
        if (axis !== -1 && axis !== first.length)
          throw new Error(`${layer.name}: only channel concatenation`);
        const shapes = layer.inputs.map((_, i) => inputShape(layer, i));
        const channels = shapes.reduce((sum, s) => sum + (s[0] as number), 0);
        const inputs = layer.inputs.map((_, i) => inputTensor(layer, i));
        define(layer, graph.node('Concat', inputs, layer.name, { axis: 1 }), [channels, ...first.slice(1)]);
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const kernel = config.pool_size as [number, number];
        const strides = config.strides ?? kernel;
        const [c, h, w] = inputShape(layer) as [number, number, number];
        const geometry = windowGeometry([h, w], kernel, strides, [1, 1], config.padding as string);
        const attributes: Record<string, number[] | number> = {
          kernel_shape: kernel,
          strides,
          pads: geometry.pads,
        };
        // TF averages over the valid pixels only when padding is 'same'.
        if (layer.className === 'AveragePooling2D') attributes.count_include_pad = 0;
        const op = layer.className === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool';
        define(layer, graph.node(op, [inputTensor(layer)], layer.name, attributes), [c, ...geometry.output]);
        break;
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        const op = layer.className === 'GlobalMaxPooling2D' ? 'GlobalMaxPool' : 'GlobalAveragePool';
        const pooled = graph.node(op, [inputTensor(layer)], `${layer.name}/pooled`);
        define(layer, graph.node('Flatten', [pooled], layer.name, { axis: 1 }), [
          inputShape(layer)[0] as number,
        ]);
        break;
      }
      case 'Flatten': {
        const shape = inputShape(layer);
        let tensor = inputTensor(layer);
        // Keras flattens in HWC order; only a 1x1 map has the same order in NCHW.
        if (shape.length === 3 && (shape[1] !== 1 || shape[2] !== 1)) {
          tensor = graph.node('Transpose', [tensor], `${layer.name}/nhwc`, { perm: [0, 2, 3, 1] });
        }
        define(layer, graph.node('Flatten', [tensor], layer.name, { axis: 1 }), [
          shape.reduce((a, b) => a * b, 1),
        ]);
        break;
      }
      case 'Dense': {
        const kernel = weight(`${layer.name}/kernel`);
        const [inDim, outDim] = kernel.shape as [number, number];
        let output = graph.node(
          'MatMul',
          [inputTensor(layer), graph.constant(`${layer.name}/kernel`, [inDim, outDim], kernel.values)],
          `${layer.name}/matmul`,
        );
        if (config.use_bias !== false) {
          const bias = weight(`${layer.name}/bias`);
          output = graph.node(
            'Add',
            [output, graph.constant(`${layer.name}/bias`, [outDim], bias.values)],
            `${layer.name}/biased`,
          );
        }
        define(layer, activation(output, config.activation ?? 'linear', layer.name), [outDim]);
        break;
      }
      case 'Dropout': {
        define(layer, inputTensor(layer), inputShape(layer));
        break;
      }
      default:
        throw new Error(`${layer.name}: layer type ${layer.className} not supported`);
    }
  }

  function activation(input: string, kind: string, output: string): string {
    switch (kind) {
      case 'linear':
        return graph.node('Identity', [input], output);
      case 'relu':
        return graph.node('Relu', [input], output);
      case 'sigmoid':
        return graph.node('Sigmoid', [input], output);
      case 'tanh':
        return graph.node('Tanh', [input], output);
      case 'softmax':
        return graph.node('Softmax', [input], output, { axis: -1 });
      default:
        throw new Error(`activation ${kind} not supported`);
    }
  }

  function convertConvolution(layer: KerasLayer, config: LayerConfig): void {
    const depthwise = layer.className === 'DepthwiseConv2D';
    const kernel = weight(`${layer.name}/${depthwise ? 'depthwise_kernel' : 'kernel'}`);
    const [kh, kw, inChannels, last] = kernel.shape as [number, number, number, number];
    const outChannels = depthwise ? inChannels * last : last;
    const strides = config.strides ?? [1, 1];
    const dilations = config.dilation_rate ?? [1, 1];

    const padding = deferredPads.get(layer.inputs[0]?.layer ?? '');
    const input = padding ? padding.source : inputTensor(layer);
    const pads: [number, number, number, number] = padding ? [...padding.pads] : [0, 0, 0, 0];
    const [, h, w] = inputShape(layer) as [number, number, number];
    const geometry = windowGeometry([h, w], [kh, kw], strides, dilations, config.padding as string);
    for (let i = 0; i < 4; i++) pads[i] = (pads[i] as number) + (geometry.pads[i] as number);

    // [kh,kw,in,out] -> [out,in,kh,kw]; depthwise [kh,kw,in,m] -> [in*m,1,kh,kw], channel c*m+j.
    const perOutput = (depthwise ? 1 : inChannels) * kh * kw;
    const values = new Float64Array(outChannels * perOutput);
    for (let y = 0; y < kh; y++) {
      for (let x = 0; x < kw; x++) {
        for (let i = 0; i < inChannels; i++) {
          for (let j = 0; j < last; j++) {
            const from = ((y * kw + x) * inChannels + i) * last + j;
            const to = depthwise
              ? ((i * last + j) * kh + y) * kw + x
              : ((j * inChannels + i) * kh + y) * kw + x;
            values[to] = kernel.values[from] as number;
          }
        }
      }
    }
    const bias = new Float64Array(outChannels);
    if (config.use_bias !== false) bias.set(weight(`${layer.name}/bias`).values);

    // Fold a following BatchNormalization into the kernel and bias (in float64, rounded once).
    let outputLayer = layer;
    const next = soleConsumer(layer.name);
    if (next?.className === 'BatchNormalization' && (config.activation ?? 'linear') === 'linear') {
      const { scale, shift } = batchNormAffine(next, next.config as LayerConfig, outChannels);
      for (let o = 0; o < outChannels; o++) {
        const s = scale[o] as number;
        for (let k = 0; k < perOutput; k++)
          values[o * perOutput + k] = (values[o * perOutput + k] as number) * s;
        bias[o] = (bias[o] as number) * s + (shift[o] as number);
      }
      outputLayer = next;
    }
    const convOutput =
      config.activation && config.activation !== 'linear' ? `${layer.name}/linear` : outputLayer.name;
    let output = graph.node(
      'Conv',
      [
        input,
        graph.constant(`${layer.name}/weight`, [outChannels, depthwise ? 1 : inChannels, kh, kw], values),
        graph.constant(`${layer.name}/bias`, [outChannels], bias),
      ],
      convOutput,
      {
        kernel_shape: [kh, kw],
        strides,
        dilations,
        pads,
        group: depthwise ? inChannels : 1,
      },
    );
    if (convOutput !== outputLayer.name)
      output = activation(output, config.activation as string, outputLayer.name);
    const shape = [outChannels, ...geometry.output];
    define(layer, output, shape);
    if (outputLayer !== layer) define(outputLayer, output, shape);
  }

  const outputs: { name: string; shape: (number | string)[] }[] = [];
  const outputNames = new Set<string>();
  const addOutput = (name: string, shape: Shape) => {
    if (outputNames.has(name)) return;
    outputNames.add(name);
    outputs.push({ name, shape: ['N', ...shape] });
  };
  for (const name of request.rawOutputs ?? []) {
    // An output must be a distinct tensor named after the layer, even if the layer was an alias.
    const tensor = tensorOf.get(name) as string;
    if (tensor !== name) graph.node('Identity', [tensor], name);
    addOutput(name, shapeOf.get(name) as Shape);
  }

  const pool = (block: PooledBlock): { name: string; channels: number } => {
    const name = pooledOutputName(block);
    const channels = shapeOf.get(block.layer)?.[0];
    const tensor = tensorOf.get(block.layer);
    if (channels === undefined || tensor === undefined || shapeOf.get(block.layer)?.length !== 3) {
      throw new Error(`${block.layer} is not a feature map and cannot be pooled`);
    }
    if (outputNames.has(name)) return { name, channels };
    let pooled: string;
    if (block.pooling.kind === 'avg') {
      pooled = graph.node('GlobalAveragePool', [tensor], `${name}/map`);
    } else if (block.pooling.kind === 'max') {
      pooled = graph.node('GlobalMaxPool', [tensor], `${name}/map`);
    } else {
      // GeM: (mean(max(x, eps)^p))^(1/p); the clamp keeps fractional powers of signed features defined.
      const p = block.pooling.p;
      const clamped = graph.node('Max', [tensor, graph.scalar(GEM_CLAMP)], `${name}/clamped`);
      const powered = graph.node('Pow', [clamped, graph.scalar(p)], `${name}/powered`);
      const mean = graph.node('GlobalAveragePool', [powered], `${name}/mean`);
      pooled = graph.node('Pow', [mean, graph.scalar(1 / p)], `${name}/map`);
    }
    graph.node('Flatten', [pooled], name, { axis: 1 });
    addOutput(name, [channels]);
    return { name, channels };
  };
  for (const block of request.pooledOutputs ?? []) pool(block);

  const l2Normalise = (input: string, name: string): string => {
    const norm = graph.node('ReduceL2', [input], `${name}/norm`, { axes: [1], keepdims: 1 });
    const safe = graph.node('Max', [norm, graph.scalar(L2_EPSILON)], `${name}/safe_norm`);
    return graph.node('Div', [input, safe], name);
  };

  let featureDim: number | undefined;
  let embeddingDim: number | undefined;
  const head = request.head;
  if (head) {
    if (head.blocks.length === 0) throw new Error('a descriptor head needs at least one block');
    const parts = head.blocks.map((block) => {
      const pooled = pool(block);
      return {
        ...pooled,
        tensor: head.l2PerBlock ? l2Normalise(pooled.name, `${pooled.name}/l2`) : pooled.name,
      };
    });
    featureDim = parts.reduce((sum, part) => sum + part.channels, 0);
    let current =
      parts.length === 1 && !head.projection && !head.l2Output
        ? graph.node('Identity', [(parts[0] as { tensor: string }).tensor], FEATURES_OUTPUT)
        : graph.node(
            'Concat',
            parts.map((p) => p.tensor),
            FEATURES_OUTPUT,
            { axis: 1 },
          );
    addOutput(FEATURES_OUTPUT, [featureDim]);
    embeddingDim = featureDim;
    if (head.projection) {
      const { mean, components, outDim } = head.projection;
      const expected = components ? outDim * featureDim : 0;
      if (
        mean.length !== featureDim ||
        (components?.length ?? 0) !== expected ||
        (!components && outDim !== featureDim)
      ) {
        throw new Error(`projection does not fit ${featureDim}-d features`);
      }
      const negatedMean = Array.from(mean, (m) => -m);
      const centredName = components || head.l2Output ? 'projection/centred' : EMBEDDING_OUTPUT;
      current = graph.node(
        'Add',
        [current, graph.constant(PROJECTION_NEG_MEAN, [featureDim], negatedMean)],
        centredName,
      );
      if (components) {
        // Stored transposed ([in, out]) so MatMul needs no Transpose node.
        const matrix = new Float64Array(featureDim * outDim);
        for (let k = 0; k < outDim; k++) {
          for (let d = 0; d < featureDim; d++)
            matrix[d * outDim + k] = components[k * featureDim + d] as number;
        }
        current = graph.node(
          'MatMul',
          [current, graph.constant(PROJECTION_MATRIX, [featureDim, outDim], matrix)],
          head.l2Output ? 'projection/projected' : EMBEDDING_OUTPUT,
        );
      }
      embeddingDim = outDim;
    }
    if (head.l2Output) l2Normalise(current, EMBEDDING_OUTPUT);
    else if (!head.projection) graph.node('Identity', [current], EMBEDDING_OUTPUT);
    addOutput(EMBEDDING_OUTPUT, [embeddingDim]);
  }

  if (request.quantisation && request.calibrationOutputs)
    throw new Error('calibration outputs belong to the float graph');
  const calibrationTensors = request.calibrationOutputs ? graph.quantisableTensors() : undefined;
  // Each tensor's extremes are reduced inside the graph: fetching the feature maps themselves would
  // copy tens of megabytes per image out of onnxruntime.
  const calibrationOutputs = (calibrationTensors ?? []).flatMap((tensor) =>
    (['min', 'max'] as const).map((extreme) => ({
      name: graph.node(
        extreme === 'min' ? 'ReduceMin' : 'ReduceMax',
        [tensor],
        calibrationOutputName(tensor, extreme),
        {
          keepdims: 0,
        },
      ),
      shape: [],
    })),
  );
  if (request.quantisation) graph.quantise(request.quantisation);
  const bytes = graph.encode(
    { name: inputName, shape: ['N', size, size, 3], elemType: request.uint8Input ? 'uint8' : 'float32' },
    [...outputs, ...calibrationOutputs],
    request.docString ?? `${source.name} from nsfwjs ${source.packageVersion}`,
  );
  return { bytes, outputs, featureDim, embeddingDim, calibrationTensors };

  function batchNormAffine(bn: KerasLayer, bnConfig: LayerConfig, channels: number) {
    const axis = bnConfig.axis;
    if (axis !== -1 && axis !== 3) throw new Error(`${bn.name}: only channel-axis batch normalisation`);
    const epsilon = bnConfig.epsilon ?? 1e-3;
    const mean = weight(`${bn.name}/moving_mean`).values;
    const variance = weight(`${bn.name}/moving_variance`).values;
    const gamma = bnConfig.scale !== false ? weight(`${bn.name}/gamma`).values : undefined;
    const beta = bnConfig.center !== false ? weight(`${bn.name}/beta`).values : undefined;
    const scale = new Float64Array(channels);
    const shift = new Float64Array(channels);
    for (let c = 0; c < channels; c++) {
      const s = (gamma ? (gamma[c] as number) : 1) / Math.sqrt((variance[c] as number) + epsilon);
      scale[c] = s;
      shift[c] = (beta ? (beta[c] as number) : 0) - (mean[c] as number) * s;
    }
    return { scale, shift };
  }
}

/** Output size and explicit [top, left, bottom, right] pads, computed the way TensorFlow does. */
export function windowGeometry(
  input: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
  padding: string,
): { output: [number, number]; pads: [number, number, number, number] } {
  const output: number[] = [];
  const before: number[] = [];
  const after: number[] = [];
  for (let i = 0; i < 2; i++) {
    const size = input[i] as number;
    const stride = strides[i] as number;
    const extent = ((kernel[i] as number) - 1) * (dilations[i] as number) + 1;
    if (padding === 'same') {
      const out = Math.ceil(size / stride);
      const total = Math.max((out - 1) * stride + extent - size, 0);
      // TF puts the odd pixel at the end (SAME_UPPER).
      output.push(out);
      before.push(Math.floor(total / 2));
      after.push(total - Math.floor(total / 2));
    } else if (padding === 'valid') {
      output.push(Math.floor((size - extent) / stride) + 1);
      before.push(0);
      after.push(0);
    } else {
      throw new Error(`padding ${padding} not supported`);
    }
  }
  return {
    output: output as [number, number],
    pads: [before[0], before[1], after[0], after[1]] as [number, number, number, number],
  };
}

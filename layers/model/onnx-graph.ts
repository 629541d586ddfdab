import { onnx } from 'onnx-proto';

/** ONNX opset the converter targets: Clip takes min/max as inputs (>= 11), ReduceL2 takes axes as an attribute (< 18). */
export const OPSET = 13;

type AttributeValue = number | number[] | string;

/** Integer type of quantised activations: uint8 (asymmetric, onnxruntime's U8S8 kernels) or int8 (S8S8). */
export type ActivationType = 'uint8' | 'int8';

/** Observed range of one activation tensor over the calibration images. */
export interface ValueRange {
  min: number;
  max: number;
}

/**
 * Static int8 quantisation in QDQ form: weights int8, symmetric, one scale per output channel;
 * activations per tensor with the calibrated ranges; biases int32 at input scale x weight scale.
 */
export interface StaticQuantisation {
  ranges: ReadonlyMap<string, ValueRange>;
  activationType: ActivationType;
  /**
   * Convolutions (by Keras layer name) left in float32: they read dequantised inputs, and float
   * consumers of their outputs (pooling) read the float values; only integer consumers see them
   * quantised. Default: none.
   */
  floatConvs?: ReadonlySet<string>;
}

const QUANTISED_OPS = new Set(['Conv', 'Add']);
const { DataType } = onnx.TensorProto;

/**
 * Accumulates nodes and initializers in insertion order, so the serialized model depends only on the
 * order of the calls that built it.
 */
export class OnnxGraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly initializerNames = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private readonly scalarValues = new Map<string, number>();

  node(
    opType: string,
    inputs: string[],
    output: string,
    attributes: Record<string, AttributeValue> = {},
  ): string {
    this.nodes.push(this.createNode(opType, inputs, output, attributes));
    return output;
  }

  private createNode(
    opType: string,
    inputs: string[],
    output: string,
    attributes: Record<string, AttributeValue> = {},
  ): onnx.INodeProto {
    let name = output;
    for (let suffix = 1; this.nodeNames.has(name); suffix++) name = `${output}#${suffix}`;
    this.nodeNames.add(name);
    return onnx.NodeProto.create({
      name,
      opType,
      input: inputs,
      output: [output],
      attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
    });
  }

  /** Adds a float32 constant; values are rounded to float32 here. */
  constant(name: string, dims: number[], values: ArrayLike<number>): string {
    if (this.initializerNames.has(name)) throw new Error(`duplicate initializer ${name}`);
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== values.length)
      throw new Error(`initializer ${name}: ${values.length} values for dims ${dims}`);
    // Little-endian regardless of the host, as the ONNX spec requires for raw_data.
    const bytes = new Uint8Array(count * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < count; i++) view.setFloat32(i * 4, values[i] as number, true);
    if (dims.length === 0) this.scalarValues.set(name, Math.fround(values[0] as number));
    return this.rawConstant(name, dims, DataType.FLOAT, bytes);
  }

  private rawConstant(name: string, dims: number[], dataType: number, rawData: Uint8Array): string {
    if (this.initializerNames.has(name)) throw new Error(`duplicate initializer ${name}`);
    this.initializerNames.add(name);
    this.initializers.push(onnx.TensorProto.create({ name, dims, dataType, rawData }));
    return name;
  }

  /** Adds an int8, uint8 or int32 constant; values must already be integers in the type's range. */
  private integerTensor(
    name: string,
    dims: number[],
    type: 'int8' | 'uint8' | 'int32',
    values: ArrayLike<number>,
  ) {
    const width = type === 'int32' ? 4 : 1;
    const bytes = new Uint8Array(values.length * width);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < values.length; i++) {
      const value = values[i] as number;
      if (type === 'int32') view.setInt32(i * 4, value, true);
      else if (type === 'int8') view.setInt8(i, value);
      else view.setUint8(i, value);
    }
    const dataType = type === 'int32' ? DataType.INT32 : type === 'int8' ? DataType.INT8 : DataType.UINT8;
    return this.rawConstant(name, dims, dataType, bytes);
  }

  private floatInitializer(name: string): { dims: number[]; values: Float32Array } {
    const tensor = this.initializers.find((t) => t.name === name);
    if (!tensor?.rawData || tensor.dataType !== DataType.FLOAT)
      throw new Error(`no float initializer ${name}`);
    return { dims: (tensor.dims ?? []).map(Number), values: decodeFloats(tensor.rawData) };
  }

  /**
   * Activation tensors a static quantisation quantises, in graph order: every activation input of a
   * Conv or of an Add of two activations, and every such node's output, taken after a Relu or Clip
   * that is its only consumer (onnxruntime folds the activation into the quantiser's range).
   */
  quantisableTensors(floatConvs: ReadonlySet<string> = new Set()): string[] {
    const consumers = this.consumersByTensor();
    const tensors: string[] = [];
    const seen = new Set<string>();
    const mark = (tensor: string) => {
      if (!seen.has(tensor)) tensors.push(tensor);
      seen.add(tensor);
    };
    for (const node of this.nodes) {
      if (!this.isQuantisedOp(node, floatConvs)) continue;
      for (const input of node.input ?? []) if (!this.initializerNames.has(input)) mark(input);
      mark(this.activationOutput(node, consumers));
    }
    return tensors;
  }

  /** Rewrites the graph built so far into QDQ form; a later node() call stays float. */
  quantise(quantisation: StaticQuantisation): void {
    const floatConvs = quantisation.floatConvs ?? new Set<string>();
    for (const layer of floatConvs) {
      if (!this.initializerNames.has(`${layer}/weight`))
        throw new Error(`no convolution ${layer} to keep float`);
    }
    const quantised = new Set(this.quantisableTensors(floatConvs));
    // Tensors an integer kernel produces: every consumer reads them dequantised, so the kernel fuses.
    const consumers = this.consumersByTensor();
    const integerOutputs = new Set(
      this.nodes
        .filter((node) => this.isQuantisedOp(node, floatConvs))
        .map((node) => this.activationOutput(node, consumers)),
    );
    const clipBounds = new Map<string, ValueRange>();
    for (const node of this.nodes) {
      const output = node.output?.[0] as string;
      if (node.opType === 'Relu') clipBounds.set(output, { min: 0, max: Number.POSITIVE_INFINITY });
      if (node.opType === 'Clip') {
        const [, low, high] = node.input ?? [];
        clipBounds.set(output, {
          min: this.scalarValues.get(low ?? '') ?? Number.NEGATIVE_INFINITY,
          max: this.scalarValues.get(high ?? '') ?? Number.POSITIVE_INFINITY,
        });
      }
    }
    const parameters = new Map<string, { scale: number; zeroPoint: number }>();
    for (const tensor of quantised) {
      const range = quantisation.ranges.get(tensor);
      if (!range) throw new Error(`no calibrated range for ${tensor}`);
      const params = activationParameters(range, clipBounds.get(tensor), quantisation.activationType);
      parameters.set(tensor, params);
      this.constant(`${tensor}/scale`, [], [params.scale]);
      this.integerTensor(`${tensor}/zero_point`, [], quantisation.activationType, [params.zeroPoint]);
    }

    const rewritten: onnx.INodeProto[] = [];
    const dequantisedCount = new Map<string, number>();
    const quantiseOutput = (tensor: string) => {
      if (!quantised.has(tensor)) return;
      rewritten.push(
        this.createNode(
          'QuantizeLinear',
          [tensor, `${tensor}/scale`, `${tensor}/zero_point`],
          `${tensor}/quantised`,
        ),
      );
    };
    // The graph input is never quantised directly (a Transpose always comes first).
    for (const node of this.nodes) {
      const inputs = [...(node.input ?? [])];
      const integerNode = this.isQuantisedOp(node, floatConvs);
      for (const [index, input] of inputs.entries()) {
        if (!quantised.has(input)) continue;
        if (!integerNode && !integerOutputs.has(input)) continue;
        // One DequantizeLinear per consumer, the shape onnxruntime's QDQ fusion matches.
        const count = dequantisedCount.get(input) ?? 0;
        dequantisedCount.set(input, count + 1);
        const name = `${input}/dequantised${count === 0 ? '' : `#${count}`}`;
        rewritten.push(
          this.createNode(
            'DequantizeLinear',
            [`${input}/quantised`, `${input}/scale`, `${input}/zero_point`],
            name,
          ),
        );
        inputs[index] = name;
      }
      if (node.opType === 'Conv' && integerNode) {
        const [input, weight, bias] = node.input ?? [];
        const inputScale = parameters.get(input ?? '')?.scale;
        if (inputScale === undefined || !weight) throw new Error(`${node.name}: unquantised input`);
        const weightScales = this.quantiseWeight(weight);
        rewritten.push(
          this.createNode(
            'DequantizeLinear',
            [`${weight}/quantised`, `${weight}/scale`, `${weight}/zero_point`],
            weight,
            { axis: 0 },
          ),
        );
        if (bias) {
          this.quantiseBias(bias, inputScale, weightScales);
          rewritten.push(
            this.createNode('DequantizeLinear', [`${bias}/quantised`, `${bias}/scale`], bias, { axis: 0 }),
          );
        }
      }
      rewritten.push({ ...node, input: inputs });
      quantiseOutput(node.output?.[0] as string);
    }
    this.nodes.splice(0, this.nodes.length, ...rewritten);
  }

  /** Replaces a float [out, ...] weight by int8 values, symmetric, one scale per output channel. */
  private quantiseWeight(name: string): Float32Array {
    const { dims, values } = this.floatInitializer(name);
    const channels = dims[0] as number;
    const perChannel = values.length / channels;
    const scales = new Float32Array(channels);
    const integers = new Int8Array(values.length);
    for (let c = 0; c < channels; c++) {
      let largest = 0;
      for (let k = 0; k < perChannel; k++)
        largest = Math.max(largest, Math.abs(values[c * perChannel + k] as number));
      // An all-zero channel keeps scale 1 (any positive scale reproduces zeros).
      const scale = largest > 0 ? Math.fround(largest / 127) : 1;
      scales[c] = scale;
      for (let k = 0; k < perChannel; k++) {
        const q = Math.round((values[c * perChannel + k] as number) / scale);
        integers[c * perChannel + k] = Math.min(127, Math.max(-127, q));
      }
    }
    this.removeInitializer(name);
    this.integerTensor(`${name}/quantised`, dims, 'int8', integers);
    this.constant(`${name}/scale`, [channels], scales);
    this.integerTensor(`${name}/zero_point`, [channels], 'int8', new Int8Array(channels));
    return scales;
  }

  /** Replaces a float bias by int32 at scale (input scale x weight scale), as QLinearConv expects. */
  private quantiseBias(name: string, inputScale: number, weightScales: Float32Array): void {
    const { dims, values } = this.floatInitializer(name);
    const scales = new Float32Array(values.length);
    const integers = new Int32Array(values.length);
    for (let c = 0; c < values.length; c++) {
      const scale = Math.fround(inputScale * (weightScales[c] as number));
      scales[c] = scale;
      integers[c] = Math.min(2 ** 31 - 1, Math.max(-(2 ** 31), Math.round((values[c] as number) / scale)));
    }
    this.removeInitializer(name);
    this.integerTensor(`${name}/quantised`, dims, 'int32', integers);
    this.constant(`${name}/scale`, dims, scales);
  }

  private removeInitializer(name: string): void {
    const index = this.initializers.findIndex((t) => t.name === name);
    this.initializers.splice(index, 1);
    this.initializerNames.delete(name);
  }

  private isQuantisedOp(node: onnx.INodeProto, floatConvs: ReadonlySet<string>): boolean {
    if (!QUANTISED_OPS.has(node.opType ?? '')) return false;
    const activations = (node.input ?? []).filter((input) => !this.initializerNames.has(input));
    if (node.opType !== 'Conv') return activations.length === 2;
    const weight = node.input?.[1] ?? '';
    const layer = weight.endsWith('/weight') ? weight.slice(0, -'/weight'.length) : weight;
    return activations.length === 1 && !floatConvs.has(layer);
  }

  private activationOutput(node: onnx.INodeProto, consumers: Map<string, onnx.INodeProto[]>): string {
    const output = node.output?.[0] as string;
    const next = consumers.get(output) ?? [];
    const only = next[0];
    return next.length === 1 && only && (only.opType === 'Relu' || only.opType === 'Clip')
      ? (only.output?.[0] as string)
      : output;
  }

  private consumersByTensor(): Map<string, onnx.INodeProto[]> {
    const consumers = new Map<string, onnx.INodeProto[]>();
    for (const node of this.nodes) {
      for (const input of node.input ?? []) consumers.set(input, [...(consumers.get(input) ?? []), node]);
    }
    return consumers;
  }

  /** Adds an int64 constant (shapes, pads). */
  integerConstant(name: string, values: number[]): string {
    if (this.initializerNames.has(name)) throw new Error(`duplicate initializer ${name}`);
    const bytes = new Uint8Array(values.length * 8);
    const view = new DataView(bytes.buffer);
    for (const [i, value] of values.entries()) view.setBigInt64(i * 8, BigInt(value), true);
    this.initializerNames.add(name);
    this.initializers.push(
      onnx.TensorProto.create({
        name,
        dims: [values.length],
        dataType: onnx.TensorProto.DataType.INT64,
        rawData: bytes,
      }),
    );
    return name;
  }

  /** A scalar constant shared by every node that needs the same value. */
  scalar(value: number): string {
    const name = `const/${value}`;
    if (!this.initializerNames.has(name)) this.constant(name, [], [value]);
    return name;
  }

  encode(
    input: { name: string; shape: (number | string)[]; elemType?: 'float32' | 'uint8' },
    outputs: { name: string; shape?: (number | string)[] }[],
    docString: string,
  ): Uint8Array {
    const graph = onnx.GraphProto.create({
      name: 'lookalike',
      node: this.nodes,
      initializer: this.initializers,
      input: [
        valueInfo(input.name, input.shape, input.elemType === 'uint8' ? DataType.UINT8 : DataType.FLOAT),
      ],
      output: outputs.map((output) => valueInfo(output.name, output.shape)),
    });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: OPSET })],
      producerName: 'lookalike-model-build',
      producerVersion: '1',
      docString,
      graph,
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/**
 * Scale and zero point covering the range (widened to include 0, so zero is exact). After a Relu
 * or Clip the range is kept within the activation's bounds, so onnxruntime can drop the activation.
 */
export function activationParameters(
  range: ValueRange,
  bounds: ValueRange | undefined,
  type: ActivationType,
): { scale: number; zeroPoint: number } {
  const [qmin, qmax] = type === 'uint8' ? [0, 255] : [-128, 127];
  let low = Math.min(range.min, 0);
  let high = Math.max(range.max, 0);
  if (bounds) {
    low = Math.max(low, bounds.min);
    high = Math.min(high, bounds.max);
  }
  if (!(high > low)) return { scale: 1, zeroPoint: Math.min(qmax, Math.max(qmin, qmin - Math.round(low))) };
  let scale = Math.fround((high - low) / (qmax - qmin));
  const zeroPoint = Math.min(qmax, Math.max(qmin, Math.round(qmin - low / scale)));
  // onnxruntime compares the quantiser's float range with the Clip bounds to within one float epsilon.
  if (bounds) {
    const epsilon = 2 ** -23;
    while (
      Math.fround(scale * (qmax - zeroPoint)) > bounds.max + epsilon ||
      Math.fround(scale * (qmin - zeroPoint)) < bounds.min - epsilon
    ) {
      scale = previousFloat32(scale);
    }
  }
  return { scale, zeroPoint };
}

function previousFloat32(value: number): number {
  const bits = new Uint32Array(new Float32Array([value]).buffer);
  bits[0] = (bits[0] as number) - 1;
  return new Float32Array(bits.buffer)[0] as number;
}

function decodeFloats(raw: Uint8Array): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const values = new Float32Array(raw.byteLength / 4);
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(i * 4, true);
  return values;
}

function attribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === 'string') {
    return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  }
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if (Number.isInteger(value)) return { name, type: AttributeType.INT, i: value };
  return { name, type: AttributeType.FLOAT, f: value };
}

/** A tensor's value info (float unless said); without a shape for tensors exposed only to be read (calibration). */
function valueInfo(
  name: string,
  shape: (number | string)[] | undefined,
  elemType: number = DataType.FLOAT,
): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        ...(shape && {
          shape: { dim: shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
        }),
      },
    },
  };
}

/** Reads a float32 initializer back from serialized model bytes (for tests and tools). */
export function readInitializer(
  modelBytes: Uint8Array,
  name: string,
): { dims: number[]; values: Float32Array } {
  const model = onnx.ModelProto.decode(modelBytes);
  const tensor = model.graph?.initializer?.find((t) => t.name === name);
  if (!tensor?.rawData || tensor.dataType !== DataType.FLOAT) throw new Error(`no float initializer ${name}`);
  return { dims: (tensor.dims ?? []).map(Number), values: decodeFloats(tensor.rawData) };
}

/** Names of a serialized model's graph outputs, in order. */
export function graphOutputNames(modelBytes: Uint8Array): string[] {
  return (onnx.ModelProto.decode(modelBytes).graph?.output ?? []).map((o) => o.name ?? '');
}

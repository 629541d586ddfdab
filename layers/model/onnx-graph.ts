import { onnx } from 'onnx-proto';

/** ONNX opset the converter targets: Clip takes min/max as inputs (>= 11), ReduceL2 takes axes as an attribute (< 18). */
export const OPSET = 13;

type AttributeValue = number | number[] | string;

/**
 * Accumulates nodes and initializers in insertion order, so the serialized model depends only on the
 * order of the calls that built it.
 */
export class OnnxGraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly initializerNames = new Set<string>();
  private readonly nodeNames = new Set<string>();

  node(
    opType: string,
    inputs: string[],
    output: string,
    attributes: Record<string, AttributeValue> = {},
  ): string {
    let name = output;
    for (let suffix = 1; this.nodeNames.has(name); suffix++) name = `${output}#${suffix}`;
    this.nodeNames.add(name);
    this.nodes.push(
      onnx.NodeProto.create({
        name,
        opType,
        input: inputs,
        output: [output],
        attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
      }),
    );
    return output;
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
    this.initializerNames.add(name);
    this.initializers.push(
      onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes }),
    );
    return name;
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
    input: { name: string; shape: (number | string)[] },
    outputs: { name: string; shape: (number | string)[] }[],
    docString: string,
  ): Uint8Array {
    const graph = onnx.GraphProto.create({
      name: 'lookalike',
      node: this.nodes,
      initializer: this.initializers,
      input: [valueInfo(input.name, input.shape)],
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

function attribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === 'string') {
    return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  }
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if (Number.isInteger(value)) return { name, type: AttributeType.INT, i: value };
  return { name, type: AttributeType.FLOAT, f: value };
}

function valueInfo(name: string, shape: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
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
  if (!tensor?.rawData) throw new Error(`no float initializer ${name}`);
  const raw = tensor.rawData;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const values = new Float32Array(raw.byteLength / 4);
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(i * 4, true);
  return { dims: (tensor.dims ?? []).map(Number), values };
}

/** Names of a serialized model's graph outputs, in order. */
export function graphOutputNames(modelBytes: Uint8Array): string[] {
  return (onnx.ModelProto.decode(modelBytes).graph?.output ?? []).map((o) => o.name ?? '');
}

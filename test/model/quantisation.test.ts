import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { cosine } from '../../functions/domain/interest-profile';
import { convertToOnnx, type PooledBlock, pooledOutputName } from '../../layers/model/convert';
import { evaluationSet, fittingSet } from '../../layers/model/emoji-dataset';
import { createSession, runImage } from '../../layers/model/features';
import { activationParameters, type ValueRange } from '../../layers/model/onnx-graph';
import { imageToTensor } from '../../layers/model/preprocess';
import { activationRanges, calibrateActivations } from '../../layers/model/quantise';
import { loadSourceModel } from '../../layers/model/source-model';

// An int8 model is only worth shipping if it computes nearly what the float model computes, the
// same way on every build, and runs onnxruntime's integer kernels rather than float with extra steps.
const source = loadSourceModel('mobilenet_v2');
const blocks: PooledBlock[] = ['block_11_expand_relu', 'block_13_expand_relu'].map((layer) => ({
  layer,
  pooling: { kind: 'gem', p: 3 },
}));
const request = { pooledOutputs: blocks };
const CALIBRATION_IMAGES = 24;
const size = source.inputSize;

/** The node types onnxruntime actually runs: the graph after its optimisations (QDQ fusion included). */
async function optimisedOpTypes(model: Uint8Array): Promise<string[]> {
  const directory = mkdtempSync(join(tmpdir(), 'lookalike-int8-'));
  try {
    const optimisedPath = join(directory, 'optimised.onnx');
    const session = await ort.InferenceSession.create(model, {
      intraOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      optimizedModelFilePath: optimisedPath,
    });
    await session.release();
    return (onnx.ModelProto.decode(readFileSync(optimisedPath)).graph?.node ?? []).map(
      (node) => node.opType ?? '',
    );
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

describe('static int8 quantisation in the converter', () => {
  const calibration = fittingSet('google')
    .slice(0, CALIBRATION_IMAGES)
    .map((image) => image.path);
  let ranges: Map<string, ValueRange>;
  let quantised: Uint8Array;

  beforeAll(async () => {
    ranges = await calibrateActivations(source, request, calibration);
    quantised = convertToOnnx(source, {
      ...request,
      quantisation: { ranges, activationType: 'uint8' },
    }).bytes;
  }, 300_000);

  it('calibrates every quantised activation, the same way twice, with ReLU6 outputs within [0, 6]', async () => {
    const again = await calibrateActivations(source, request, calibration);
    expect([...again.entries()]).toEqual([...ranges.entries()]);
    const expandRelu = ranges.get('block_11_expand_relu') as ValueRange;
    expect(expandRelu.min).toBeGreaterThanOrEqual(0);
    expect(expandRelu.max).toBeGreaterThan(0);
    expect(expandRelu.max).toBeLessThanOrEqual(6);
  }, 300_000);

  it('writes the same bytes for the same ranges, with int8 per-channel weights and int32 biases', () => {
    const second = convertToOnnx(source, {
      ...request,
      quantisation: { ranges, activationType: 'uint8' },
    }).bytes;
    expect(Buffer.from(second).equals(Buffer.from(quantised))).toBe(true);

    const graph = onnx.ModelProto.decode(quantised).graph as onnx.IGraphProto;
    const initializer = (name: string) => graph.initializer?.find((tensor) => tensor.name === name);
    const { DataType } = onnx.TensorProto;
    expect(initializer('block_11_expand/weight/quantised')?.dataType).toBe(DataType.INT8);
    expect(initializer('block_11_expand/weight/scale')?.dims?.map(Number)).toEqual([576]);
    expect(initializer('block_11_expand/bias/quantised')?.dataType).toBe(DataType.INT32);
    expect(initializer('block_11_expand/weight')).toBeUndefined();
    const float = convertToOnnx(source, request).bytes;
    expect(quantised.length).toBeLessThan(float.length / 3);
  });

  it('runs as onnxruntime integer kernels: QLinearConv and QLinearAdd, no float Conv left', async () => {
    const opTypes = await optimisedOpTypes(quantised);
    expect(opTypes.filter((op) => op === 'QLinearConv').length).toBeGreaterThan(30);
    expect(opTypes).toContain('QLinearAdd');
    expect(opTypes).not.toContain('Conv');
    expect(opTypes).not.toContain('FusedConv');
  }, 120_000);

  it("gives pooled features close to the float graph's on unseen images (cosine > 0.99)", async () => {
    const floatSession = await createSession(convertToOnnx(source, request).bytes, 1);
    const int8Session = await createSession(quantised, 1);
    const names = blocks.map(pooledOutputName);
    const similarities: number[] = [];
    for (const image of evaluationSet('twitter').filter((_, i) => i % 115 === 0)) {
      const tensor = await imageToTensor(await readFile(image.path), size, size);
      const expected = await runImage(floatSession, tensor, size, names);
      const actual = await runImage(int8Session, tensor, size, names);
      for (const name of names) {
        similarities.push(cosine(expected.get(name) as Float32Array, actual.get(name) as Float32Array));
      }
    }
    await floatSession.release();
    await int8Session.release();
    expect(similarities.length).toBe(10);
    expect(Math.min(...similarities)).toBeGreaterThan(0.99);
  }, 120_000);

  it('keeps named convolutions float: float Conv kernels for them only, pooling reads their exact output', async () => {
    const floatConvs = new Set(['block_11_expand', 'block_13_expand']);
    const mixed = convertToOnnx(source, {
      ...request,
      quantisation: { ranges, activationType: 'uint8', floatConvs },
    }).bytes;
    const opTypes = await optimisedOpTypes(mixed);
    const integerConvs = opTypes.filter((op) => op === 'QLinearConv').length;
    expect(integerConvs).toBe(
      (await optimisedOpTypes(quantised)).filter((op) => op === 'QLinearConv').length - 2,
    );
    expect(opTypes.filter((op) => op === 'Conv' || op === 'FusedConv')).toHaveLength(2);

    const graph = onnx.ModelProto.decode(mixed).graph as onnx.IGraphProto;
    expect(graph.initializer?.find((tensor) => tensor.name === 'block_13_expand/weight')?.dataType).toBe(
      onnx.TensorProto.DataType.FLOAT,
    );
    // block_13_expand_relu feeds only GeM: no quantiser left on it; block_11's also feeds an integer conv.
    const quantisers = (graph.node ?? [])
      .filter((node) => node.opType === 'QuantizeLinear')
      .map((n) => n.input?.[0]);
    expect(quantisers).not.toContain('block_13_expand_relu');
    expect(quantisers).toContain('block_11_expand_relu');
    const gemInputs = (graph.node ?? []).filter(
      (node) => node.name === `${pooledOutputName(blocks[0] as PooledBlock)}/clamped`,
    );
    expect(gemInputs.map((node) => node.input?.[0])).toEqual(['block_11_expand_relu']);

    expect(() =>
      convertToOnnx(source, {
        ...request,
        quantisation: { ranges, activationType: 'uint8', floatConvs: new Set(['block_99_expand']) },
      }),
    ).toThrow(/no convolution block_99_expand/);
  }, 120_000);

  it('refuses a graph without ranges for every quantised activation, and calibration outputs on int8', () => {
    const partial = new Map([...ranges.entries()].slice(1));
    expect(() =>
      convertToOnnx(source, { ...request, quantisation: { ranges: partial, activationType: 'uint8' } }),
    ).toThrow(/no calibrated range/);
    expect(() =>
      convertToOnnx(source, {
        ...request,
        calibrationOutputs: true,
        quantisation: { ranges, activationType: 'uint8' },
      }),
    ).toThrow(/calibration outputs/);
  });
});

describe('activation scale and zero point', () => {
  it('represents zero exactly and spans the range', () => {
    const { scale, zeroPoint } = activationParameters({ min: -1, max: 3 }, undefined, 'uint8');
    expect(zeroPoint).toBe(64);
    expect(scale * (255 - zeroPoint)).toBeCloseTo(3, 2);
    expect(scale * (0 - zeroPoint)).toBeCloseTo(-1, 2);
    expect(activationParameters({ min: -1, max: 3 }, undefined, 'int8').zeroPoint).toBe(-64);
  });

  it('keeps a ReLU6 range inside [0, 6] in float32, so onnxruntime can drop the Clip', () => {
    const { scale, zeroPoint } = activationParameters({ min: 0, max: 6.5 }, { min: 0, max: 6 }, 'uint8');
    expect(zeroPoint).toBe(0);
    expect(Math.fround(scale * 255)).toBeLessThanOrEqual(6 + 2 ** -23);
    expect(Math.fround(scale * 255)).toBeGreaterThan(5.9999);
  });

  it('widens a positive-only range to include zero', () => {
    const { zeroPoint } = activationParameters({ min: 2, max: 4 }, undefined, 'uint8');
    expect(zeroPoint).toBe(0);
  });
});

describe('calibration methods', () => {
  const observations = new Map([
    ['a', { min: Float64Array.from([-1, -3, 0]), max: Float64Array.from([2, 4, 12]) }],
  ]);

  it('minmax takes the extremes over all images', () => {
    expect(activationRanges(observations, 'minmax').get('a')).toEqual({ min: -3, max: 12 });
  });

  it("mean-minmax averages each image's extremes, so one outlier image does not set the range", () => {
    expect(activationRanges(observations, 'mean-minmax').get('a')).toEqual({ min: -4 / 3, max: 6 });
  });

  it('image-p<q> takes percentiles of the per-image extremes, interpolated between images', () => {
    expect(activationRanges(observations, 'image-p50').get('a')).toEqual({ min: -1, max: 4 });
    expect(activationRanges(observations, 'image-p75').get('a')).toEqual({ min: -2, max: 8 });
    expect(activationRanges(observations, 'image-p100')).toEqual(activationRanges(observations, 'minmax'));
    expect(() => activationRanges(observations, 'image-p20')).toThrow(/percentile/);
  });
});

import { readFile } from 'node:fs/promises';
import type { InferenceSession } from 'onnxruntime-node';
import { cosine } from '../../functions/domain/interest-profile';
import { type BuiltModel, ensureModel } from '../../layers/model/build';
import { CHOSEN_DESCRIPTOR } from '../../layers/model/chosen-descriptor';
import { convertToOnnx, pooledOutputName } from '../../layers/model/convert';
import { descriptorLabel } from '../../layers/model/descriptor';
import { evaluationSet } from '../../layers/model/emoji-dataset';
import { createSession, runImage } from '../../layers/model/features';
import { imageToTensor, PREPROCESSING } from '../../layers/model/preprocess';
import { loadSourceModel } from '../../layers/model/source-model';
import { seededUniform } from '../support/seeded-random';
import { TfjsReference } from '../support/tfjs-reference';

// The converted, truncated, pooled and projected ONNX model must compute what the original TF.js
// model computes: same layers, same pooling, same projection constants. The default network runs
// int8, so the converter's float graph of the same network is held to TF.js within TOLERANCE, the
// shipped int8 network within INT8_MIN_COSINE per pooled block (docs/quantisation.md), and the
// shipped head (float) within TOLERANCE on the int8 network's own pooled blocks.
const TOLERANCE = 1e-4;
const INT8_MIN_COSINE = 0.99;

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

describe('ONNX model parity with the original TF.js model', () => {
  const spec = CHOSEN_DESCRIPTOR;
  let built: BuiltModel;
  let session: InferenceSession;
  let reference: TfjsReference;
  /** Each input as the TF.js reference takes it (floats) and as the built graph does (bytes, if uint8). */
  const inputs: { name: string; tensor: Float32Array; bytes: Uint8Array }[] = [];
  /** TF.js's pooled blocks of each input, computed once (TF.js takes tens of seconds an image). */
  const referencePooled = new Map<string, Float32Array[]>();
  const pooledByTfjs = (input: { name: string; tensor: Float32Array }) => {
    const cached = referencePooled.get(input.name) ?? reference.pooledBlocks(input.tensor);
    referencePooled.set(input.name, cached);
    return cached;
  };
  const asBytes = (tensor: Float32Array) => Uint8Array.from(tensor, (v) => Math.round(v * 255));
  const size = spec.model === 'inception_v3' ? 299 : 224;

  beforeAll(async () => {
    built = await ensureModel();
    session = await createSession(built.modelPath, 1);

    // The original Keras model, from the bytes nsfwjs ships: TF.js dequantizes them itself, independently of us.
    reference = await TfjsReference.load(built.manifest, built.modelPath);

    for (const image of [evaluationSet('google')[30], evaluationSet('twitter')[400]]) {
      if (!image) throw new Error('evaluation set too small');
      const tensor = await imageToTensor(await readFile(image.path), size, size);
      inputs.push({ name: image.path, tensor, bytes: asBytes(tensor) });
    }
    // Noise on the byte grid, so that the float and the byte input are the same image.
    const noise = Float32Array.from({ length: size * size * 3 }, seededUniform(42)).map(
      (v) => Math.round(v * 255) / 255,
    );
    inputs.push({ name: 'uniform noise', tensor: noise, bytes: asBytes(noise) });
  }, 300_000);

  afterAll(async () => {
    await session?.release();
    reference?.dispose();
  });

  it('is the chosen descriptor, at the manifest dimension', () => {
    expect(built.manifest.source?.descriptor).toBe(descriptorLabel(spec));
    expect(built.manifest.input).toMatchObject({ width: size, height: size, layout: 'NHWC' });
  });

  it('matches TF.js within 1e-4 on every pooled block (float graph) and on the projected embedding', async () => {
    // The shipped network without quantisation: the converter's own arithmetic, held to TF.js exactly.
    const floatSession = spec.quantisation
      ? await createSession(
          convertToOnnx(loadSourceModel(spec.model), {
            pooledOutputs: spec.blocks,
            ...(spec.inputType === 'uint8'
              ? { uint8Input: { mean: PREPROCESSING.mean, std: PREPROCESSING.std } }
              : {}),
          }).bytes,
          1,
        )
      : session;
    const blockNames = spec.blocks.map(pooledOutputName);
    const outputNames = [...blockNames, built.manifest.output.name];
    const differences: { input: string; output: string; difference: number }[] = [];
    try {
      for (const input of inputs) {
        const fed = built.manifest.input.dataType === 'uint8' ? input.bytes : input.tensor;
        const onnx = await runImage(session, fed, size, outputNames);
        const floatBlocks = await runImage(floatSession, fed, size, blockNames);
        const pooled = pooledByTfjs(input);

        spec.blocks.forEach((block, i) => {
          const output = pooledOutputName(block);
          differences.push({
            input: input.name,
            output,
            difference: maxAbsDifference(floatBlocks.get(output) as Float32Array, pooled[i] as Float32Array),
          });
        });
        // The head on the shipped network's own pooled blocks: the projection constants and arithmetic.
        const expected = reference.head(blockNames.map((name) => onnx.get(name) as Float32Array));
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
    } finally {
      if (floatSession !== session) await floatSession.release();
    }
    expect(differences).toHaveLength(inputs.length * (spec.blocks.length + 1));
    expect(differences.filter((d) => !(d.difference <= TOLERANCE))).toEqual([]);
  }, 240_000);

  it(`runs the network int8 with pooled blocks within cosine ${INT8_MIN_COSINE} of TF.js`, async () => {
    expect(spec.quantisation).toBeDefined();
    expect(built.manifest.source?.descriptor).toContain('.int8-');
    const similarities: { input: string; output: string; cosine: number }[] = [];
    for (const input of inputs) {
      const fed = built.manifest.input.dataType === 'uint8' ? input.bytes : input.tensor;
      const onnx = await runImage(session, fed, size, spec.blocks.map(pooledOutputName));
      const pooled = pooledByTfjs(input);
      spec.blocks.forEach((block, i) => {
        const actual = onnx.get(pooledOutputName(block)) as Float32Array;
        const expected = pooled[i] as Float32Array;
        // Quantised, not float: every block differs from the float reference.
        similarities.push({ input: input.name, output: block.layer, cosine: cosine(actual, expected) });
        expect(maxAbsDifference(actual, expected)).toBeGreaterThan(0);
      });
    }
    expect(similarities).toHaveLength(inputs.length * spec.blocks.length);
    expect(similarities.filter((s) => !(s.cosine > INT8_MIN_COSINE))).toEqual([]);
  }, 240_000);
});

import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { imageToTensor, type Preprocessing } from './preprocess';

/** Session options used for every measurement: what a 1-vCPU Lambda would run, unless told otherwise. */
export function createSession(model: Uint8Array | string, intraOpThreads = 1): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  return typeof model === 'string'
    ? ort.InferenceSession.create(model, options)
    : ort.InferenceSession.create(model, options);
}

/**
 * Runs one NHWC image through the session (a normalised float tensor, or RGB bytes for a graph that
 * takes uint8) and returns the requested outputs, copied.
 */
export async function runImage(
  session: ort.InferenceSession,
  tensor: Float32Array | Uint8Array,
  size: number,
  outputNames: readonly string[],
): Promise<Map<string, Float32Array>> {
  const inputName = session.inputNames[0] as string;
  const input =
    tensor instanceof Uint8Array
      ? new ort.Tensor('uint8', tensor, [1, size, size, 3])
      : new ort.Tensor('float32', tensor, [1, size, size, 3]);
  const results = await session.run({ [inputName]: input }, [...outputNames]);
  const outputs = new Map<string, Float32Array>();
  for (const name of outputNames) {
    const value = results[name];
    if (!value) throw new Error(`output ${name} missing`);
    outputs.set(name, Float32Array.from(value.data as Float32Array));
  }
  return outputs;
}

/**
 * Features of many image files, one image at a time (batch 1, as in production), in the order given.
 * Images are decoded a chunk ahead so sharp's threads overlap with inference.
 */
export async function extractFeatures(
  session: ort.InferenceSession,
  paths: readonly string[],
  size: number,
  preprocessing: Preprocessing,
  outputNames: readonly string[],
): Promise<Map<string, Float32Array[]>> {
  const features = new Map<string, Float32Array[]>(outputNames.map((name) => [name, []]));
  const chunk = 16;
  const decode = (start: number) =>
    Promise.all(
      paths
        .slice(start, start + chunk)
        .map(async (path) => imageToTensor(await readFile(path), size, size, preprocessing)),
    );
  let next = decode(0);
  for (let start = 0; start < paths.length; start += chunk) {
    const tensors = await next;
    if (start + chunk < paths.length) next = decode(start + chunk);
    for (const tensor of tensors) {
      const outputs = await runImage(session, tensor, size, outputNames);
      for (const name of outputNames) features.get(name)?.push(outputs.get(name) as Float32Array);
    }
  }
  return features;
}

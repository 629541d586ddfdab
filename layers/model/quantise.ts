import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import {
  type ConversionRequest,
  type ConversionResult,
  calibrationOutputName,
  convertToOnnx,
} from './convert';
import { createSession } from './features';
import type { ActivationType, ValueRange } from './onnx-graph';
import { imageToTensor, PREPROCESSING, type Preprocessing } from './preprocess';
import type { SourceModel } from './source-model';

/**
 * Static int8 quantisation for the converter: activation ranges (min/max) calibrated by running the float
 * graph over a set of images (the fitting set of the package the head is fitted on), then the
 * graph re-emitted in QDQ form, which onnxruntime's CPU provider fuses into QLinearConv and
 * QLinearAdd. Everything after the quantised network (pooling, projection) stays float.
 */

/** uint8 activations: the U8S8 kernels onnxruntime's x86 CPU provider runs fastest (docs/quantisation.md). */
export const DEFAULT_ACTIVATION_TYPE: ActivationType = 'uint8';

/** Calibration images are independent: two threads give the same ranges as one, twice as fast. */
const CALIBRATION_THREADS = 2;

/**
 * How per-tensor ranges come from the calibration images: `minmax`, the extremes over all images;
 * `mean-minmax`, the mean over images of each image's extremes; `image-p<q>`, the q-th percentile
 * of the per-image maxima (and the (100 - q)-th of the minima), interpolated between order statistics
 * as numpy does. The last two clip the rare outliers that would otherwise widen every quantisation
 * step (docs/quantisation.md measures them).
 */
export type CalibrationMethod = 'minmax' | 'mean-minmax' | `image-p${number}`;

/** Each quantised activation's minimum and maximum on every calibration image, in image order. */
export type ActivationObservations = Map<string, { min: Float64Array; max: Float64Array }>;

/** Runs the float graph over the images and records every quantised activation's extremes per image. */
export async function observeActivations(
  source: SourceModel,
  request: ConversionRequest,
  imagePaths: readonly string[],
  preprocessing: Preprocessing = PREPROCESSING,
): Promise<ActivationObservations> {
  if (imagePaths.length === 0) throw new Error('calibration needs at least one image');
  const { bytes, calibrationTensors } = convertToOnnx(source, {
    ...request,
    quantisation: undefined,
    calibrationOutputs: true,
  });
  const tensors = calibrationTensors ?? [];
  const outputs = tensors.flatMap((name) => [
    calibrationOutputName(name, 'min'),
    calibrationOutputName(name, 'max'),
  ]);
  const session = await createSession(bytes, CALIBRATION_THREADS);
  const observations: ActivationObservations = new Map(
    tensors.map((name) => [
      name,
      { min: new Float64Array(imagePaths.length), max: new Float64Array(imagePaths.length) },
    ]),
  );
  const size = source.inputSize;
  const inputName = session.inputNames[0] as string;
  try {
    for (const [index, path] of imagePaths.entries()) {
      const pixels = await imageToTensor(await readFile(path), size, size, preprocessing);
      const results = await session.run(
        { [inputName]: new ort.Tensor('float32', pixels, [1, size, size, 3]) },
        outputs,
      );
      for (const name of tensors) {
        const min = results[calibrationOutputName(name, 'min')]?.data[0];
        const max = results[calibrationOutputName(name, 'max')]?.data[0];
        if (typeof min !== 'number' || typeof max !== 'number')
          throw new Error(`calibration of ${name} missing`);
        const observed = observations.get(name) as { min: Float64Array; max: Float64Array };
        observed.min[index] = min;
        observed.max[index] = max;
      }
    }
  } finally {
    await session.release();
  }
  return observations;
}

/** Ranges from observations, summed or sorted in image order so the same images always give the same ranges. */
export function activationRanges(
  observations: ActivationObservations,
  method: CalibrationMethod,
): Map<string, ValueRange> {
  const ranges = new Map<string, ValueRange>();
  for (const [name, { min, max }] of observations) {
    if (method === 'minmax') {
      ranges.set(name, { min: Math.min(...min), max: Math.max(...max) });
    } else if (method === 'mean-minmax') {
      let low = 0;
      let high = 0;
      for (let i = 0; i < min.length; i++) {
        low += min[i] as number;
        high += max[i] as number;
      }
      ranges.set(name, { min: low / min.length, max: high / max.length });
    } else {
      const q = Number(method.slice('image-p'.length)) / 100;
      if (!(q >= 0.5 && q <= 1)) throw new Error(`calibration percentile out of [50, 100]: ${method}`);
      ranges.set(name, { min: quantile(min, 1 - q), max: quantile(max, q) });
    }
  }
  return ranges;
}

/** The q-quantile of the values, linearly interpolated between the two nearest order statistics. */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) throw new Error('quantile of no values');
  const sorted = Float64Array.from(values).sort();
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const low = sorted[below] as number;
  const high = sorted[Math.min(below + 1, sorted.length - 1)] as number;
  return low + (high - low) * (position - below);
}

export async function calibrateActivations(
  source: SourceModel,
  request: ConversionRequest,
  imagePaths: readonly string[],
  method: CalibrationMethod = 'minmax',
  preprocessing: Preprocessing = PREPROCESSING,
): Promise<Map<string, ValueRange>> {
  return activationRanges(await observeActivations(source, request, imagePaths, preprocessing), method);
}

/** Calibrates on the images, then converts the request quantised. */
export async function convertQuantised(
  source: SourceModel,
  request: ConversionRequest,
  calibrationImages: readonly string[],
  method: CalibrationMethod = 'minmax',
  activationType: ActivationType = DEFAULT_ACTIVATION_TYPE,
): Promise<ConversionResult & { ranges: Map<string, ValueRange> }> {
  const ranges = await calibrateActivations(source, request, calibrationImages, method);
  const converted = convertToOnnx(source, {
    ...request,
    quantisation: { ranges, activationType },
  });
  return { ...converted, ranges };
}

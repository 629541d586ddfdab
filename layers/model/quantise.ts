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

export async function calibrateActivations(
  source: SourceModel,
  request: ConversionRequest,
  imagePaths: readonly string[],
  preprocessing: Preprocessing = PREPROCESSING,
): Promise<Map<string, ValueRange>> {
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
  const ranges = new Map<string, ValueRange>(
    tensors.map((name) => [name, { min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY }]),
  );
  const size = source.inputSize;
  const inputName = session.inputNames[0] as string;
  try {
    for (const path of imagePaths) {
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
        const range = ranges.get(name) as ValueRange;
        range.min = Math.min(range.min, min);
        range.max = Math.max(range.max, max);
      }
    }
  } finally {
    await session.release();
  }
  return ranges;
}

/** Calibrates on the images, then converts the request quantised. */
export async function convertQuantised(
  source: SourceModel,
  request: ConversionRequest,
  calibrationImages: readonly string[],
  activationType: ActivationType = DEFAULT_ACTIVATION_TYPE,
): Promise<ConversionResult & { ranges: Map<string, ValueRange> }> {
  const ranges = await calibrateActivations(source, request, calibrationImages);
  const converted = convertToOnnx(source, {
    ...request,
    quantisation: { ranges, activationType },
  });
  return { ...converted, ranges };
}

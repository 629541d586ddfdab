import sharp from 'sharp';
import type { ModelManifest } from '../../functions/embedding/model-manifest';

export type Preprocessing = ModelManifest['preprocess'];

/**
 * The one image pipeline every descriptor is measured and built with, and that the embedder must
 * repeat: EXIF orientation, transparency flattened onto white, sRGB, squash to the model's input
 * size (nsfwjs trains with a squash, not a crop), RGB bytes, then (pixel/255 - mean) / std.
 * lanczos3 is sharp's default kernel; docs/descriptors.md records how the alternatives measured.
 */
export const PREPROCESSING: Preprocessing = {
  kernel: 'lanczos3',
  fit: 'fill',
  background: '#ffffff',
  mean: [0, 0, 0],
  std: [1, 1, 1],
};

/** Decodes and resizes an image into an NHWC float32 tensor body of width*height*3 values. */
export async function imageToTensor(
  bytes: Buffer,
  width: number,
  height: number,
  preprocessing: Preprocessing = PREPROCESSING,
): Promise<Float32Array> {
  const { data, info } = await sharp(bytes)
    .rotate()
    .flatten({ background: preprocessing.background })
    .toColourspace('srgb')
    .resize(width, height, { fit: preprocessing.fit, kernel: preprocessing.kernel })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== width || info.height !== height) {
    throw new Error(`unexpected decoded image ${info.width}x${info.height}x${info.channels}`);
  }
  const tensor = new Float32Array(width * height * 3);
  for (let i = 0; i < tensor.length; i++) {
    const channel = i % 3;
    tensor[i] =
      ((data[i] as number) / 255 - (preprocessing.mean[channel] as number)) /
      (preprocessing.std[channel] as number);
  }
  return tensor;
}

/** Canonical JSON of the preprocessing (fixed key order), hashed into the model id. */
export function canonicalPreprocessing(preprocessing: Preprocessing, width: number, height: number): string {
  const { kernel, fit, background, mean, std } = preprocessing;
  return JSON.stringify({ width, height, layout: 'NHWC', kernel, fit, background, mean, std });
}

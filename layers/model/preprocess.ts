import { DEFAULT_IMAGE_LIMITS } from '../../functions/domain/image-format';
import { decodePixels, type Preprocessing, TensorFill } from '../../functions/embedding/preprocess';

export type { Preprocessing } from '../../functions/embedding/preprocess';

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

/**
 * Decodes and resizes an image into an NHWC float32 tensor body of width*height*3 values, with the
 * embedder's own code (functions/embedding/preprocess.ts), so fitting and serving see the same tensor.
 */
export async function imageToTensor(
  bytes: Buffer,
  width: number,
  height: number,
  preprocessing: Preprocessing = PREPROCESSING,
): Promise<Float32Array> {
  const image = await decodePixels(bytes, width, height, preprocessing, {
    limitInputPixels: DEFAULT_IMAGE_LIMITS.maxPixels,
  });
  if (image.channels !== 3 || image.width !== width || image.height !== height) {
    throw new Error(`unexpected decoded image ${image.width}x${image.height}x${image.channels}`);
  }
  return new TensorFill(preprocessing).fill(image, 'NHWC');
}

/** Canonical JSON of the preprocessing (fixed key order), hashed into the model id. */
export function canonicalPreprocessing(preprocessing: Preprocessing, width: number, height: number): string {
  const { kernel, fit, background, mean, std } = preprocessing;
  return JSON.stringify({ width, height, layout: 'NHWC', kernel, fit, background, mean, std });
}

import sharp from 'sharp';
import type { ModelManifest } from './model-manifest';

/**
 * The one image pipeline of every model: the embedder (index and query images) and the model build
 * (fitting and evaluation images) both decode and normalise through this module, so an image gives the
 * same tensor wherever it is preprocessed.
 */
export type Preprocessing = ModelManifest['preprocess'];
export type TensorLayout = ModelManifest['input']['layout'];

/** Decoded, resized sRGB pixels, interleaved RGB, exactly width x height. */
export interface PreprocessedImage {
  pixels: Buffer;
  width: number;
  height: number;
}

export interface DecodeOptions {
  /** Decoding stops with a "pixel limit" error above this many input pixels. */
  readonly limitInputPixels: number;
}

/**
 * EXIF orientation, alpha flattened onto the background, sRGB, first frame only, resized with the
 * manifest's kernel and fit, to 8-bit RGB. For a JPEG, libvips decodes at 1/2, 1/4 or 1/8 scale when
 * the resize leaves room for it (sharp's shrink-on-load), so large photos are never decoded in full.
 * The output buffer is the one the tensor is filled from: no intermediate copy.
 */
export async function decodePixels(
  bytes: Buffer,
  width: number,
  height: number,
  preprocessing: Preprocessing,
  options: DecodeOptions,
): Promise<PreprocessedImage & { channels: number }> {
  const { kernel, fit, background } = preprocessing;
  const { data, info } = await sharp(bytes, {
    limitInputPixels: options.limitInputPixels,
    failOn: 'truncated',
    pages: 1,
  })
    .rotate()
    .flatten({ background })
    .toColourspace('srgb')
    .resize(width, height, { fit, kernel, background })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { pixels: data, width: info.width, height: info.height, channels: info.channels };
}

/**
 * Pixels -> float32 tensor body, (pixel/255 - mean) / std per channel, in one pass. The normalised
 * value of each 8-bit level is computed once (in float64, then stored as float32, as a direct
 * computation would), so the fill is a table look-up per value, whatever the mean and std.
 */
export class TensorFill {
  private readonly levels: Float32Array;

  constructor(preprocessing: Pick<Preprocessing, 'mean' | 'std'>) {
    const { mean, std } = preprocessing;
    this.levels = new Float32Array(256 * 3);
    for (let c = 0; c < 3; c++) {
      for (let level = 0; level < 256; level++) {
        this.levels[c * 256 + level] = (level / 255 - (mean[c] ?? 0)) / (std[c] ?? 1);
      }
    }
  }

  /** Fills `into` (or a new array) with width*height*3 values in the given layout and returns it. */
  fill(image: PreprocessedImage, layout: TensorLayout, into?: Float32Array): Float32Array {
    const { width, height, pixels } = image;
    const plane = width * height;
    if (pixels.length !== plane * 3) {
      throw new RangeError(`${pixels.length} bytes are not ${width}x${height} RGB pixels`);
    }
    const data = into?.length === plane * 3 ? into : new Float32Array(plane * 3);
    const { levels } = this;
    if (layout === 'NHWC') {
      for (let i = 0; i < plane * 3; i += 3) {
        data[i] = levels[pixels[i] as number] as number;
        data[i + 1] = levels[256 + (pixels[i + 1] as number)] as number;
        data[i + 2] = levels[512 + (pixels[i + 2] as number)] as number;
      }
      return data;
    }
    for (let i = 0, p = 0; p < plane; p++, i += 3) {
      data[p] = levels[pixels[i] as number] as number;
      data[plane + p] = levels[256 + (pixels[i + 1] as number)] as number;
      data[2 * plane + p] = levels[512 + (pixels[i + 2] as number)] as number;
    }
    return data;
  }
}

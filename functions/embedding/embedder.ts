import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp, { type Metadata } from 'sharp';
import type { ImageEmbedder } from '../app/ports';
import { ENV } from '../contract/environment';
import { EmbeddingFailed, InvalidImage } from '../domain/errors';
import { DEFAULT_IMAGE_LIMITS, type ImageLimits, sniffImageFormat } from '../domain/image-format';
import { type LoadedManifest, loadManifest, type ModelManifest } from './model-manifest';
import { decodePixels, type PreprocessedImage, TensorFill } from './preprocess';

export { DEFAULT_IMAGE_LIMITS, type ImageLimits } from '../domain/image-format';
export type { PreprocessedImage } from './preprocess';

export interface EmbedderOptions {
  /** Manifest of the model; defaults to {@link defaultManifestPath}. */
  manifestPath?: string;
  /**
   * onnxruntime intra-op threads. Every caller (functions, CLI, tests) uses the same default, so that
   * one image always gives the same vector wherever it is embedded.
   * @default LOOKALIKE_ORT_THREADS or 1
   */
  threads?: number;
  limits?: Partial<ImageLimits>;
}

export interface Embedding {
  /** L2-normalised, length = manifest.output.dim. */
  vector: Float32Array;
  modelId: string;
  preprocessMs: number;
  inferenceMs: number;
}

/** Model layer in Lambda (/opt/model), an explicit env override, or the local build. */
export function defaultManifestPath(): string {
  const fromEnv = process.env[ENV.LOOKALIKE_MODEL_MANIFEST];
  if (fromEnv) return resolve(fromEnv);
  if (existsSync('/opt/model/manifest.json')) return '/opt/model/manifest.json';
  return resolve(__dirname, '../../layers/model/dist/manifest.json');
}

export function defaultThreads(): number {
  const fromEnv = Number(process.env[ENV.LOOKALIKE_ORT_THREADS]);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 1;
}

/** The use cases' ImageEmbedder port, on onnxruntime-node and sharp. */
export class Embedder implements ImageEmbedder {
  readonly manifest: ModelManifest;
  readonly limits: ImageLimits;
  private readonly session: ort.InferenceSession;
  /** The manifest's normalisation, fused into the one pass from pixels to tensor. */
  private readonly tensorFill: TensorFill;
  /** onnxruntime sessions are not documented as re-entrant: runs are chained, decoding is not. */
  private inferenceQueue: Promise<unknown> = Promise.resolve();
  /** Input buffers of finished inferences, reused by toTensor. */
  private readonly spareTensors: Float32Array[] = [];

  private constructor(loaded: LoadedManifest, session: ort.InferenceSession, limits: ImageLimits) {
    this.manifest = loaded.manifest;
    this.session = session;
    this.limits = limits;
    this.tensorFill = new TensorFill(loaded.manifest.preprocess);
  }

  static async load(options: EmbedderOptions = {}): Promise<Embedder> {
    const manifestPath = options.manifestPath ?? defaultManifestPath();
    if (!existsSync(manifestPath)) {
      throw new Error(
        `model manifest not found at ${manifestPath}: run \`npm run model\` to build the default model`,
      );
    }
    const loaded = loadManifest(manifestPath);
    const threads = options.threads ?? defaultThreads();
    const session = await ort.InferenceSession.create(loaded.modelPath, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    for (const [name, names] of [
      [loaded.manifest.input.name, session.inputNames],
      [loaded.manifest.output.name, session.outputNames],
    ] as const) {
      if (!names.includes(name)) throw new Error(`model ${loaded.modelPath} has no tensor named ${name}`);
    }
    return new Embedder(loaded, session, { ...DEFAULT_IMAGE_LIMITS, ...options.limits });
  }

  get modelId(): string {
    return this.manifest.modelId;
  }

  get dim(): number {
    return this.manifest.output.dim;
  }

  async embed(bytes: Uint8Array): Promise<Embedding> {
    const started = performance.now();
    const image = await this.preprocess(bytes);
    const tensor = this.toTensor(image);
    const preprocessed = performance.now();
    const vector = await this.infer(tensor);
    return {
      vector,
      modelId: this.manifest.modelId,
      preprocessMs: preprocessed - started,
      inferenceMs: performance.now() - preprocessed,
    };
  }

  /** Validates and decodes: EXIF orientation, alpha onto the background, sRGB, first frame, resize. */
  async preprocess(bytes: Uint8Array): Promise<PreprocessedImage> {
    const { limits } = this;
    if (bytes.length === 0) throw new InvalidImage('empty_file', 'the file is empty');
    if (bytes.length > limits.maxBytes) {
      throw new InvalidImage(
        'file_too_large',
        `the file is ${bytes.length} bytes; the limit is ${limits.maxBytes}`,
        {
          bytes: bytes.length,
          limit: limits.maxBytes,
        },
      );
    }
    const sniffed = sniffImageFormat(bytes);
    if (sniffed.kind === 'not_an_image') {
      throw new InvalidImage(
        'not_an_image',
        `the file is not an image (it looks like ${sniffed.looksLike})`,
        {
          looksLike: sniffed.looksLike,
        },
      );
    }
    if (sniffed.kind === 'unsupported') {
      throw new InvalidImage('unsupported_format', `image format ${sniffed.format} is not supported`, {
        format: sniffed.format,
      });
    }
    // SVG can reference external resources and expand entities; product photos are raster images.
    if (sniffed.format === 'svg') throw new InvalidImage('svg_not_supported', 'SVG images are not accepted');

    const { manifest } = this;
    const input = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let header: Pick<Metadata, 'format' | 'compression' | 'width' | 'height' | 'autoOrient'>;
    // The usual catalogue photo, a plain JPEG within every limit, skips libvips' separate header read
    // (a thread-pool round trip per image). Any other file, or a JPEG that fails a limit, is read by
    // libvips, so every rejection and its details stay as they were.
    const frame = sniffed.format === 'jpeg' ? jpegFrameSize(input) : undefined;
    if (frame && withinLimits(frame, limits)) {
      header = { format: 'jpeg', ...frame, autoOrient: frame };
    } else {
      try {
        header = await sharp(input, { limitInputPixels: false, pages: 1 }).metadata();
      } catch (error) {
        throw decodeError(error, sniffed.format);
      }
    }
    // The prebuilt libvips reads HEIF containers but decodes only AV1 (AVIF), not HEVC (iPhone HEIC).
    if (header.format === 'heif' && header.compression !== 'av1') {
      throw new InvalidImage(
        'unsupported_format',
        `HEIF with ${header.compression ?? 'unknown'} compression is not supported`,
        {
          format: 'heic',
        },
      );
    }
    const width = header.autoOrient?.width ?? header.width;
    const height = header.autoOrient?.height ?? header.height;
    if (!width || !height) throw new InvalidImage('corrupt_image', 'the image header has no dimensions');
    if (width * height > limits.maxPixels) {
      throw new InvalidImage(
        'pixel_limit',
        `${width}x${height} exceeds the limit of ${limits.maxPixels} pixels`,
        {
          width,
          height,
          limit: limits.maxPixels,
        },
      );
    }
    if (Math.max(width, height) / Math.min(width, height) > limits.maxAspectRatio) {
      throw new InvalidImage('extreme_aspect_ratio', `${width}x${height} is too elongated to embed`, {
        width,
        height,
        limit: limits.maxAspectRatio,
      });
    }
    if (Math.min(width, height) < limits.minSide) {
      throw new InvalidImage(
        'image_too_small',
        `${width}x${height} is below the minimum side of ${limits.minSide}`,
        {
          width,
          height,
          limit: limits.minSide,
        },
      );
    }

    const { width: targetWidth, height: targetHeight } = manifest.input;
    try {
      const image = await decodePixels(input, targetWidth, targetHeight, manifest.preprocess, {
        limitInputPixels: limits.maxPixels,
      });
      if (image.width !== targetWidth || image.height !== targetHeight || image.channels !== 3) {
        throw new EmbeddingFailed(`decoder produced ${image.width}x${image.height}x${image.channels}`);
      }
      return { pixels: image.pixels, width: image.width, height: image.height };
    } catch (error) {
      if (error instanceof EmbeddingFailed) throw error;
      throw decodeError(error, sniffed.format);
    }
  }

  /**
   * Pixels -> the model's input: sharp's RGB bytes as they are for a uint8 model (which normalises
   * itself), else a float32 tensor in the manifest's layout and normalisation.
   */
  toTensor(image: PreprocessedImage): ort.Tensor {
    const { width, height } = image;
    if (this.manifest.input.dataType === 'uint8') {
      if (image.pixels.length !== width * height * 3)
        throw new RangeError(`${image.pixels.length} bytes are not ${width}x${height} RGB pixels`);
      const bytes = new Uint8Array(image.pixels.buffer, image.pixels.byteOffset, image.pixels.length);
      return new ort.Tensor('uint8', bytes, [1, height, width, 3]);
    }
    // Fresh 1 MB tensors cost more than the resize itself; finished ones come back after inference.
    const data = this.tensorFill.fill(image, this.manifest.input.layout, this.spareTensors.pop());
    return this.manifest.input.layout === 'NHWC'
      ? new ort.Tensor('float32', data, [1, height, width, 3])
      : new ort.Tensor('float32', data, [1, 3, height, width]);
  }

  /** Hands a tensor's buffer back for reuse once nothing reads it any more (infer does this). */
  releaseTensor(tensor: ort.Tensor): void {
    if (tensor.data instanceof Float32Array && this.spareTensors.length < 4)
      this.spareTensors.push(tensor.data);
  }

  /** Runs the model and L2-normalises its output. */
  async infer(tensor: ort.Tensor): Promise<Float32Array> {
    const run = this.inferenceQueue.then(() => this.session.run({ [this.manifest.input.name]: tensor }));
    this.inferenceQueue = run.catch(() => undefined);
    const outputs = await run;
    this.releaseTensor(tensor);
    const output = outputs[this.manifest.output.name];
    if (!output || !(output.data instanceof Float32Array))
      throw new EmbeddingFailed('the model gave no float32 output');
    if (output.data.length !== this.manifest.output.dim) {
      throw new EmbeddingFailed(
        `the model gave ${output.data.length} values; the manifest says ${this.manifest.output.dim}`,
      );
    }
    return l2Normalise(output.data);
  }
}

/** Every limit is symmetric in width and height, so EXIF orientation does not matter here. */
function withinLimits({ width, height }: { width: number; height: number }, limits: ImageLimits): boolean {
  return (
    width * height <= limits.maxPixels &&
    Math.max(width, height) / Math.min(width, height) <= limits.maxAspectRatio &&
    Math.min(width, height) >= limits.minSide
  );
}

const isFrameMarker = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
/** DHT, DAC, DQT, DRI, COM and APPn except Adobe's APP14: segments libjpeg reads without warnings. */
const isQuietMarker = (m: number) =>
  m === 0xc4 ||
  m === 0xcc ||
  m === 0xdb ||
  m === 0xdd ||
  m === 0xfe ||
  (m >= 0xe0 && m <= 0xef && m !== 0xee);

/**
 * Frame size of a strictly well-formed JPEG: SOI, length-prefixed segments up to the first scan,
 * exactly one frame header. Undefined for anything libjpeg could warn about while reading the header
 * (extraneous bytes, other markers, JFIF major version other than 1, an Adobe segment): those files
 * take the libvips header read, which fails on warnings.
 */
export function jpegFrameSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  let frame: { width: number; height: number } | undefined;
  let offset = 2;
  for (;;) {
    if (bytes[offset] !== 0xff) return undefined;
    while (bytes[offset] === 0xff) offset++;
    const marker = bytes[offset++] as number;
    if (marker === 0xda) return frame;
    if (offset + 2 > bytes.length) return undefined;
    const length = ((bytes[offset] as number) << 8) | (bytes[offset + 1] as number);
    if (length < 2 || offset + length > bytes.length) return undefined;
    if (isFrameMarker(marker)) {
      if (frame || length < 8) return undefined;
      const height = ((bytes[offset + 3] as number) << 8) | (bytes[offset + 4] as number);
      const width = ((bytes[offset + 5] as number) << 8) | (bytes[offset + 6] as number);
      if (width === 0 || height === 0) return undefined;
      frame = { width, height };
    } else if (!isQuietMarker(marker)) {
      return undefined;
    } else if (
      marker === 0xe0 &&
      length >= 16 &&
      Buffer.from(bytes.subarray(offset + 2, offset + 7)).toString('latin1') === 'JFIF\0' &&
      bytes[offset + 7] !== 1
    ) {
      return undefined;
    }
    offset += length;
  }
}

export function l2Normalise(values: Float32Array): Float32Array {
  let sumOfSquares = 0;
  for (const v of values) sumOfSquares += v * v;
  const norm = Math.sqrt(sumOfSquares);
  if (!Number.isFinite(norm) || norm === 0)
    throw new EmbeddingFailed(`cannot normalise a vector of norm ${norm}`);
  const unit = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) unit[i] = (values[i] as number) / norm;
  return unit;
}

/** Maps libvips' messages to our codes; the original message is kept for the logs. */
function decodeError(error: unknown, format: string): InvalidImage {
  const message = error instanceof Error ? error.message : String(error);
  const details = { format, decoder: message.slice(0, 300) };
  if (/pixel limit/i.test(message))
    return new InvalidImage('pixel_limit', 'the image exceeds the pixel limit', details);
  // A header that does not parse is corruption, even when libvips adds that the data ended early.
  if (
    /corrupt header|contains no image|not a (jpeg|png)|bad (signature|header)|improper call/i.test(message)
  ) {
    return new InvalidImage('corrupt_image', `the ${format} file is corrupt`, details);
  }
  if (
    /premature end|truncated|unexpected end|read error|not enough data|short read|end of (file|stream)/i.test(
      message,
    )
  ) {
    return new InvalidImage('truncated_image', `the ${format} file is truncated`, details);
  }
  if (
    /unsupported (image )?format|no decode|compression format has not been built in|not in a known format/i.test(
      message,
    )
  ) {
    return new InvalidImage('unsupported_format', `this ${format} file cannot be decoded here`, details);
  }
  return new InvalidImage('corrupt_image', `the ${format} file is corrupt`, details);
}

let shared: Promise<Embedder> | undefined;

/** One embedder per process: the session is created on first use and reused by every invocation. */
export function getEmbedder(options?: EmbedderOptions): Promise<Embedder> {
  if (!shared) {
    shared = Embedder.load(options);
    shared.catch(() => {
      shared = undefined;
    });
  }
  return shared;
}

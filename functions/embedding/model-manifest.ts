import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as z from 'zod';

/**
 * The contract between a model and the embedder: everything needed to turn an image into the
 * tensor the model expects and to read the embedding back. Any ONNX image model can be plugged in
 * by writing one of these beside it.
 */
export const ModelManifestSchema = z
  .object({
    /** Stable id of the model: changes whenever the graph, weights or preprocessing change. */
    modelId: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/),
    /** ONNX file, relative to the manifest. */
    file: z.string().min(1),
    input: z.object({
      name: z.string().min(1),
      width: z.number().int().positive().max(4096),
      height: z.number().int().positive().max(4096),
      channels: z.literal(3),
      /** NHWC: [1, H, W, 3]; NCHW: [1, 3, H, W]. */
      layout: z.enum(['NHWC', 'NCHW']),
      /**
       * float32 (default): the embedder normalises as `preprocess` says and feeds floats. uint8: the
       * model takes the resized RGB bytes as they are and applies `preprocess.mean`/`std` itself
       * (NHWC only), so the embedder hands sharp's buffer to onnxruntime without a copy.
       */
      dataType: z.enum(['float32', 'uint8']).optional(),
    }),
    preprocess: z.object({
      /** sharp resize kernel; index and query images must use the same one. */
      kernel: z.enum(['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3']),
      /** sharp fit: 'fill' squashes to the input size (what the source model was trained with). */
      fit: z.enum(['fill', 'cover', 'contain']),
      /** Transparent pixels are flattened onto this colour (sRGB hex). */
      background: z.string().regex(/^#[0-9a-fA-F]{6}$/),
      /** value = (pixel / 255 - mean[c]) / std[c], per RGB channel. */
      mean: z.tuple([z.number(), z.number(), z.number()]),
      std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
    }),
    output: z.object({
      name: z.string().min(1),
      dim: z.number().int().positive().max(4096),
      /** What the output is, for people: e.g. "InceptionV3 mixed5, GeM-pooled, PCA-whitened". */
      description: z.string(),
    }),
    /** Provenance, for people and for the model id. */
    source: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((manifest) => manifest.input.dataType !== 'uint8' || manifest.input.layout === 'NHWC', {
    message: 'a uint8 input takes the RGB bytes as decoded: layout must be NHWC',
    path: ['input', 'layout'],
  });

export type ModelManifest = z.infer<typeof ModelManifestSchema>;

export interface LoadedManifest {
  manifest: ModelManifest;
  /** Absolute path of the ONNX file. */
  modelPath: string;
}

export function loadManifest(manifestPath: string): LoadedManifest {
  const manifest = ModelManifestSchema.parse(JSON.parse(readFileSync(manifestPath, 'utf8')));
  return { manifest, modelPath: join(dirname(manifestPath), manifest.file) };
}

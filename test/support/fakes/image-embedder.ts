/**
 * A stand-in for the image model in use-case tests: the same bytes always give the same unit vector
 * (a hash of the bytes and the model id spread over `dim`), and bytes that start with
 * {@link INVALID_IMAGE_MARK} are refused with InvalidImage, as the real embedder refuses a corrupt file.
 */
import { createHash } from 'node:crypto';
import type { ImageEmbedder } from '../../../functions/app/ports';
import { InvalidImage } from '../../../functions/domain/errors';

export const INVALID_IMAGE_MARK = 'not-an-image:';

/** Bytes the fake embeds: any text without the mark. */
export const imageBytes = (text: string) => new TextEncoder().encode(`image:${text}`);
/** Bytes the fake refuses with InvalidImage('corrupt_image'). */
export const invalidImageBytes = (text: string) => new TextEncoder().encode(`${INVALID_IMAGE_MARK}${text}`);

export class FakeImageEmbedder implements ImageEmbedder {
  readonly limits: { readonly maxBytes: number };
  /** Bytes embedded so far, in order (as text). */
  readonly embedded: string[] = [];

  constructor(
    readonly modelId = 'fake-model',
    readonly dim = 8,
    maxBytes = 1024 * 1024,
  ) {
    this.limits = { maxBytes };
  }

  /** The vector these bytes embed to. */
  vectorOf(bytes: Uint8Array): Float32Array {
    const digest = createHash('sha256').update(this.modelId).update(bytes).digest();
    const vector = Float32Array.from(
      { length: this.dim },
      (_, i) => (digest[i % digest.length] ?? 0) - 127.5,
    );
    const norm = Math.hypot(...vector);
    return vector.map((value) => value / norm);
  }

  async embed(bytes: Uint8Array): Promise<{ vector: Float32Array }> {
    const text = new TextDecoder().decode(bytes);
    if (text.startsWith(INVALID_IMAGE_MARK))
      throw new InvalidImage('corrupt_image', 'the fake model cannot decode these bytes');
    this.embedded.push(text);
    return { vector: this.vectorOf(bytes) };
  }
}

/**
 * An ImageEmbedder (functions/app/ports.ts) for use-case tests: each known image (its bytes as text)
 * has a hand-made vector; anything else is refused as the real embedder refuses bytes it cannot decode.
 */
import type { ImageEmbedder } from '../../../functions/app/ports';
import { InvalidImage } from '../../../functions/domain/errors';

export class KnownImageEmbedder implements ImageEmbedder {
  readonly limits = { maxBytes: 1024 * 1024 };
  /** Images embedded so far, by name. */
  readonly embedded: string[] = [];

  constructor(
    readonly modelId: string,
    readonly dim: number,
    private readonly vectors: ReadonlyMap<string, Float32Array>,
  ) {}

  /** The bytes of a known image. */
  static image(name: string): Uint8Array {
    return new TextEncoder().encode(name);
  }

  async embed(bytes: Uint8Array): Promise<{ vector: Float32Array }> {
    if (bytes.length === 0) throw new InvalidImage('empty_file', 'the file is empty');
    const name = new TextDecoder().decode(bytes);
    const vector = this.vectors.get(name);
    if (!vector) throw new InvalidImage('not_an_image', 'the bytes are not an image this fake knows');
    this.embedded.push(name);
    return { vector: Float32Array.from(vector) };
  }
}

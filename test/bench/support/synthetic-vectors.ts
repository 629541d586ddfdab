import { gaussian, seededUniform } from '../../support/seeded-random';

function normalise(vector: Float32Array): Float32Array {
  let norm = 0;
  for (const v of vector) norm += v * v;
  const inverse = 1 / Math.sqrt(norm);
  for (let i = 0; i < vector.length; i++) vector[i] = (vector[i] as number) * inverse;
  return vector;
}

/**
 * Clustered unit embeddings, a pure function of the row: row r belongs to style r % styles, so
 * rows r, r + styles, r + 2 * styles... look alike.
 */
export class SyntheticVectors {
  private readonly centres: Float32Array[];

  constructor(
    readonly dim: number,
    private readonly seed: number,
    readonly styles = 200,
    private readonly spread = 0.06,
  ) {
    const uniform = seededUniform(seed);
    this.centres = Array.from({ length: styles }, () =>
      normalise(Float32Array.from({ length: dim }, () => gaussian(uniform))),
    );
  }

  vector(row: number): Float32Array {
    const uniform = seededUniform(this.seed ^ Math.imul(row + 1, 0x9e3779b1));
    const centre = this.centres[row % this.styles] as Float32Array;
    return normalise(Float32Array.from(centre, (c) => c + this.spread * gaussian(uniform)));
  }
}

/**
 * SyntheticVectors' clustered unit embeddings, cheap enough for 1M x 256 (a second or two): the noise
 * is a sum of three xorshift uniforms (near-normal, unit variance) rather than Box-Muller over
 * mulberry32, seeded per row, so any row can be generated alone and always reads the same.
 */
export class FastSyntheticVectors {
  private readonly centres: Float32Array[];
  private readonly scratch: Float32Array;

  constructor(
    readonly dim: number,
    private readonly seed: number,
    readonly styles = 200,
    private readonly spread = 0.06,
  ) {
    const uniform = seededUniform(seed);
    this.centres = Array.from({ length: styles }, () =>
      normalise(Float32Array.from({ length: dim }, () => gaussian(uniform))),
    );
    this.scratch = new Float32Array(dim);
  }

  /** Row `row`'s vector, written into `target` (a fresh array by default). */
  vector(row: number, target = new Float32Array(this.dim)): Float32Array {
    const centre = this.centres[row % this.styles] as Float32Array;
    // xorshift32 from a per-row seed (never 0).
    let state = (this.seed ^ Math.imul(row + 1, 0x9e3779b1)) | 1;
    const noise = this.scratch;
    // Three uniforms in [-0.5, 0.5) sum to variance 1/4: times 2, unit variance.
    for (let j = 0; j < this.dim; j++) {
      let sum = 0;
      for (let draw = 0; draw < 3; draw++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        sum += (state >>> 0) / 4_294_967_296 - 0.5;
      }
      noise[j] = 2 * sum;
    }
    let norm = 0;
    for (let j = 0; j < this.dim; j++) {
      const value = (centre[j] as number) + this.spread * (noise[j] as number);
      target[j] = value;
      norm += value * value;
    }
    const inverse = 1 / Math.sqrt(norm);
    for (let j = 0; j < this.dim; j++) target[j] = (target[j] as number) * inverse;
    return target;
  }
}

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

import { symmetricEigen } from '../../functions/domain/symmetric-eigen';
import type { Projection } from './convert';

/**
 * Deterministic PCA for descriptor post-processing. Everything runs in float64 with a fixed
 * summation order (samples in the order given, dimensions ascending) and a classic Householder +
 * implicit QL eigen-decomposition (JAMA's tred2/tql2), so the same samples always give the same
 * bits; eigenvectors are sign-normalised so that their largest-magnitude entry is positive.
 */

export interface PcaFit {
  dim: number;
  sampleCount: number;
  mean: Float64Array;
  /** Number of principal axes kept: min(dim, sampleCount - 1), the rank the samples can have. */
  components: number;
  /** Descending, one per component. */
  eigenvalues: Float64Array;
  /** Row k is the unit principal axis of eigenvalues[k], `dim` entries per row. */
  eigenvectors: Float64Array;
}

/** Mean of the samples, summed in the order given. */
export function sampleMean(samples: ArrayLike<number>[]): Float64Array {
  const first = samples[0];
  if (!first) throw new Error('no samples');
  const dim = first.length;
  const mean = new Float64Array(dim);
  for (const sample of samples) {
    if (sample.length !== dim) throw new Error('samples differ in length');
    for (let d = 0; d < dim; d++) mean[d] = (mean[d] as number) + (sample[d] as number);
  }
  for (let d = 0; d < dim; d++) mean[d] = (mean[d] as number) / samples.length;
  return mean;
}

export function fitPca(samples: ArrayLike<number>[]): PcaFit {
  if (samples.length < 2) throw new Error('PCA needs at least two samples');
  const mean = sampleMean(samples);
  const dim = mean.length;
  const count = samples.length;
  const centred = samples.map((sample) => {
    const row = new Float64Array(dim);
    for (let d = 0; d < dim; d++) row[d] = (sample[d] as number) - (mean[d] as number);
    return row;
  });
  const { values, vectors, components } = dim < count ? covarianceAxes(centred, dim) : gramAxes(centred, dim);

  const order = Array.from(values.keys()).sort(
    (a, b) => (values[b] as number) - (values[a] as number) || a - b,
  );
  const eigenvalues = new Float64Array(components);
  const eigenvectors = new Float64Array(components * dim);
  for (let k = 0; k < components; k++) {
    const source = order[k] as number;
    eigenvalues[k] = Math.max(values[source] as number, 0);
    let largest = 0;
    for (let d = 0; d < dim; d++) {
      if (Math.abs(vectors[source * dim + d] as number) > Math.abs(vectors[source * dim + largest] as number))
        largest = d;
    }
    const sign = (vectors[source * dim + largest] as number) < 0 ? -1 : 1;
    for (let d = 0; d < dim; d++) eigenvectors[k * dim + d] = sign * (vectors[source * dim + d] as number);
  }
  return { dim, sampleCount: count, mean, components, eigenvalues, eigenvectors };
}

/** Eigen-decomposition of the dim x dim covariance: the cheaper route when dim < samples. */
function covarianceAxes(centred: Float64Array[], dim: number) {
  const covariance = new Float64Array(dim * dim);
  for (const row of centred) {
    for (let i = 0; i < dim; i++) {
      const ci = row[i] as number;
      const offset = i * dim;
      for (let j = i; j < dim; j++)
        covariance[offset + j] = (covariance[offset + j] as number) + ci * (row[j] as number);
    }
  }
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      const value = (covariance[i * dim + j] as number) / centred.length;
      covariance[i * dim + j] = value;
      covariance[j * dim + i] = value;
    }
  }
  const { values, vectors } = symmetricEigen(covariance, dim);
  return { values, vectors, components: dim };
}

/**
 * With fewer samples than dimensions, decompose the n x n Gram matrix X·Xᵀ/n instead (same non-zero
 * eigenvalues) and map each eigenvector v to the axis Xᵀv, renormalised. Centring costs one rank.
 */
function gramAxes(centred: Float64Array[], dim: number) {
  const n = centred.length;
  const gram = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const a = centred[i] as Float64Array;
    for (let j = i; j < n; j++) {
      const b = centred[j] as Float64Array;
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += (a[d] as number) * (b[d] as number);
      gram[i * n + j] = dot / n;
      gram[j * n + i] = dot / n;
    }
  }
  const eigen = symmetricEigen(gram, n);
  const vectors = new Float64Array(n * dim);
  for (let k = 0; k < n; k++) {
    const axis = vectors.subarray(k * dim, (k + 1) * dim);
    for (let i = 0; i < n; i++) {
      const weight = eigen.vectors[k * n + i] as number;
      const row = centred[i] as Float64Array;
      for (let d = 0; d < dim; d++) axis[d] = (axis[d] as number) + weight * (row[d] as number);
    }
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += (axis[d] as number) ** 2;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let d = 0; d < dim; d++) axis[d] = (axis[d] as number) * scale;
  }
  return { values: eigen.values, vectors, components: n - 1 };
}

/**
 * Centring + projection onto the top `outDim` components, each scaled by eigenvalue^-power:
 * power 0 is plain PCA, 0.5 full whitening, 0.25 a partial whitening that tempers noisy directions.
 */
export function pcaProjection(fit: PcaFit, outDim: number, power: number): Projection {
  if (outDim > fit.components) throw new Error(`cannot keep ${outDim} of ${fit.components} components`);
  // A floor keeps near-zero eigenvalues (rank deficiency) from exploding under whitening.
  const floor = (fit.eigenvalues[0] as number) * 1e-9;
  const components = new Float64Array(outDim * fit.dim);
  for (let k = 0; k < outDim; k++) {
    const scale = power === 0 ? 1 : Math.max(fit.eigenvalues[k] as number, floor) ** -power;
    for (let d = 0; d < fit.dim; d++) {
      components[k * fit.dim + d] = (fit.eigenvectors[k * fit.dim + d] as number) * scale;
    }
  }
  return { mean: fit.mean, components, outDim };
}

/** y = (x - mean) · componentsᵀ in float64, the same maths the graph's Add + MatMul do in float32. */
export function applyProjection(projection: Projection, features: ArrayLike<number>): Float64Array {
  const dim = projection.mean.length;
  const centred = new Float64Array(dim);
  for (let d = 0; d < dim; d++) centred[d] = (features[d] as number) - (projection.mean[d] as number);
  const components = projection.components;
  if (!components) return centred;
  const output = new Float64Array(projection.outDim);
  for (let k = 0; k < projection.outDim; k++) {
    let sum = 0;
    for (let d = 0; d < dim; d++) sum += (components[k * dim + d] as number) * (centred[d] as number);
    output[k] = sum;
  }
  return output;
}

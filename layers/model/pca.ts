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

/**
 * Eigen-decomposition of a symmetric matrix (row-major, n x n): Householder tridiagonalisation
 * followed by the implicit QL method, after JAMA. Returns eigenvalues (unsorted) and eigenvectors
 * as rows.
 */
export function symmetricEigen(
  matrix: Float64Array,
  n: number,
): { values: Float64Array; vectors: Float64Array } {
  // JAMA works on columns of V; holding T = Vᵀ instead makes every inner loop walk a contiguous row
  // (a symmetric input is its own transpose), and leaves the eigenvectors as rows.
  const T = Float64Array.from(matrix);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tridiagonalise(T, d, e, n);
  diagonalise(T, d, e, n);
  return { values: d, vectors: T };
}

/** Householder reduction to tridiagonal form (JAMA tred2), on the transposed working matrix T. */
function tridiagonalise(T: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  const at = (row: number, column: number) => T[row * n + column] as number;
  for (let j = 0; j < n; j++) d[j] = at(j, n - 1);
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k] as number);
    if (scale === 0) {
      e[i] = d[i - 1] as number;
      for (let j = 0; j < i; j++) {
        d[j] = at(j, i - 1);
        T[j * n + i] = 0;
        T[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = (d[k] as number) / scale;
        h += (d[k] as number) * (d[k] as number);
      }
      let f = d[i - 1] as number;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j] as number;
        T[i * n + j] = f;
        const row = j * n;
        g = (e[j] as number) + (T[row + j] as number) * f;
        for (let k = j + 1; k <= i - 1; k++) {
          const v = T[row + k] as number;
          g += v * (d[k] as number);
          e[k] = (e[k] as number) + v * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = (e[j] as number) / h;
        f += (e[j] as number) * (d[j] as number);
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = (e[j] as number) - hh * (d[j] as number);
      for (let j = 0; j < i; j++) {
        f = d[j] as number;
        g = e[j] as number;
        const row = j * n;
        for (let k = j; k <= i - 1; k++)
          T[row + k] = (T[row + k] as number) - (f * (e[k] as number) + g * (d[k] as number));
        d[j] = at(j, i - 1);
        T[row + i] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    T[i * n + n - 1] = at(i, i);
    T[i * n + i] = 1;
    const h = d[i + 1] as number;
    const next = (i + 1) * n;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = (T[next + k] as number) / h;
      for (let j = 0; j <= i; j++) {
        const row = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += (T[next + k] as number) * (T[row + k] as number);
        for (let k = 0; k <= i; k++) T[row + k] = (T[row + k] as number) - g * (d[k] as number);
      }
    }
    for (let k = 0; k <= i; k++) T[next + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = at(j, n - 1);
    T[j * n + n - 1] = 0;
  }
  T[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

/** Implicit QL on the tridiagonal (d, e); W holds eigenvectors as rows and is rotated in place. */
function diagonalise(W: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  const hypot = (a: number, b: number) => Math.sqrt(a * a + b * b);
  for (let i = 1; i < n; i++) e[i - 1] = e[i] as number;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l] as number) + Math.abs(e[l] as number));
    let m = l;
    while (m < n && Math.abs(e[m] as number) > eps * tst1) m++;
    if (m > l) {
      for (let iteration = 0; ; iteration++) {
        if (iteration > 100) throw new Error('eigen-decomposition did not converge');
        let g = d[l] as number;
        let p = ((d[l + 1] as number) - g) / (2 * (e[l] as number));
        let r = hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = (e[l] as number) / (p + r);
        d[l + 1] = (e[l] as number) * (p + r);
        const dl1 = d[l + 1] as number;
        let h = g - (d[l] as number);
        for (let i = l + 2; i < n; i++) d[i] = (d[i] as number) - h;
        f += h;
        p = d[m] as number;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1] as number;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * (e[i] as number);
          h = c * p;
          r = hypot(p, e[i] as number);
          e[i + 1] = s * r;
          s = (e[i] as number) / r;
          c = p / r;
          p = c * (d[i] as number) - s * g;
          d[i + 1] = h + s * (c * g + s * (d[i] as number));
          const rowI = i * n;
          const rowNext = (i + 1) * n;
          for (let k = 0; k < n; k++) {
            const next = W[rowNext + k] as number;
            const current = W[rowI + k] as number;
            W[rowNext + k] = s * current + c * next;
            W[rowI + k] = c * current - s * next;
          }
        }
        p = (-s * s2 * c3 * el1 * (e[l] as number)) / dl1;
        e[l] = s * p;
        d[l] = c * p;
        if (Math.abs(e[l] as number) <= eps * tst1) break;
      }
    }
    d[l] = (d[l] as number) + f;
    e[l] = 0;
  }
}

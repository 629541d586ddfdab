/**
 * Symmetric eigen-decomposition, shared by the model build's PCA (layers/model/pca.ts) and the
 * learned-similarity trainer (functions/domain/learned-similarity.ts). Pure arithmetic in float64.
 */

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

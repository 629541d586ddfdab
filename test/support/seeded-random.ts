import { seededUniform } from '../../functions/domain/seeded-random';

/** Seeded uniform [0, 1) (mulberry32), the domain's: tests and the code they test draw alike. */
export { seededUniform };

/** A standard normal sample from two uniforms (Box-Muller, one output used). */
export function gaussian(uniform: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

import type { EnvName } from '../contract/environment';

/**
 * Environment parsed once, at cold start, failing fast with a message naming the variable. Only names
 * in functions/contract/environment.ts can be read, so the stack and the twin know every one.
 */
export function requiredEnv(name: EnvName): string {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') throw new Error(`environment variable ${name} is required`);
  return value;
}

export function optionalEnv(name: EnvName): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

export function numberEnv(name: EnvName, fallback: number, { min = -Infinity, max = Infinity } = {}): number {
  const raw = optionalEnv(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`environment variable ${name}=${raw} must be a number in [${min}, ${max}]`);
  }
  return value;
}

export function listEnv(name: EnvName): string[] {
  return (optionalEnv(name) ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}

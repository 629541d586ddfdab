/** Environment parsed once, at cold start, failing fast with a message naming the variable. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value.trim() === '') throw new Error(`environment variable ${name} is required`);
  return value;
}

export function optionalEnv(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

export function numberEnv(name: string, fallback: number, { min = -Infinity, max = Infinity } = {}): number {
  const raw = optionalEnv(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new Error(`environment variable ${name}=${raw} must be a number in [${min}, ${max}]`);
  }
  return value;
}

export function listEnv(name: string): string[] {
  return (optionalEnv(name) ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}

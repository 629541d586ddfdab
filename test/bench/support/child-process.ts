import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

export const REPO_ROOT = resolve(__dirname, '../../..');

/** A temporary folder for bundles and inputs; the caller removes it. */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `lookalike-${prefix}-`));
}

export interface BundleOptions {
  /** Left to `require` at run time (resolved through NODE_PATH, see {@link runNodeChild}). */
  external: string[];
  /** @default false */
  minify?: boolean;
}

/** One CommonJS file for Node 24, as the functions are built (see infra/constructs/lookalike-function.ts). */
export async function bundleForNode(entry: string, outfile: string, options: BundleOptions): Promise<string> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    external: options.external,
    minify: options.minify ?? false,
    logLevel: 'error',
  });
  return outfile;
}

export interface ChildRun<T> {
  /** The JSON object the child printed as its last stdout line. */
  report: T;
  /** Parent's view: from spawn to the child's exit. */
  wallMs: number;
}

/**
 * Runs `node script ...args` in a fresh process (no tsx, no inherited NODE_OPTIONS) whose externals
 * resolve from the repository's node_modules, and parses the last stdout line as JSON.
 * BENCH_CHILD_NODE_ARGS (space-separated) goes before the script: `--cpu-prof --cpu-prof-dir=/tmp/p`
 * profiles each child.
 */
export function runNodeChild<T>(
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<ChildRun<T>> {
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    const nodeArgs = (process.env.BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
      env: { PATH: process.env.PATH ?? '', NODE_PATH: join(REPO_ROOT, 'node_modules'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = performance.now() - started;
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0) {
        reject(new Error(`child ${script} exited with ${code}: ${stderr.slice(-2000)}`));
        return;
      }
      try {
        resolvePromise({ report: JSON.parse(last) as T, wallMs });
      } catch {
        reject(new Error(`child ${script} printed no JSON: ${stdout.slice(-500)} ${stderr.slice(-1000)}`));
      }
    });
  });
}

import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync } from 'node:fs';
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
  /** @default false (BENCH_NO_MINIFY=1 keeps every bundle's names readable, for CPU profiles) */
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
    // As LookalikeFunction bundles: the packages' ES module builds first, so unused code is dropped.
    mainFields: ['module', 'main'],
    external: options.external,
    minify: (options.minify ?? false) && !process.env.BENCH_NO_MINIFY,
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
 * The options the Lambda Node.js runtime starts `node` with for a function of `memoryMb` (its
 * bootstrap script, /var/runtime/bootstrap in the public.ecr.aws/lambda/nodejs images): a tenth of
 * the memory for the young generation, in two semi-spaces, and the rest for the old one. A child run
 * without them gets V8's defaults for this machine's 24 GiB instead, and collects garbage differently.
 */
export function lambdaNodeArgs(memoryMb: number): string[] {
  const newSpace = Math.floor(memoryMb / 10);
  return [
    '--expose-gc',
    '--max-http-header-size',
    '81920',
    `--max-semi-space-size=${Math.floor(newSpace / 2)}`,
    `--max-old-space-size=${memoryMb - newSpace}`,
  ];
}

/**
 * Runs `node ...nodeArgs script ...args` in a fresh process (no tsx, no inherited NODE_OPTIONS) whose
 * externals resolve from the repository's node_modules, and parses the last stdout line as JSON.
 * BENCH_CHILD_NODE_ARGS (space-separated) goes before the script too: `--cpu-prof
 * --cpu-prof-dir=/tmp/p` profiles each child; BENCH_CHILD_STDOUT=<file> appends each child's whole
 * stdout to the file (with `--trace-gc`, its collections).
 */
export function runNodeChild<T>(
  script: string,
  args: string[],
  env: Record<string, string>,
  nodeArgs: readonly string[] = [],
): Promise<ChildRun<T>> {
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    const extraArgs = (process.env.BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, ...extraArgs, script, ...args], {
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
      if (process.env.BENCH_CHILD_STDOUT) appendFileSync(process.env.BENCH_CHILD_STDOUT, stdout);
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

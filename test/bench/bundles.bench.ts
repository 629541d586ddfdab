/**
 * `npm run bench:bundles`: what each deployed function weighs and what its code costs at cold start.
 *
 * Synthesizes the stack (test/support/synth.ts, cached), takes each function's bundled asset from
 * cdk.out and reports its size unzipped and zipped (deflate level 9 plus zip headers, as the asset
 * zip is built) and its cold init: the time a fresh `node` takes to `require` the bundle. The bundle is
 * copied out of the repository first and NODE_PATH names only the runtime layer's node_modules, as
 * Lambda's /opt/nodejs/node_modules, so a package left external that the layer lacks fails the run.
 * Env vars come from the template (references replaced by placeholders, the manifest path by the
 * built model's); init is measured with the template's NODE_OPTIONS (source maps on) and without.
 * For comparison, `sdk_external_*` is the same handler bundled as before (SDK left external, as the
 * Lambda runtime would provide it; no source map), required with the repository's SDK on NODE_PATH.
 *
 * Progress goes to stderr; the last stdout line is one JSON object. Timings are never asserted on.
 */
import { spawn } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { EXTERNAL_MODULES } from '../../infra/constructs/model-layers';
import { ensureModel } from '../../layers/model/build';
import { ensureRuntimeLayer } from '../../layers/runtime/build';
import { synthesize } from '../support/synth';
import { bundleForNode, REPO_ROOT, scratchDir } from './support/child-process';
import { median, progress, round } from './support/stats';

const RUNS = Number(process.env.BENCH_BUNDLE_RUNS ?? 5);
const LAYER_NODE_MODULES = join(REPO_ROOT, 'layers', 'runtime', 'nodejs', 'node_modules');
const MANIFEST = join(REPO_ROOT, 'layers', 'model', 'dist', 'manifest.json');
const log = progress('bundles');

interface FunctionResource {
  Type: string;
  Properties: { Code?: { S3Key?: string }; Environment?: { Variables?: Record<string, unknown> } };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

/** Bytes of a zip of `dir`: each file deflated at level 9, plus local and central headers. */
function zippedBytes(dir: string): number {
  const files = filesUnder(dir);
  const headers = files.reduce((total, file) => total + 30 + 46 + 2 * (file.length - dir.length - 1), 22);
  return files.reduce(
    (total, file) => total + deflateRawSync(readFileSync(file), { level: 9 }).length,
    headers,
  );
}

/** The function's environment as Lambda would set it; values that are CloudFormation references become placeholders. */
function environmentOf(fn: FunctionResource): Record<string, string> {
  const variables = fn.Properties.Environment?.Variables ?? {};
  const env = Object.fromEntries(
    Object.entries(variables).map(([name, value]) => [
      name,
      typeof value === 'string' ? value : `local-${name}`,
    ]),
  );
  return { ...env, LOOKALIKE_MODEL_MANIFEST: MANIFEST, AWS_REGION: 'eu-west-1' };
}

const CHILD = `
const started = performance.now();
const loaded = require(process.argv[2]);
const requireMs = performance.now() - started;
if (typeof loaded.handler !== 'function') throw new Error('the bundle exports no handler');
console.log(JSON.stringify({ requireMs, processMs: performance.now() }));
`;

function requireOnce(
  child: string,
  bundle: string,
  env: Record<string, string>,
  nodePath = LAYER_NODE_MODULES,
): Promise<{ requireMs: number; processMs: number }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, bundle], {
      env: { PATH: process.env.PATH ?? '', NODE_PATH: nodePath, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    proc.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as never);
      else reject(new Error(`require(${bundle}) exited with ${code}: ${stderr.slice(-2000)}`));
    });
  });
}

async function main(): Promise<void> {
  await ensureModel();
  ensureRuntimeLayer();
  log('synthesizing (cached in .cache/synth)');
  const { json, outdir } = synthesize();
  const resources = json.Resources as Record<string, FunctionResource>;
  const functions = Object.entries(resources).filter(
    ([, r]) =>
      r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME,
  );
  const scratch = scratchDir('bundles-bench');
  try {
    const child = join(scratch, 'require-bundle.js');
    writeFileSync(child, CHILD);
    const report: Record<string, unknown> = {};
    for (const [id, fn] of functions) {
      const name = String(fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME);
      const asset = join(outdir, `asset.${fn.Properties.Code?.S3Key?.replace('.zip', '')}`);
      // Outside the repository, so nothing resolves from its node_modules.
      const taskRoot = join(scratch, name);
      cpSync(asset, taskRoot, { recursive: true });
      const bundle = join(taskRoot, 'index.js');
      const env = environmentOf(fn);
      const { NODE_OPTIONS: _, ...withoutSourceMaps } = env;
      log(`${name} (${id}): requiring ${RUNS} times with and without source maps`);
      const deployed: Array<{ requireMs: number; processMs: number }> = [];
      const plain: number[] = [];
      const sdkExternal: number[] = [];
      const withRuntimeSdk = await bundleForNode(
        join(REPO_ROOT, 'functions', 'handlers', `${name}.ts`),
        join(scratch, `${name}-sdk-external`, 'index.js'),
        { external: ['@aws-sdk/*', ...EXTERNAL_MODULES], minify: true },
      );
      const runtimeSdkPath = [LAYER_NODE_MODULES, join(REPO_ROOT, 'node_modules')].join(delimiter);
      for (let run = 0; run < RUNS; run++) {
        deployed.push(await requireOnce(child, bundle, env));
        plain.push((await requireOnce(child, bundle, withoutSourceMaps)).requireMs);
        sdkExternal.push(
          (await requireOnce(child, withRuntimeSdk, withoutSourceMaps, runtimeSdkPath)).requireMs,
        );
      }
      report[name] = {
        index_js_bytes: statSync(bundle).size,
        unzipped_bytes: filesUnder(taskRoot).reduce((total, file) => total + statSync(file).size, 0),
        zipped_bytes: zippedBytes(taskRoot),
        node_options: env.NODE_OPTIONS ?? '',
        init_ms: round(median(deployed.map((run) => run.requireMs)), 1),
        init_from_process_start_ms: round(median(deployed.map((run) => run.processMs)), 1),
        init_without_source_maps_ms: round(median(plain), 1),
        sdk_external_index_js_bytes: statSync(withRuntimeSdk).size,
        sdk_external_init_ms: round(median(sdkExternal), 1),
      };
    }
    console.log(JSON.stringify({ node: process.version, runs: RUNS, functions: report }));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/**
 * Builds the runtime layer: `layers/runtime/nodejs/node_modules` with onnxruntime-node and sharp and
 * only what they need at run time on linux-x64 Lambda, at exactly the versions in package-lock.json.
 * Usage: `npm run layer` (`--if-missing` skips a layer that is already built; `--from-registry`
 * forces the second source below).
 *
 * Two sources, one result:
 * - `host` (a linux-x64 machine whose node_modules has sharp's linux-x64 packages): the packages are
 *   copied from the repo's node_modules; offline.
 * - `registry` (macOS, Windows, Linux arm64 or musl: `npm ci` there installs only that machine's
 *   sharp binaries): the lock file's versions are installed with npm's `--os=linux --cpu=x64
 *   --libc=glibc` into a scratch folder (onnxruntime-node ships every platform in one package;
 *   install scripts are skipped, so only the npm registry is contacted) and copied from there.
 * Both prune to linux/x64 in the same way. LOOKALIKE_LAYER_SOURCE=host|registry overrides the choice.
 */
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';

const REPO = resolve(__dirname, '..', '..');
export const RUNTIME_LAYER_DIR = join(REPO, 'layers', 'runtime');
const ROOTS = ['onnxruntime-node', 'sharp'];
/** Dependencies used only by install scripts (onnxruntime-node's GPU download), never at run time. */
const INSTALL_ONLY = new Set(['adm-zip', 'global-agent']);
/** sharp's binaries for Lambda; every other `@img/sharp-*` package is another platform's. */
const SHARP_LINUX_X64 = ['@img/sharp-linux-x64', '@img/sharp-libvips-linux-x64'];
/** Lambda's platform, as npm's `--os`, `--cpu` and `--libc` name it. */
const LAMBDA_PLATFORM = { os: 'linux', cpu: 'x64', libc: 'glibc' } as const;

export type LayerSource = 'host' | 'registry';

export interface RuntimeLayerOptions {
  /** The layer folder; packages go to `<dir>/nodejs/node_modules`. @default layers/runtime */
  readonly dir?: string;
  /**
   * Where the packages come from.
   * @default LOOKALIKE_LAYER_SOURCE, else `host` when this machine can serve it, else `registry`
   */
  readonly source?: LayerSource;
  /** Extra `npm install` arguments for the registry source (e.g. `--prefer-offline`). @default [] */
  readonly npmArgs?: readonly string[];
}

interface PackageJson {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

interface LockPackage {
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  libc?: string[];
}

function packageDir(name: string, from: string): string {
  // Node's lookup: the nearest node_modules upwards from the requiring package.
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === dirname(dir)) throw new Error(`cannot find ${name} from ${from}: run npm ci first`);
  }
}

function wanted(name: string): boolean {
  return !INSTALL_ONLY.has(name) && (!name.startsWith('@img/sharp-') || SHARP_LINUX_X64.includes(name));
}

/** The layer's packages and their folders, found from `root` as Node would resolve them. */
function closure(root: string): Map<string, string> {
  const found = new Map<string, string>();
  const visit = (name: string, from: string) => {
    if (found.has(name) || !wanted(name)) return;
    const dir = packageDir(name, from);
    found.set(name, dir);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) visit(dep, dir);
  };
  for (const name of ROOTS) visit(name, root);
  return found;
}

/** Whether this machine's node_modules holds the linux-x64 packages, so the layer can be copied. */
export function hostCanServeLayer(root = REPO): boolean {
  if (process.platform !== 'linux' || process.arch !== 'x64') return false;
  return SHARP_LINUX_X64.every((name) => existsSync(join(root, 'node_modules', name, 'package.json')));
}

function layerSource(options: RuntimeLayerOptions): LayerSource {
  const chosen = options.source ?? process.env.LOOKALIKE_LAYER_SOURCE;
  if (chosen === undefined || chosen === '') return hostCanServeLayer() ? 'host' : 'registry';
  if (chosen !== 'host' && chosen !== 'registry') {
    throw new Error(`LOOKALIKE_LAYER_SOURCE must be host or registry, not ${JSON.stringify(chosen)}`);
  }
  return chosen;
}

/** Allowed by a package's `os`/`cpu`/`libc` list (absent: any; `!x` entries exclude). */
function allows(list: string[] | undefined, value: string): boolean {
  if (!list || list.length === 0) return true;
  if (list.includes(`!${value}`)) return false;
  return list.includes(value) || list.every((entry) => entry.startsWith('!'));
}

/**
 * The lock file's version of every package the roots pull in on Lambda's platform, including the
 * install-only ones (so npm resolves nothing from a range and reads only what the lock names).
 */
export function lockedVersions(lockFile = join(REPO, 'package-lock.json')): Record<string, string> {
  const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as { packages: Record<string, LockPackage> };
  const versions: Record<string, string> = {};
  const lockPath = (name: string, from: string): string => {
    // Node's lookup, over lock paths: node_modules/a/node_modules/b, then upwards.
    for (let at = from; ; at = at.slice(0, Math.max(0, at.lastIndexOf('/node_modules/')))) {
      const candidate = at ? `${at}/node_modules/${name}` : `node_modules/${name}`;
      if (lock.packages[candidate]) return candidate;
      if (!at) throw new Error(`package-lock.json has no ${name}: run npm install`);
    }
  };
  const visit = (name: string, from: string) => {
    const path = lockPath(name, from);
    const entry = lock.packages[path] as LockPackage;
    const fits =
      allows(entry.os, LAMBDA_PLATFORM.os) &&
      allows(entry.cpu, LAMBDA_PLATFORM.cpu) &&
      allows(entry.libc, LAMBDA_PLATFORM.libc);
    if (!fits || name in versions) return;
    if (name.startsWith('@img/sharp-') && !SHARP_LINUX_X64.includes(name)) return;
    versions[name] = entry.version;
    for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) visit(dep, path);
  };
  for (const name of ROOTS) visit(name, '');
  return versions;
}

/** Installs the locked packages for linux-x64 into a scratch project; returns its folder. */
function installForLambda(npmArgs: readonly string[]): string {
  const project = mkdtempSync(join(tmpdir(), 'lookalike-runtime-layer-'));
  // Every package pinned at the top level: npm dedupes onto them and never picks from a range.
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify(
      { name: 'lookalike-runtime-layer', private: true, dependencies: lockedVersions() },
      null,
      2,
    ),
  );
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  execFileSync(
    npm,
    [
      'install',
      `--os=${LAMBDA_PLATFORM.os}`,
      `--cpu=${LAMBDA_PLATFORM.cpu}`,
      `--libc=${LAMBDA_PLATFORM.libc}`,
      // onnxruntime-node's script would fetch GPU providers; sharp's only checks the host.
      '--ignore-scripts',
      '--no-package-lock',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      ...npmArgs,
    ],
    { cwd: project, stdio: ['ignore', 'ignore', 'inherit'], shell: process.platform === 'win32' },
  );
  return project;
}

const DROP_FILE = /(\.md|\.markdown|\.d\.ts|\.d\.cts|\.d\.mts|\.map|\.ts|LICENSE-docs)$/i;

function keep(name: string, relativePath: string): boolean {
  if (name === 'onnxruntime-node') {
    if (relativePath.startsWith('script') || relativePath.startsWith('lib')) return false;
    const bin = relativePath.split('/');
    // bin/napi-v6/<platform>/<arch>/...: keep linux/x64 only.
    if (bin[0] === 'bin' && bin.length >= 3 && bin[2] !== 'linux') return false;
    if (bin[0] === 'bin' && bin.length >= 4 && bin[3] !== 'x64') return false;
  }
  if (name === 'sharp' && (relativePath.startsWith('src') || relativePath.startsWith('install')))
    return false;
  return !DROP_FILE.test(relativePath);
}

export function buildRuntimeLayer(options: RuntimeLayerOptions = {}): {
  dir: string;
  bytes: number;
  packages: string[];
  source: LayerSource;
} {
  const target = join(options.dir ?? RUNTIME_LAYER_DIR, 'nodejs', 'node_modules');
  const source = layerSource(options);
  const installed = source === 'registry' ? installForLambda(options.npmArgs ?? []) : undefined;
  try {
    return { ...copyLayer(closure(installed ?? REPO), target), source };
  } finally {
    if (installed) rmSync(installed, { recursive: true, force: true });
  }
}

function copyLayer(
  packages: Map<string, string>,
  target: string,
): { dir: string; bytes: number; packages: string[] } {
  const staging = `${target}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  for (const [name, source] of [...packages].sort(([a], [b]) => a.localeCompare(b))) {
    const destination = join(staging, name);
    mkdirSync(dirname(destination), { recursive: true });
    cpSync(source, destination, {
      recursive: true,
      dereference: true,
      filter: (path) => {
        // keep() speaks in '/' paths on every OS.
        const rel = relative(source, path).split(sep).join('/');
        if (rel === '') return true;
        if (rel.split('/').includes('node_modules')) return false;
        return keep(name, rel);
      },
    });
  }
  const manifest = Object.fromEntries(
    [...packages.keys()].sort().map((name) => {
      const pkg = JSON.parse(
        readFileSync(join(packages.get(name) as string, 'package.json'), 'utf8'),
      ) as PackageJson;
      return [name, pkg.version];
    }),
  );
  writeFileSync(join(staging, '.lookalike-layer.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(dirname(target), { recursive: true });
  renameSync(staging, target);
  return {
    dir: dirname(target),
    bytes: directoryBytes(target),
    packages: Object.keys(manifest),
  };
}

export function runtimeLayerIsBuilt(): boolean {
  return existsSync(join(RUNTIME_LAYER_DIR, 'nodejs', 'node_modules', '.lookalike-layer.json'));
}

export function ensureRuntimeLayer(): string {
  if (!runtimeLayerIsBuilt()) buildRuntimeLayer();
  return RUNTIME_LAYER_DIR;
}

export function directoryBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? directoryBytes(path) : statSync(path).size;
  }
  return total;
}

if (require.main === module) {
  if (process.argv.includes('--if-missing') && runtimeLayerIsBuilt()) {
    console.log(`runtime layer already built at ${relative(process.cwd(), RUNTIME_LAYER_DIR)}`);
  } else {
    const { bytes, packages, source, dir } = buildRuntimeLayer(
      process.argv.includes('--from-registry') ? { source: 'registry' } : {},
    );
    console.log(
      `runtime layer (from ${source}): ${packages.join(', ')}; ${(bytes / 1e6).toFixed(1)} MB unzipped at ${relative(process.cwd(), dir)}`,
    );
  }
}

/**
 * Builds the runtime layer: `layers/runtime/nodejs/node_modules` with onnxruntime-node and sharp and
 * only what they need at run time on linux-x64 Lambda. The packages are copied from the repo's own
 * node_modules, so the layer carries exactly the versions pinned in package-lock.json and the build
 * works offline. Usage: `npm run layer` (`--if-missing` skips a layer that is already built).
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const REPO = resolve(__dirname, '..', '..');
export const RUNTIME_LAYER_DIR = join(REPO, 'layers', 'runtime');
const TARGET = join(RUNTIME_LAYER_DIR, 'nodejs', 'node_modules');
const ROOTS = ['onnxruntime-node', 'sharp'];
/** Dependencies used only by install scripts (onnxruntime-node's GPU download), never at run time. */
const INSTALL_ONLY = new Set(['adm-zip', 'global-agent']);
const PLATFORM_PACKAGE = /^@img\/sharp-(libvips-)?(?<platform>[a-z0-9]+)-(?<arch>[a-z0-9]+)$/;

interface PackageJson {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
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
  const platform = PLATFORM_PACKAGE.exec(name)?.groups;
  return !INSTALL_ONLY.has(name) && (!platform || (platform.platform === 'linux' && platform.arch === 'x64'));
}

function closure(): Map<string, string> {
  const found = new Map<string, string>();
  const visit = (name: string, from: string) => {
    if (found.has(name) || !wanted(name)) return;
    const dir = packageDir(name, from);
    found.set(name, dir);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) visit(dep, dir);
  };
  for (const root of ROOTS) visit(root, REPO);
  return found;
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

export function buildRuntimeLayer(): { dir: string; bytes: number; packages: string[] } {
  const staging = `${TARGET}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  const packages = closure();
  for (const [name, source] of [...packages].sort(([a], [b]) => a.localeCompare(b))) {
    const destination = join(staging, name);
    mkdirSync(dirname(destination), { recursive: true });
    cpSync(source, destination, {
      recursive: true,
      dereference: true,
      filter: (path) => {
        const rel = relative(source, path);
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
  rmSync(TARGET, { recursive: true, force: true });
  mkdirSync(dirname(TARGET), { recursive: true });
  renameSync(staging, TARGET);
  return {
    dir: join(RUNTIME_LAYER_DIR, 'nodejs'),
    bytes: directoryBytes(TARGET),
    packages: Object.keys(manifest),
  };
}

export function runtimeLayerIsBuilt(): boolean {
  return existsSync(join(TARGET, '.lookalike-layer.json'));
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
    console.log(`runtime layer already built at ${relative(process.cwd(), TARGET)}`);
  } else {
    const { bytes, packages } = buildRuntimeLayer();
    console.log(
      `runtime layer: ${packages.join(', ')}; ${(bytes / 1e6).toFixed(1)} MB unzipped at ${relative(process.cwd(), TARGET)}`,
    );
  }
}

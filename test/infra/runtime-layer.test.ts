/**
 * The runtime layer built the way a macOS, Windows or Linux arm64 machine builds it: from the npm
 * registry for linux-x64 (here `--prefer-offline`, from the npm cache), into a folder outside the
 * repository, then loaded by a fresh Node process that can see nothing but that folder.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRuntimeLayer, hostCanServeLayer, lockedVersions } from '../../layers/runtime/build';

const REPO = join(__dirname, '..', '..');
const MODEL_DIR = join(REPO, 'layers', 'model', 'dist');
const manifest = JSON.parse(readFileSync(join(MODEL_DIR, 'manifest.json'), 'utf8')) as {
  file: string;
  input: { name: string; width: number; height: number; dataType?: string };
  output: { name: string; dim: number };
};

/** Runs in the child: sharp resizes a generated image, onnxruntime-node embeds it with the model. */
const LOAD_AND_RUN = `
const [layer, modelPath, inputName, outputName, width, height, dataType] = process.argv.slice(1);
const resolvedFrom = (name) => require.resolve(name);
(async () => {
  const sharp = require('sharp');
  const ort = require('onnxruntime-node');
  const tiny = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#3366cc' } }).png().toBuffer();
  const { data, info } = await sharp(tiny)
    .resize(Number(width), Number(height), { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const session = await ort.InferenceSession.create(modelPath);
  const input = dataType === 'uint8'
    ? new ort.Tensor('uint8', new Uint8Array(data), [1, info.height, info.width, 3])
    : new ort.Tensor('float32', Float32Array.from(data, (v) => v / 255), [1, info.height, info.width, 3]);
  const output = (await session.run({ [inputName]: input }))[outputName];
  console.log(JSON.stringify({
    sharpFrom: resolvedFrom('sharp').startsWith(layer),
    ortFrom: resolvedFrom('onnxruntime-node').startsWith(layer),
    pixel: [...data.subarray(0, 3)],
    dims: output.dims,
    finite: Array.from(output.data).every(Number.isFinite),
  }));
})().catch((error) => { console.error(error); process.exit(1); });
`;

describe('runtime layer from the npm registry (deploying from another OS or CPU)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'lookalike-layer-test-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('copies from this machine only when it has the linux-x64 sharp packages', () => {
    const elsewhere = join(scratch, 'elsewhere');
    mkdirSync(join(elsewhere, 'node_modules', '@img', 'sharp-darwin-arm64'), { recursive: true });

    expect(hostCanServeLayer(elsewhere)).toBe(false);
    expect(hostCanServeLayer(REPO)).toBe(process.platform === 'linux' && process.arch === 'x64');
  });

  it('installs the locked versions for linux-x64, pruned, and they load and run in a bare Node process', () => {
    const layerDir = join(scratch, 'layer');

    const built = buildRuntimeLayer({ dir: layerDir, source: 'registry', npmArgs: ['--prefer-offline'] });

    const modules = join(layerDir, 'nodejs', 'node_modules');
    const packages = JSON.parse(readFileSync(join(modules, '.lookalike-layer.json'), 'utf8')) as Record<
      string,
      string
    >;
    const locked = lockedVersions();
    expect(built.source).toBe('registry');
    for (const [name, version] of Object.entries(packages))
      expect([name, version]).toEqual([name, locked[name]]);
    expect(Object.keys(packages)).toEqual(
      expect.arrayContaining([
        'onnxruntime-node',
        'sharp',
        '@img/sharp-linux-x64',
        '@img/sharp-libvips-linux-x64',
      ]),
    );
    expect(
      Object.keys(packages).filter((name) => /^@img\/sharp-/.test(name) && !/linux-x64$/.test(name)),
    ).toEqual([]);
    const ortBinaries = join(modules, 'onnxruntime-node', 'bin', 'napi-v6');
    expect(readdirSync(ortBinaries)).toEqual(['linux']);
    expect(readdirSync(join(ortBinaries, 'linux'))).toEqual(['x64']);

    // cwd and NODE_PATH inside the scratch folder: the repository's node_modules is out of reach.
    const report = JSON.parse(
      execFileSync(
        process.execPath,
        [
          '-e',
          LOAD_AND_RUN,
          modules,
          join(MODEL_DIR, manifest.file),
          manifest.input.name,
          manifest.output.name,
          String(manifest.input.width),
          String(manifest.input.height),
          manifest.input.dataType ?? 'float32',
        ],
        {
          cwd: scratch,
          env: { PATH: process.env.PATH ?? '', NODE_PATH: modules },
          encoding: 'utf8',
        },
      )
        .trim()
        .split('\n')
        .pop() as string,
    ) as { sharpFrom: boolean; ortFrom: boolean; pixel: number[]; dims: number[]; finite: boolean };
    expect(report).toEqual({
      sharpFrom: true,
      ortFrom: true,
      pixel: [0x33, 0x66, 0xcc],
      dims: [1, manifest.output.dim],
      finite: true,
    });
  }, 300_000);
});

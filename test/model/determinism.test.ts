import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelManifestSchema } from '../../functions/embedding/model-manifest';
import { buildModel } from '../../layers/model/build';

// Index and query vectors are only comparable if the same inputs always give the same model, so a
// rebuild (CI, another developer, a deploy) must reproduce the artefact bit for bit.
describe('model build', () => {
  const directories = [
    mkdtempSync(join(tmpdir(), 'lookalike-model-a-')),
    mkdtempSync(join(tmpdir(), 'lookalike-model-b-')),
  ];

  afterAll(() => {
    for (const directory of directories) rmSync(directory, { recursive: true, force: true });
  });

  it('is byte-identical from run to run, with a valid manifest whose id hashes the model', async () => {
    const first = await buildModel(directories[0]);
    const second = await buildModel(directories[1]);

    const model = (built: typeof first) => readFileSync(built.modelPath);
    const manifest = (built: typeof first) => readFileSync(built.manifestPath);
    expect(model(second).equals(model(first))).toBe(true);
    expect(manifest(second).equals(manifest(first))).toBe(true);

    const parsed = ModelManifestSchema.parse(JSON.parse(manifest(first).toString('utf8')));
    expect(parsed.modelId).toMatch(/-[0-9a-f]{16}$/);
    expect(parsed.file).toBe('model.onnx');
  }, 400_000);
});

/**
 * The rollout's stack props: `activeModelId` pins the served model (default: the model layer's, so a
 * stack keeps its model on upgrade) and `models` deploys others beside it, each embedded on upload.
 * A switch or a rollback is a change of `activeModelId` alone.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ENV } from '../../functions/contract/environment';
import { LookalikeStack, type LookalikeStackProps } from '../../infra/lookalike-stack';

const MODEL_DIR = join(__dirname, '..', '..', 'layers', 'model', 'dist');
const DEFAULT_ID = (JSON.parse(readFileSync(join(MODEL_DIR, 'manifest.json'), 'utf8')) as { modelId: string })
  .modelId;
let scratch: string;

/** A model folder: the default model's ONNX under another id (and, optionally, another dimension). */
function modelFolder(modelId: string, dim = 128): string {
  const dir = join(scratch, modelId);
  cpSync(MODEL_DIR, dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify({ ...manifest, modelId, output: { ...manifest.output, dim } }),
  );
  return dir;
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'rollout-infra-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The stack without bundling: the props' effect on the functions' environment and layers. */
function stackWith(props: LookalikeStackProps): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new LookalikeStack(app, 'Rollout', {
    env: { account: '123456789012', region: 'eu-west-1' },
    ...props,
  });
  return Template.fromStack(stack);
}

/** Each function's environment and layer count, by the POWERTOOLS_SERVICE_NAME the stack gives it. */
function functionsOf(template: Template) {
  const byName = new Map<string, { env: Record<string, unknown>; layers: number }>();
  for (const resource of Object.values(template.findResources('AWS::Lambda::Function'))) {
    const props = resource.Properties as {
      Environment?: { Variables?: Record<string, unknown> };
      Layers?: unknown[];
    };
    const env = props.Environment?.Variables ?? {};
    if (typeof env.POWERTOOLS_SERVICE_NAME === 'string')
      byName.set(env.POWERTOOLS_SERVICE_NAME, { env, layers: props.Layers?.length ?? 0 });
  }
  return (name: string) => {
    const fn = byName.get(name);
    if (!fn) throw new Error(`no function ${name}`);
    return fn;
  };
}

const SERVING = ['recommend', 'track', 'compact'];

describe('activeModelId and models', () => {
  it('serve the model layer by default, with no model beside it', () => {
    const fn = functionsOf(stackWith({}));
    for (const name of SERVING) expect(fn(name).env[ENV.ACTIVE_MODEL_ID]).toBe(DEFAULT_ID);
    expect(fn('embed').env[ENV.EXTRA_MODEL_MANIFESTS]).toBeUndefined();
    expect(fn('embed').layers).toBe(2);
  });

  it('deploy a model beside the active one: uploads are embedded in both, the layer model still serves', () => {
    const fn = functionsOf(stackWith({ models: [modelFolder('second-128')] }));
    for (const name of ['embed', 'reembed']) {
      expect(fn(name).env[ENV.EXTRA_MODEL_MANIFESTS]).toBe('/opt/models/second-128/manifest.json');
      expect(fn(name).layers).toBe(3);
    }
    for (const name of SERVING) expect(fn(name).env[ENV.ACTIVE_MODEL_ID]).toBe(DEFAULT_ID);
    expect(fn('recommend').env[ENV.LOOKALIKE_MODEL_MANIFEST]).toBe('/opt/model/manifest.json');
  });

  it('switch the served model by the prop alone; embedding keeps both models for a rollback', () => {
    const fn = functionsOf(stackWith({ models: [modelFolder('second-128')], activeModelId: 'second-128' }));
    for (const name of SERVING) {
      expect(fn(name).env[ENV.ACTIVE_MODEL_ID]).toBe('second-128');
      expect(fn(name).env[ENV.MODEL_DIMENSION]).toBe('128');
    }
    // Image search embeds queries with the served model.
    expect(fn('recommend').env[ENV.LOOKALIKE_MODEL_MANIFEST]).toBe('/opt/models/second-128/manifest.json');
    expect(fn('embed').env[ENV.EXTRA_MODEL_MANIFESTS]).toBe('/opt/models/second-128/manifest.json');
  });

  it('refuse a model that is not deployed, naming the deployed ones', () => {
    expect(() => stackWith({ activeModelId: 'nowhere' })).toThrow(
      `ModelLayers: activeModelId nowhere is not deployed (deployed: ${DEFAULT_ID}); add its folder to models`,
    );
  });

  it('with dynamodb-vector: switch the index model at the same dimension, refuse another dimension', () => {
    const same = functionsOf(
      stackWith({
        servingBackend: 'dynamodb-vector',
        models: [modelFolder('second-128')],
        activeModelId: 'second-128',
      }),
    );
    expect(same('embed').env[ENV.VECTOR_INDEX_MODEL_ID]).toBe('second-128');
    expect(same('embed').env[ENV.VECTOR_INDEX_DIMENSION]).toBe('128');
    expect(() =>
      stackWith({
        servingBackend: 'dynamodb-vector',
        models: [modelFolder('wide-256', 256)],
        activeModelId: 'wide-256',
      }),
    ).toThrow(/vector index holds 128-d vectors and activeModelId wide-256 is 256-d/);
  });
});

import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Architecture, Code, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { loadManifest, type ModelManifest } from '../../functions/embedding/model-manifest';

export const REPO_ROOT = resolve(__dirname, '..', '..');

/** The newest Node.js runtime aws-cdk-lib offers; onnxruntime-node is reported to crash on arm64 Lambda. */
export const FUNCTION_RUNTIME = Runtime.NODEJS_24_X;
export const FUNCTION_ARCHITECTURE = Architecture.X86_64;

/** Native packages that live in the runtime layer, so bundles must not include them. */
export const LAYER_MODULES = ['onnxruntime-node', 'sharp'];
/**
 * What the bundles leave to `require` at run time: the layer's native packages only. This replaces
 * CDK's default (`@aws-sdk/*`), so the SDK is bundled: the runtime's own SDK is a version we do not
 * choose (SearchVectorsCommand needs client-dynamodb >= 3.1103.0), the pinned one is what the tests run.
 */
export const EXTERNAL_MODULES = [...LAYER_MODULES];

/** Where the model layer puts the manifest inside the function's file system. */
export const MANIFEST_PATH_IN_LAMBDA = '/opt/model/manifest.json';

export interface ModelLayersProps {
  /**
   * Folder holding `manifest.json` and the ONNX file it names.
   * @default layers/model/dist (built by `npm run model`)
   */
  readonly modelDir?: string;
  /**
   * Folder whose `nodejs/node_modules` holds onnxruntime-node and sharp for linux-x64.
   * @default layers/runtime (built by `npm run layer`)
   */
  readonly runtimeDir?: string;
}

/** Publishes the runtime layer (onnxruntime-node + sharp) and the model layer (ONNX + manifest). */
export class ModelLayers extends Construct {
  public readonly runtimeLayer: LayerVersion;
  public readonly modelLayer: LayerVersion;
  public readonly manifest: ModelManifest;

  constructor(scope: Construct, id: string, props: ModelLayersProps = {}) {
    super(scope, id);
    const modelDir = props.modelDir ?? join(REPO_ROOT, 'layers', 'model', 'dist');
    const runtimeDir = props.runtimeDir ?? join(REPO_ROOT, 'layers', 'runtime');
    const manifestFile = join(modelDir, 'manifest.json');
    if (!existsSync(manifestFile)) {
      throw new Error(`ModelLayers: no manifest.json in ${modelDir}; run \`npm run model\` or pass modelDir`);
    }
    if (!existsSync(join(runtimeDir, 'nodejs', 'node_modules', 'onnxruntime-node'))) {
      throw new Error(
        `ModelLayers: ${runtimeDir}/nodejs/node_modules has no onnxruntime-node; run \`npm run layer\``,
      );
    }
    const loaded = loadManifest(manifestFile);
    this.manifest = loaded.manifest;

    this.runtimeLayer = new LayerVersion(this, 'Runtime', {
      code: Code.fromAsset(runtimeDir, { exclude: ['*', '!nodejs', '!nodejs/**'] }),
      compatibleRuntimes: [FUNCTION_RUNTIME],
      compatibleArchitectures: [FUNCTION_ARCHITECTURE],
      description: 'onnxruntime-node and sharp, linux-x64 only',
    });

    this.modelLayer = new LayerVersion(this, 'Model', {
      code: Code.fromAsset(stageModelLayer(loaded.modelPath, manifestFile)),
      compatibleRuntimes: [FUNCTION_RUNTIME],
      compatibleArchitectures: [FUNCTION_ARCHITECTURE],
      description: `embedding model ${loaded.manifest.modelId} (${loaded.manifest.output.dim}-d)`,
    });
  }
}

/** Lambda extracts a layer into /opt: stage the files under model/ so they land in /opt/model. */
function stageModelLayer(modelPath: string, manifestFile: string): string {
  const staging = join(REPO_ROOT, '.cache', 'model-layer');
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(join(staging, 'model'), { recursive: true });
  cpSync(manifestFile, join(staging, 'model', 'manifest.json'));
  cpSync(modelPath, join(staging, 'model', loadManifest(manifestFile).manifest.file));
  return staging;
}

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

/** Where a model deployed beside it (ModelLayersProps.models) puts its manifest: one folder per model id. */
export const extraManifestPathInLambda = (modelId: string) => `/opt/models/${modelId}/manifest.json`;

/** A model the functions can load: its manifest, its layer, and where the manifest is in Lambda. */
export interface DeployedModel {
  readonly manifest: ModelManifest;
  readonly layer: LayerVersion;
  readonly manifestPathInLambda: string;
}

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
  /**
   * Folders of models deployed beside the model layer's (each a manifest.json and its ONNX file, as
   * `npm run model` builds them), each published as its own layer.
   * @default none
   */
  readonly models?: string[];
  /**
   * The model the functions serve, by model id: the model layer's or one of `models`.
   * @default the model layer's model
   */
  readonly activeModelId?: string;
}

/** Publishes the runtime layer (onnxruntime-node + sharp) and the model layer (ONNX + manifest). */
export class ModelLayers extends Construct {
  public readonly runtimeLayer: LayerVersion;
  public readonly modelLayer: LayerVersion;
  /** The model layer's manifest (always embedded, first). */
  public readonly manifest: ModelManifest;
  /** The model layer's model and the `models` beside it, by model id. */
  public readonly models: ReadonlyMap<string, DeployedModel>;
  /** The models deployed beside the model layer's. */
  public readonly extraModels: readonly DeployedModel[];
  /** The model the functions serve (activeModelId). */
  public readonly active: DeployedModel;

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

    const models = new Map<string, DeployedModel>([
      [
        this.manifest.modelId,
        { manifest: this.manifest, layer: this.modelLayer, manifestPathInLambda: MANIFEST_PATH_IN_LAMBDA },
      ],
    ]);
    const extras: DeployedModel[] = [];
    for (const [i, dir] of (props.models ?? []).entries()) {
      const file = join(resolve(dir), 'manifest.json');
      if (!existsSync(file)) throw new Error(`ModelLayers: no manifest.json in models[${i}] (${dir})`);
      const extra = loadManifest(file);
      const { modelId } = extra.manifest;
      if (models.has(modelId)) throw new Error(`ModelLayers: model ${modelId} is deployed twice`);
      const model: DeployedModel = {
        manifest: extra.manifest,
        layer: new LayerVersion(this, `Model${i + 1}`, {
          code: Code.fromAsset(stageExtraModelLayer(extra.modelPath, file, modelId)),
          compatibleRuntimes: [FUNCTION_RUNTIME],
          compatibleArchitectures: [FUNCTION_ARCHITECTURE],
          description: `embedding model ${modelId} (${extra.manifest.output.dim}-d), beside the active one`,
        }),
        manifestPathInLambda: extraManifestPathInLambda(modelId),
      };
      models.set(modelId, model);
      extras.push(model);
    }
    this.models = models;
    this.extraModels = extras;
    const activeId = props.activeModelId ?? this.manifest.modelId;
    const active = models.get(activeId);
    if (!active) {
      throw new Error(
        `ModelLayers: activeModelId ${activeId} is not deployed (deployed: ${[...models.keys()].join(', ')}); add its folder to models`,
      );
    }
    this.active = active;
  }

  /** What a function that embeds images carries: the runtime, the model layer and every model beside it. */
  embeddingLayers(): LayerVersion[] {
    return [this.runtimeLayer, this.modelLayer, ...this.extraModels.map((model) => model.layer)];
  }
}

/** A model beside the active one lands in /opt/models/<modelId>, so several layers never collide. */
function stageExtraModelLayer(modelPath: string, manifestFile: string, modelId: string): string {
  const staging = join(REPO_ROOT, '.cache', 'model-layers', modelId);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(join(staging, 'models', modelId), { recursive: true });
  cpSync(manifestFile, join(staging, 'models', modelId, 'manifest.json'));
  cpSync(modelPath, join(staging, 'models', modelId, loadManifest(manifestFile).manifest.file));
  return staging;
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

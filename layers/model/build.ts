/**
 * Builds the chosen descriptor (layers/model/chosen-descriptor.ts, measured in docs/descriptors.md)
 * into dist/model.onnx + dist/manifest.json. Byte-identical from run to run on the same machine.
 *
 *   npm run model -- [--descriptor default|previous] [outDir]
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { type ModelManifest, ModelManifestSchema } from '../../functions/embedding/model-manifest';
import { CHOSEN_DESCRIPTOR, NAMED_DESCRIPTORS } from './chosen-descriptor';
import { convertToOnnx, EMBEDDING_OUTPUT, pooledOutputName } from './convert';
import {
  combineBlocks,
  type DescriptorSpec,
  describeDescriptor,
  descriptorLabel,
  fitTransform,
  modelIdLabel,
} from './descriptor';
import { type EmojiPackage, emojiPackageVersion, FITTING_STRIDE, fittingSet } from './emoji-dataset';
import { createSession, extractFeatures } from './features';
import { OPSET, type StaticQuantisation } from './onnx-graph';
import { canonicalPreprocessing, PREPROCESSING } from './preprocess';
import { calibrateActivations, DEFAULT_ACTIVATION_TYPE } from './quantise';
import { loadSourceModel, nsfwjsVersion } from './source-model';

export const DEFAULT_MODEL_DIR = join(__dirname, 'dist');
const MODEL_FILE = 'model.onnx';
/** Serving and domain code the build runs: a change there refits the model. */
const SHARED_SOURCES = [
  resolve(__dirname, '../../functions/embedding/preprocess.ts'),
  resolve(__dirname, '../../functions/domain/symmetric-eigen.ts'),
];
const MANIFEST_FILE = 'manifest.json';
const INPUT_NAME = 'input';
/** The report package's transform is fitted on this package too, so docs/descriptors.md measures this model. */
const FITTING_PACKAGE: EmojiPackage = 'google';
/**
 * Two threads for the fitting images: onnxruntime's CPU kernels split work by output, so the
 * features (and the fitted constants) come out the same as with one thread, twice as fast.
 */
const FITTING_THREADS = 2;

export interface BuiltModel {
  manifestPath: string;
  modelPath: string;
  manifest: ModelManifest;
}

const log = (message: string) => process.stderr.write(`[model] ${message}\n`);

/** Builds the model and manifest into outDir (created if needed); files are replaced atomically. */
export async function buildModel(
  outDir: string = DEFAULT_MODEL_DIR,
  spec: DescriptorSpec = CHOSEN_DESCRIPTOR,
): Promise<BuiltModel> {
  const started = Date.now();
  const source = loadSourceModel(spec.model);
  const size = source.inputSize;

  let projection: ReturnType<typeof fitTransform>;
  const fittingImages = fittingSet(FITTING_PACKAGE);
  const fittingPaths = fittingImages.map((image) => image.path);
  // int8: activation ranges from the fitting set, and the head fitted on the int8 network's own
  // features, the model docs/quantisation.md measures.
  let quantisation: StaticQuantisation | undefined;
  if (spec.quantisation) {
    const ranges = await calibrateActivations(
      source,
      { pooledOutputs: spec.blocks },
      fittingPaths,
      spec.quantisation.calibration,
    );
    quantisation = { ranges, activationType: DEFAULT_ACTIVATION_TYPE };
    log(
      `calibrated ${ranges.size} activations on ${fittingPaths.length} images in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  if (spec.transform.kind !== 'none') {
    const { bytes } = convertToOnnx(source, { pooledOutputs: spec.blocks, quantisation });
    const session = await createSession(bytes, FITTING_THREADS);
    const names = spec.blocks.map(pooledOutputName);
    const pooled = await extractFeatures(session, fittingPaths, size, PREPROCESSING, names);
    await session.release();
    const features = fittingImages.map((_, i) =>
      combineBlocks(
        names.map((name) => pooled.get(name)?.[i] as Float32Array),
        spec.l2PerBlock,
      ),
    );
    projection = fitTransform(spec, features);
    log(
      `fitted ${spec.transform.kind} on ${features.length} images in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }

  const description = describeDescriptor(spec);
  const converted = convertToOnnx(source, {
    inputName: INPUT_NAME,
    head: { blocks: spec.blocks, l2PerBlock: spec.l2PerBlock, projection, l2Output: false },
    quantisation,
    ...(spec.inputType === 'uint8'
      ? { uint8Input: { mean: PREPROCESSING.mean, std: PREPROCESSING.std } }
      : {}),
    docString: `Lookalike image embedding: ${description}. From nsfwjs ${source.packageVersion} (${source.name}).`,
  });
  const preprocessingJson = canonicalPreprocessing(PREPROCESSING, size, size);
  const digest = createHash('sha256')
    .update(converted.bytes)
    .update('\n')
    .update(preprocessingJson)
    .digest('hex');

  const manifest: ModelManifest = ModelManifestSchema.parse({
    modelId: `${modelIdLabel(spec)}-${digest.slice(0, 16)}`,
    file: MODEL_FILE,
    input: {
      name: INPUT_NAME,
      width: size,
      height: size,
      channels: 3,
      layout: 'NHWC',
      ...(spec.inputType === 'uint8' ? { dataType: 'uint8' } : {}),
    },
    preprocess: PREPROCESSING,
    output: { name: EMBEDDING_OUTPUT, dim: converted.embeddingDim, description },
    source: {
      package: 'nsfwjs',
      packageVersion: source.packageVersion,
      license: 'MIT',
      network: source.name,
      descriptor: descriptorLabel(spec),
      blocks: spec.blocks,
      l2PerBlock: spec.l2PerBlock,
      transform: spec.transform,
      fittedOn:
        spec.transform.kind === 'none'
          ? null
          : `emoji-datasource-${FITTING_PACKAGE} ${emojiPackageVersion(FITTING_PACKAGE)}: ${fittingImages.length} images ` +
            `(every ${FITTING_STRIDE === 2 ? 'second' : `${FITTING_STRIDE}th`} emoji by sort_order outside the evaluation sets)`,
      extraOutputs: converted.outputs.map((o) => o.name).filter((name) => name !== EMBEDDING_OUTPUT),
      evaluation: 'docs/descriptors.md',
      opset: OPSET,
      buildFingerprint: buildFingerprint(spec),
    },
  });

  mkdirSync(outDir, { recursive: true });
  const modelPath = join(outDir, MODEL_FILE);
  const manifestPath = join(outDir, MANIFEST_FILE);
  // Manifest last: a reader that finds a manifest also finds the model it describes.
  writeAtomically(modelPath, converted.bytes);
  writeAtomically(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  log(
    `${manifest.modelId}: ${(converted.bytes.length / 1e6).toFixed(1)} MB, ${manifest.output.dim}-d, ` +
      `built in ${((Date.now() - started) / 1000).toFixed(1)} s -> ${outDir}`,
  );
  return { manifestPath, modelPath, manifest };
}

/**
 * Builds only when outDir has no manifest, or one built from different inputs (sources, package
 * versions, descriptor) or whose model file no longer matches its id. Another descriptor than the
 * chosen one (a second model for a rollout) is cached the same way in its own folder.
 */
export async function ensureModel(
  outDir: string = DEFAULT_MODEL_DIR,
  spec: DescriptorSpec = CHOSEN_DESCRIPTOR,
): Promise<BuiltModel> {
  const manifestPath = join(outDir, MANIFEST_FILE);
  const current = readCurrentBuild(manifestPath, spec);
  if (current) return current;
  log(existsSync(manifestPath) ? 'model is stale; rebuilding' : 'no model yet; building');
  return buildModel(outDir, spec);
}

function readCurrentBuild(manifestPath: string, spec: DescriptorSpec): BuiltModel | undefined {
  if (!existsSync(manifestPath)) return undefined;
  try {
    const manifest = ModelManifestSchema.parse(JSON.parse(readFileSync(manifestPath, 'utf8')));
    if (manifest.source?.buildFingerprint !== buildFingerprint(spec)) return undefined;
    const modelPath = resolve(dirname(manifestPath), manifest.file);
    if (!existsSync(modelPath)) return undefined;
    const preprocessingJson = canonicalPreprocessing(
      manifest.preprocess,
      manifest.input.width,
      manifest.input.height,
    );
    const digest = createHash('sha256')
      .update(readFileSync(modelPath))
      .update('\n')
      .update(preprocessingJson)
      .digest('hex');
    if (!manifest.modelId.endsWith(`-${digest.slice(0, 16)}`)) return undefined;
    return { manifestPath, modelPath, manifest };
  } catch {
    return undefined;
  }
}

/**
 * Everything the bytes depend on: this folder's build sources, the descriptor, and the versions
 * of the packages that supply weights, images, decoding and inference for the fit.
 */
function buildFingerprint(spec: DescriptorSpec): string {
  const hash = createHash('sha256');
  const sources = readdirSync(__dirname)
    .filter((file) => file.endsWith('.ts') && !file.startsWith('evaluate-'))
    .sort()
    .map((file) => join(__dirname, file));
  // The fitting images go through the embedder's own preprocessing, and the PCA through the shared
  // eigen-solver: a change in either refits the model.
  sources.push(...SHARED_SOURCES);
  for (const path of sources)
    hash.update(relative(__dirname, path)).update('\0').update(readFileSync(path)).update('\0');
  const packageVersion = (name: string) =>
    (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string })
      .version;
  hash.update(
    JSON.stringify({
      spec,
      nsfwjs: nsfwjsVersion(),
      emoji: emojiPackageVersion(FITTING_PACKAGE),
      onnxruntime: packageVersion('onnxruntime-node'),
      sharp: sharp.versions,
      node: process.versions.node,
    }),
  );
  return hash.digest('hex');
}

function writeAtomically(path: string, content: Uint8Array | string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, content);
  renameSync(temporary, path);
}

if (require.main === module) {
  const { values, positionals } = parseArgs({
    options: { descriptor: { type: 'string', default: 'default' } },
    allowPositionals: true,
  });
  const spec = NAMED_DESCRIPTORS[values.descriptor];
  if (!spec || positionals.length > 1) {
    console.error(
      `usage: npm run model -- [--descriptor ${Object.keys(NAMED_DESCRIPTORS).join('|')}] [outDir]` +
        (spec ? '' : `\nunknown descriptor: ${values.descriptor}`),
    );
    process.exit(2);
  }
  const outDir = positionals[0] ? resolve(positionals[0]) : DEFAULT_MODEL_DIR;
  buildModel(outDir, spec).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultManifestPath } from '../../../functions/embedding/embedder';

/**
 * The models a benchmark measures: each `--model <dir>` (a model directory holding manifest.json,
 * or the manifest itself), in the order given; none: the embedder's default (the model layer's
 * layers/model/dist). `npm run bench:x -- --model a --model b`.
 */
export function modelManifestsFromArgs(argv: readonly string[] = process.argv.slice(2)): string[] {
  const manifests: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = arg === '--model' ? argv[++i] : arg.startsWith('--model=') ? arg.slice(8) : undefined;
    if (arg !== '--model' && value === undefined) throw new Error(`unknown argument ${arg}`);
    if (!value) throw new Error('--model needs a model directory or manifest.json');
    const path = resolve(value);
    const manifest = existsSync(path) && statSync(path).isDirectory() ? join(path, 'manifest.json') : path;
    if (!existsSync(manifest)) throw new Error(`no model manifest at ${manifest}`);
    manifests.push(manifest);
  }
  return manifests.length > 0 ? manifests : [defaultManifestPath()];
}

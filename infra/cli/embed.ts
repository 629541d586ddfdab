/**
 * `npm run embed -- [--vectors] [--threads n] <files or folders...>`: one JSON line per file, image
 * or not, through the same embedder the functions use. Keeps going after a bad file.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { isDomainError } from '../../functions/domain/errors';
import { Embedder } from '../../functions/embedding/embedder';

async function* filesUnder(path: string): AsyncGenerator<string> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch {
    yield path; // reported as unreadable below
    return;
  }
  if (!info.isDirectory()) {
    yield path;
    return;
  }
  const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) yield* filesUnder(join(path, entry.name));
}

export function encodeVector(vector: Float32Array): string {
  const littleEndian = Buffer.alloc(vector.length * 4);
  for (let i = 0; i < vector.length; i++) littleEndian.writeFloatLE(vector[i] as number, i * 4);
  return littleEndian.toString('base64');
}

async function main(): Promise<void> {
  const program = new Command()
    .name('embed')
    .description('Embed image files with the Lookalike model, one JSON line per file')
    .argument('<paths...>', 'files or folders (searched recursively)')
    .option('--vectors', 'include the vector (base64 of little-endian float32)')
    .option('--threads <n>', 'onnxruntime threads (default: as the functions use)', (v) =>
      Number.parseInt(v, 10),
    )
    .parse();
  const paths = program.args;
  const options = program.opts<{ vectors?: boolean; threads?: number }>();
  const embedder = await Embedder.load({ threads: options.threads });
  let failures = 0;
  for (const path of paths) {
    for await (const file of filesUnder(path)) {
      const started = performance.now();
      let line: Record<string, unknown>;
      try {
        const embedding = await embedder.embed(await readFile(file));
        line = { file, ok: true, modelId: embedding.modelId, dim: embedding.vector.length };
        line.ms = Math.round((performance.now() - started) * 10) / 10;
        if (options.vectors) line.vector = encodeVector(embedding.vector);
      } catch (error) {
        failures++;
        line = isDomainError(error)
          ? { file, ok: false, code: error.code, message: error.message }
          : {
              file,
              ok: false,
              code: 'read_error',
              message: error instanceof Error ? error.message : String(error),
            };
      }
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
  }
  process.exitCode = failures > 0 ? 2 : 0;
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}

/**
 * Child process of `bench:embed` (bundled with esbuild, run with plain `node`): the cold start of an
 * embedding instance. Times are read from this process's own clock, whose origin is its start.
 * Usage: node embed-cold-start.js <image file>
 */
import { readFileSync } from 'node:fs';
import type * as EmbedderModule from '../../../functions/embedding/embedder';

const mainStartedMs = performance.now();

async function main(): Promise<void> {
  const image = readFileSync(process.argv[2] ?? '');
  const requireStarted = performance.now();
  // Required here, not imported, so that loading the module (and onnxruntime-node, sharp) is timed.
  const { Embedder } = require('../../../functions/embedding/embedder') as typeof EmbedderModule;
  const sessionStarted = performance.now();
  const embedder = await Embedder.load();
  const inferenceStarted = performance.now();
  const { vector } = await embedder.embed(image);
  const done = performance.now();
  process.stdout.write(
    `${JSON.stringify({
      bootMs: mainStartedMs,
      requireMs: sessionStarted - requireStarted,
      sessionMs: inferenceStarted - sessionStarted,
      firstEmbedMs: done - inferenceStarted,
      coldStartMs: done,
      dim: vector.length,
    })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});

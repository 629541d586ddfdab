/**
 * Writes docs/openapi.json from the route table and the handlers' schemas (see openapi.ts):
 *   npx tsx infra/local/write-openapi.ts
 * A unit test fails while the checked-in file differs from what this writes.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { generateOpenApi } from './openapi';

export const OPENAPI_FILE = join(__dirname, '..', '..', 'docs', 'openapi.json');

if (require.main === module) {
  writeFileSync(OPENAPI_FILE, `${JSON.stringify(generateOpenApi(), null, 2)}\n`);
  // Formatted as `npm run format` would, so the lint passes on a freshly written file.
  execFileSync(
    process.execPath,
    [require.resolve('@biomejs/biome/bin/biome'), 'format', '--write', OPENAPI_FILE],
    {
      stdio: 'ignore',
    },
  );
  process.stdout.write(`wrote ${relative(process.cwd(), OPENAPI_FILE)}\n`);
}

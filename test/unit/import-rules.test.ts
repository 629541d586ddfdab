/**
 * The dependency rules of docs/architecture.md are Biome `noRestrictedImports` overrides in
 * biome.json, checked by `npm run lint`. These tests put a probe file where the rule applies and run
 * the same checker on it, so a rule that stops matching (a moved folder, a changed pattern) fails here.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const REPO = join(__dirname, '..', '..');
const BIOME = join(REPO, 'node_modules', '.bin', 'biome');

/** Lints `source` as a file in `folder` (relative to the repository); the file is always removed. */
function lintAt(folder: string, source: string): { status: number | null; output: string } {
  const file = join(REPO, folder, `import-rule-probe-${randomUUID()}.ts`);
  try {
    writeFileSync(file, source);
    const result = spawnSync(BIOME, ['lint', relative(REPO, file)], { cwd: REPO, encoding: 'utf8' });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  } finally {
    rmSync(file, { force: true });
  }
}

const FUNCTIONS_RULE = 'functions/ must not import infra/';
const CONTRACT_RULE = 'functions/contract imports only node: builtins and other functions/contract files';

describe('import rules', () => {
  it('refuses every way a function could import infra/', () => {
    const { status, output } = lintAt(
      'functions/track',
      [
        "import { ROUTES } from '../../infra/routes';",
        "import type { LookalikeStack } from '../../infra/lookalike-stack';",
        "export { startLocalApp } from '../../infra/local/app';",
        "export const probe = [ROUTES, import('../../infra/app')] as unknown as LookalikeStack;",
        "export const loaded = require('../../infra/constructs/lookalike-function');",
        '',
      ].join('\n'),
    );
    expect(status).not.toBe(0);
    expect(output.split(FUNCTIONS_RULE)).toHaveLength(5);
    expect(output).toContain('lint/style/noCommonJs');
  });

  it('lets a function import the contract', () => {
    const { status, output } = lintAt(
      'functions/track',
      "import { ROUTES } from '../contract/routes';\n\nexport const probe = ROUTES;\n",
    );
    expect(output).not.toContain(FUNCTIONS_RULE);
    expect(status).toBe(0);
  });

  it('keeps the contract free of everything but node: builtins and other contract files', () => {
    const { status, output } = lintAt(
      'functions/contract',
      [
        "import { z } from 'zod';",
        "import { requiredEnv } from '../shared/config';",
        "import { CATALOGUE_PREFIX } from '../../infra/local/harness';",
        '',
        'export const probe = [z, requiredEnv, CATALOGUE_PREFIX];',
        '',
      ].join('\n'),
    );
    expect(status).not.toBe(0);
    expect(output.split(CONTRACT_RULE)).toHaveLength(4);
  });

  it('lets the contract import node: builtins and its own files', () => {
    const { status, output } = lintAt(
      'functions/contract',
      [
        "import { join } from 'node:path';",
        "import { ROUTES } from './routes';",
        '',
        'export const probe = [join, ROUTES];',
        '',
      ].join('\n'),
    );
    expect(output).not.toContain(CONTRACT_RULE);
    expect(status).toBe(0);
  });
});

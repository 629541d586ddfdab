/**
 * One DynamoDB Local per Jest run, shared by the integration test files. Global setup starts it in
 * Jest's main process; the workers (child processes) inherit its endpoint through process.env.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { DynamoDbLocal } from '../../infra/local/dynamodb-local';

/** Set by global setup, or beforehand by a developer who runs DynamoDB Local themselves. */
export const DYNAMODB_ENDPOINT_ENV = 'LOOKALIKE_DYNAMODB_ENDPOINT';
const INTEGRATION_PROJECT = 'integration';

const registry = globalThis as { [key: symbol]: DynamoDbLocal | undefined };
const HANDLE = Symbol.for('lookalike.test.sharedDynamoDb');

/** Global setup and teardown run in the same process, so they hand the instance over here. */
export const sharedDynamoDb = {
  get: (): DynamoDbLocal | undefined => registry[HANDLE],
  set: (instance: DynamoDbLocal | undefined): void => {
    registry[HANDLE] = instance;
  },
};

/** The part of Jest's GlobalConfig that tells whether integration tests are in this run. */
export interface JestRunSelection {
  readonly rootDir: string;
  readonly onlyChanged?: boolean;
  readonly findRelatedTests?: boolean;
  readonly changedSince?: string;
  readonly watch?: boolean;
  readonly watchAll?: boolean;
  readonly testPathPatterns?: {
    isSet(): boolean;
    toExecutor(options: { rootDir: string }): { isMatch(absolutePath: string): boolean };
  };
}

/**
 * True unless the run's project or path selection rules out every integration test file.
 * `--selectProjects` and `--ignoreProjects` are not in the GlobalConfig Jest hands to global setup,
 * so they are read from the command line of Jest's main process, where global setup runs.
 */
export function integrationTestsSelected(selection: JestRunSelection, argv = process.argv): boolean {
  const selected = flagValues(argv, '--selectProjects');
  if (selected.length && !selected.includes(INTEGRATION_PROJECT)) return false;
  if (flagValues(argv, '--ignoreProjects').includes(INTEGRATION_PROJECT)) return false;
  // Selections computed from git or imports are not known yet here; assume they may include it.
  if (selection.onlyChanged || selection.findRelatedTests || selection.changedSince) return true;
  const patterns = selection.testPathPatterns;
  if (!patterns?.isSet()) return true;
  const executor = patterns.toExecutor({ rootDir: selection.rootDir });
  return integrationTestFiles(selection.rootDir).some((file) => executor.isMatch(file));
}

/** Values of a repeatable list flag: `--flag a b`, `--flag=a`, until the next option. */
function flagValues(argv: readonly string[], flag: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg.startsWith(`${flag}=`)) values.push(arg.slice(flag.length + 1));
    if (arg !== flag) continue;
    while (i + 1 < argv.length && !argv[i + 1]?.startsWith('-')) values.push(argv[++i] ?? '');
  }
  return values;
}

function integrationTestFiles(rootDir: string): string[] {
  const folder = path.join(rootDir, 'test', INTEGRATION_PROJECT);
  try {
    return readdirSync(folder, { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.test.ts'))
      .map((file) => path.join(folder, file));
  } catch {
    return [];
  }
}

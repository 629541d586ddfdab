/**
 * The dependency rules of docs/architecture.md are Biome `noRestrictedImports` overrides in
 * biome.json, checked by `npm run lint`. These tests put a probe file where each rule applies and run
 * the same checker with the same configuration on it, so a rule that stops matching (a moved folder,
 * a changed pattern) fails here. The probes live in a temporary copy of the layout, not in the
 * repository: the infra tests hash every file under functions/ while other tests run, and a probe
 * appearing and vanishing there could break them.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPO = join(__dirname, '..', '..');
const BIOME = join(REPO, 'node_modules', '.bin', 'biome');

/** Lints `source` as `folder`/probe.ts under the repository's biome.json; the copy is always removed. */
function lintAt(folder: string, source: string): { status: number | null; output: string } {
  const root = mkdtempSync(join(tmpdir(), 'lookalike-import-rules-'));
  try {
    copyFileSync(join(REPO, 'biome.json'), join(root, 'biome.json'));
    mkdirSync(join(root, folder), { recursive: true });
    const file = join(folder, 'probe.ts');
    writeFileSync(join(root, file), source);
    const result = spawnSync(BIOME, ['lint', file], { cwd: root, encoding: 'utf8' });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const FUNCTIONS_RULE = 'functions/ must not import infra/';
const CONTRACT_RULE =
  'functions/contract imports only node: builtins, zod and other functions/contract files';
const APP_SDK_RULE = 'functions/app holds use cases and their ports: no AWS SDK, no Lambda event shapes';
const APP_HTTP_RULE = 'functions/app must not import the HTTP layer';
const APP_ADAPTER_RULE =
  'functions/app depends on ports (functions/app/ports.ts), not on the adapters, the embedder, the platform';
const DOMAIN_PACKAGE_RULE = 'functions/domain and functions/vector-index are pure';
const DOMAIN_LAYER_RULE = 'functions/domain and functions/vector-index import only the contract';
const CDK_RULE = 'The CDK app imports from functions/ only the contract and the model manifest';
const CDK_TWIN_RULE = 'The CDK app never imports the local twin or the CLI';
const HTTP_RULE = 'functions/http maps requests to use cases and domain errors to responses';
const ADAPTER_RULE = 'adapters, the embedder and the platform implement ports and serve the handlers';
const WIRING_RULE = 'functions/wiring builds a use case';

describe('import rules', () => {
  it('refuses every way a function could import infra/', () => {
    const { status, output } = lintAt(
      'functions/handlers',
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
      'functions/handlers',
      "import { ROUTES } from '../contract/routes';\n\nexport const probe = ROUTES;\n",
    );
    expect(output).not.toContain(FUNCTIONS_RULE);
    expect(status).toBe(0);
  });

  it('keeps the contract free of everything but node: builtins and other contract files', () => {
    const { status, output } = lintAt(
      'functions/contract',
      [
        "import { LRUCache } from 'lru-cache';",
        "import { requiredEnv } from '../platform/env';",
        "import { CATALOGUE_PREFIX } from '../../infra/local/harness';",
        '',
        'export const probe = [LRUCache, requiredEnv, CATALOGUE_PREFIX];',
        '',
      ].join('\n'),
    );
    expect(status).not.toBe(0);
    expect(output.split(CONTRACT_RULE)).toHaveLength(4);
  });

  it('lets the contract import node: builtins, zod and its own files', () => {
    const { status, output } = lintAt(
      'functions/contract',
      [
        "import { join } from 'node:path';",
        "import { z } from 'zod';",
        "import { ROUTES } from './routes';",
        '',
        'export const probe = [join, z, ROUTES];',
        '',
      ].join('\n'),
    );
    expect(output).not.toContain(CONTRACT_RULE);
    expect(status).toBe(0);
  });

  it('keeps use cases off the AWS SDK, the HTTP layer, the adapters and infra/', () => {
    const { status, output } = lintAt(
      'functions/app',
      [
        "import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';",
        "import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';",
        "import { Contention } from '../http/api';",
        "import { ProfileStore } from '../adapters/dynamodb/profile-store';",
        "import type { Embedder } from '../embedding/embedder';",
        "export { dynamoClient } from '../platform/clients';",
        "import { ROUTES } from '../../infra/routes';",
        '',
        "export const probe = [TransactWriteCommand, Contention, ProfileStore, ROUTES, import('../adapters/s3/object-store')];",
        'export type Probe = [DynamoDBClient, Embedder];',
        "export const loaded = require('../adapters/dynamodb/vector-retriever');",
        '',
      ].join('\n'),
    );
    expect(status).not.toBe(0);
    expect(output).toContain('lint/style/noCommonJs');
    expect(output.split(APP_SDK_RULE)).toHaveLength(3);
    expect(output.split(APP_HTTP_RULE)).toHaveLength(2);
    expect(output.split(APP_ADAPTER_RULE)).toHaveLength(5);
    expect(output.split(FUNCTIONS_RULE)).toHaveLength(2);
  });

  it('lets use cases import their ports, domain modules, shared errors, the contract and node: builtins', () => {
    const { status, output } = lintAt(
      'functions/app',
      [
        "import { createHash } from 'node:crypto';",
        "import { ROUTES } from '../contract/routes';",
        "import { DomainError } from '../domain/errors';",
        "import { NEGATIVE_TYPES } from '../domain/interest-profile';",
        "import type { ProfileRepository } from './ports';",
        '',
        'export const probe = [createHash, ROUTES, DomainError, NEGATIVE_TYPES];',
        'export type Probe = ProfileRepository;',
        '',
      ].join('\n'),
    );
    expect(output).not.toContain(APP_SDK_RULE);
    expect(output).not.toContain(APP_HTTP_RULE);
    expect(output).not.toContain(APP_ADAPTER_RULE);
    expect(status).toBe(0);
  });
  it('keeps the domain and the vector index pure and below every other layer', () => {
    for (const folder of ['functions/domain', 'functions/vector-index']) {
      const { status, output } = lintAt(
        folder,
        [
          "import { GetObjectCommand } from '@aws-sdk/client-s3';",
          "import type { SQSEvent } from 'aws-lambda';",
          "import sharp from 'sharp';",
          "import { recordEvents } from '../app/track-events';",
          "import { ProfileStore } from '../adapters/dynamodb/profile-store';",
          "import { json } from '../http/api';",
          "import { dynamoClient } from '../platform/clients';",
          "import { Embedder } from '../embedding/embedder';",
          "import { handler } from '../handlers/track';",
          '',
          'export const probe = [GetObjectCommand, sharp, recordEvents, ProfileStore, json, dynamoClient, Embedder, handler];',
          'export type Probe = SQSEvent;',
          '',
        ].join('\n'),
      );
      expect(status).not.toBe(0);
      expect(output.split(DOMAIN_PACKAGE_RULE)).toHaveLength(4);
      expect(output.split(DOMAIN_LAYER_RULE)).toHaveLength(7);
    }
  });

  it('lets the domain import the contract, the vector index and itself', () => {
    const { status, output } = lintAt(
      'functions/domain',
      [
        "import { CATALOGUE_PREFIX } from '../contract/storage';",
        "import { ExactIndex } from '../vector-index';",
        "import { isWellFormedUnicode } from './unicode';",
        '',
        'export const probe = [CATALOGUE_PREFIX, ExactIndex, isWellFormedUnicode];',
        '',
      ].join('\n'),
    );
    expect(output).not.toContain(DOMAIN_PACKAGE_RULE);
    expect(output).not.toContain(DOMAIN_LAYER_RULE);
    expect(status).toBe(0);
  });

  it('keeps the HTTP layer off the SDK and the adapters, and adapters off the HTTP layer', () => {
    const http = lintAt(
      'functions/http',
      [
        "import { S3Client } from '@aws-sdk/client-s3';",
        "import { ProfileStore } from '../adapters/dynamodb/profile-store';",
        "import { handler } from '../handlers/recommend';",
        '',
        'export const probe = [S3Client, ProfileStore, handler];',
        '',
      ].join('\n'),
    );
    expect(http.status).not.toBe(0);
    expect(http.output.split(HTTP_RULE)).toHaveLength(4);
    for (const folder of ['functions/adapters/dynamodb', 'functions/platform', 'functions/embedding']) {
      const up = folder.split('/').length - 1;
      const root = '../'.repeat(up);
      const { status, output } = lintAt(
        folder,
        [
          `import { json } from '${root}http/api';`,
          `import { handler } from '${root}handlers/track';`,
          '',
          'export const probe = [json, handler];',
          '',
        ].join('\n'),
      );
      expect(status).not.toBe(0);
      expect(output.split(ADAPTER_RULE)).toHaveLength(3);
    }
  });

  it('keeps the wiring off the HTTP layer, the handlers and infra/, and lets it import adapters and the embedder', () => {
    const refused = lintAt(
      'functions/wiring',
      [
        "import { json } from '../http/api';",
        "import { handler } from '../handlers/embed';",
        "import { startLocalApp } from '../../infra/local/app';",
        '',
        'export const probe = [json, handler, startLocalApp];',
        '',
      ].join('\n'),
    );
    expect(refused.status).not.toBe(0);
    expect(refused.output.split(WIRING_RULE)).toHaveLength(3);
    expect(refused.output.split(FUNCTIONS_RULE)).toHaveLength(2);
    const allowed = lintAt(
      'functions/wiring',
      [
        "import { CatalogueRepository } from '../adapters/dynamodb/item-store';",
        "import { ingest } from '../app/ingest';",
        "import { Embedder } from '../embedding/embedder';",
        '',
        'export const probe = [CatalogueRepository, ingest, Embedder];',
        '',
      ].join('\n'),
    );
    expect(allowed.output).not.toContain(WIRING_RULE);
    expect(allowed.status).toBe(0);
  });

  it('lets the CDK app import only the contract and the model manifest from functions/, never the twin', () => {
    const refused = lintAt(
      'infra/constructs',
      [
        "import { ingest } from '../../functions/app/ingest';",
        "import { Embedder } from '../../functions/embedding/embedder';",
        "import { startLocalApp } from '../local/app';",
        "import { ENV } from '../../functions/contract/environment';",
        "import { loadManifest } from '../../functions/embedding/model-manifest';",
        '',
        'export const probe = [ingest, Embedder, startLocalApp, ENV, loadManifest];',
        '',
      ].join('\n'),
    );
    expect(refused.status).not.toBe(0);
    expect(refused.output.split(CDK_RULE)).toHaveLength(3);
    expect(refused.output.split(CDK_TWIN_RULE)).toHaveLength(2);
  });
});

/**
 * The one wiring of ingestion: the embed handler, the backfill CLI and the local twin's catch-up all
 * build their IngestDeps here, so all three write identical rows through the same adapters.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { CatalogueRepository } from '../adapters/dynamodb/item-store';
import type { VectorIndexTarget } from '../adapters/dynamodb/item-table';
import { S3ObjectStore } from '../adapters/s3/object-store';
import type { IngestDeps } from '../app/ingest';
import { DEFAULT_IMAGE_LIMITS, defaultManifestPath, Embedder } from '../embedding/embedder';
import { loadManifest } from '../embedding/model-manifest';
import { spaceResolver } from './learned-space';

export interface IngestConfig {
  /** The Items table's name. */
  readonly itemsTable: string;
  /** Images above this size are neither downloaded nor embedded. @default DEFAULT_IMAGE_LIMITS.maxBytes */
  readonly maxImageBytes?: number;
  /** The active model's manifest, embedded first. @default defaultManifestPath() */
  readonly activeManifest?: string;
  /** Models being rolled out, embedded beside the active one. @default [] */
  readonly extraManifests?: readonly string[];
  /** Where the `dynamodb-vector` backend's index reads the active vector. @default none */
  readonly vectorIndex?: VectorIndexTarget;
  readonly clients: { readonly dynamo: DynamoDBClient; readonly s3: S3Client };
  /**
   * Where the spaces registry is and how long a read of it is reused: with it, new uploads also get
   * the active model's learned projections' vectors. @default none (the backfill, the re-embedding)
   */
  readonly spaces?: { readonly bucket: string; readonly ttlMs: number };
}

/** The DynamoDB vector index target, when both its attribute and its model are configured. */
export function vectorIndexTarget(settings: {
  attribute?: string;
  modelId?: string;
  dim: number;
}): VectorIndexTarget | undefined {
  const { attribute, modelId, dim } = settings;
  return attribute && modelId ? { attribute, modelId, dim } : undefined;
}

/** Loads every model (the slow part of a cold start) and wires the item store and object store. */
export async function createIngestDeps(config: IngestConfig): Promise<IngestDeps> {
  const maxBytes = config.maxImageBytes ?? DEFAULT_IMAGE_LIMITS.maxBytes;
  const manifests = [config.activeManifest ?? defaultManifestPath(), ...(config.extraManifests ?? [])];
  const embedders = await Promise.all(
    manifests.map((manifestPath) => Embedder.load({ manifestPath, limits: { maxBytes } })),
  );
  const [active] = embedders;
  const resolver =
    config.spaces && active
      ? spaceResolver(
          { s3: config.clients.s3, ...config.spaces, artefacts: true },
          { modelId: active.modelId, dim: active.dim },
        )
      : undefined;
  return {
    repository: new CatalogueRepository(config.clients.dynamo, config.itemsTable, config.vectorIndex),
    objects: new S3ObjectStore(config.clients.s3, maxBytes),
    embedders,
    ...(resolver ? { projections: async () => (await resolver.resolve()).written } : {}),
  };
}

/** A model id the function has no manifest for: retrying cannot help. */
export class UnknownModel extends Error {
  readonly code = 'unknown_model';
  constructor(
    readonly modelIds: readonly string[],
    readonly known: readonly string[],
  ) {
    super(`no manifest for model ${modelIds.join(', ')} (known: ${known.join(', ') || 'none'})`);
    this.name = 'UnknownModel';
  }
}

/**
 * The manifests to embed with for these model ids, among the `known` ones (the active model first):
 * the active model, then each requested one. No ids: every known model, as the embed function does.
 * The active model always comes first, so that an item first written by a re-embedding is complete
 * in the space the API serves; an item that already has its vector does not pay for it again.
 */
export function manifestsForModels(known: readonly string[], modelIds: readonly string[]): string[] {
  if (modelIds.length === 0) return [...known];
  const byId = new Map(known.map((path) => [loadManifest(path).manifest.modelId, path]));
  const unknown = modelIds.filter((id) => !byId.has(id));
  if (unknown.length > 0) throw new UnknownModel(unknown, [...byId.keys()]);
  const [active] = known;
  return [...new Set([...(active ? [active] : []), ...modelIds.map((id) => byId.get(id) as string)])];
}

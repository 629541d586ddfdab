/**
 * The one wiring of the recommend use case: its ports' adapters, built from a typed configuration.
 * The recommend handler reads that configuration from its environment at cold start; the local twin,
 * the offline evaluation and the benchmarks run that handler, so they are wired the same way.
 */

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { AggregateCache } from '../adapters/dynamodb/aggregate-cache';
import { CoPurchaseReader } from '../adapters/dynamodb/co-purchases';
import { EventHistoryReader } from '../adapters/dynamodb/event-history';
import { DynamoImpressionLog } from '../adapters/dynamodb/impression-log';
import { CatalogueReader } from '../adapters/dynamodb/item-views';
import { ProfileStoreReader, type ReaderTables } from '../adapters/dynamodb/profile-store';
import { RuleCache, RuleStore } from '../adapters/dynamodb/rule-store';
import { DynamoVectorRetriever, vectorServing } from '../adapters/dynamodb/vector-retriever';
import { CatalogueIndex, exactServing, type IndexLoad } from '../adapters/s3/snapshot-index';
import type { Serving } from '../app/ports';
import type { RecommendDeps } from '../app/recommend';
import { DEFAULT_TRACKING_POLICY } from '../app/track-events';
import type { ServingBackend } from '../contract/environment';
import type { ExplorationConfig } from '../contract/exploration';
import type { PlacementsConfig } from '../contract/placements';
import { DEFAULT_RULES_CACHE_MS } from '../contract/rules';
import { VECTOR_INDEX_NAME } from '../contract/storage';
import { DEFAULT_IMPRESSION_TTL_DAYS } from '../domain/impressions';
import type { ProfileSettings } from '../domain/interest-profile';
import type { RankingSettings } from '../domain/ranking';
import { DEFAULT_TRENDING } from '../domain/trending';
import { dynamoClient, s3Client } from '../platform/clients';
import { DEFAULT_SPACE_REFRESH_MS, spaceResolver } from './learned-space';

export interface RecommendConfig {
  /** The active model, whose vectors are served. */
  readonly modelId: string;
  readonly dim: number;
  /**
   * The tables recommend reads: items, the interest store's profiles and aggregates, and the raw
   * events (only to refold a profile of another space; it never writes a profile).
   */
  readonly tables: {
    readonly items: string;
    readonly events: string;
    /** Where each list served is recorded; absent: nothing is recorded (the offline evaluation). */
    readonly impressions?: string;
    /** The merchandising rules; absent: none apply (the offline evaluation). */
    readonly rules?: string;
  } & Readonly<ReaderTables>;
  /** Days an impression is kept. @default 30 */
  readonly impressionTtlDays?: number;
  /** How long a page's `nextToken` is good for (ms). @default 60 minutes */
  readonly pageTokenTtlMs?: number;
  /** How long the rules read are reused before their version is checked (ms). @default 4000 */
  readonly rulesCacheMs?: number;
  /** Told when reading the rules fails (the rules last read keep serving). */
  readonly onRulesError?: (error: unknown) => void;
  /** Told, phase by phase, how the exact index loaded (once per process, at its first use). */
  readonly onIndexLoaded?: (load: IndexLoad) => void;
  /** The catalogue bucket: item images and the exact index's snapshots. */
  readonly bucket: string;
  /** Where candidates come from (see Serving). */
  readonly backend: ServingBackend;
  /** How long a presigned image URL is valid. @default 900 s */
  readonly urlTtlSeconds?: number;
  /** How long an item's view is reused. @default 30 s */
  readonly viewCacheMs?: number;
  /** How often the exact index applies the catalogue's changes. @default 2000 ms */
  readonly indexRefreshMs?: number;
  /** How long popularity and co-engagement are reused. @default 30 s */
  readonly aggregateCacheMs?: number;
  readonly profileSettings: ProfileSettings;
  readonly ranking: RankingSettings;
  /** Exploration slots for new items (EXPLORATION); absent: none. */
  readonly exploration?: ExplorationConfig;
  /** The accepted placements and their defaults (PLACEMENTS); absent: any valid name. */
  readonly placements?: PlacementsConfig;
  /** Rotation (ROTATION_LISTS, ROTATION_WEIGHT); lists 0: off. */
  readonly rotation?: { readonly lists: number; readonly weight: number };
  /** The short-term popularity's half-life (TRENDING_HALF_LIFE_MS). @default DEFAULT_TRENDING.halfLifeMs, 1 day */
  readonly trendingHalfLifeMs?: number;
  /** @default DEFAULT_TRACKING_POLICY.popularityEpoch, the epoch the event write path weighs popularity from */
  readonly popularityEpoch?: number;
  /** How long the spaces registry's word is reused (see createServedRecommend). @default 60 s */
  readonly spaceRefreshMs?: number;
}

export interface RecommendClients {
  readonly dynamo: DynamoDBClient;
  readonly s3: S3Client;
}

/**
 * The use case's dependencies. The exact index loads on first use and is kept for the life of the
 * process (a failed load is retried by the next request); items it sees change also leave the view
 * cache, so a new title or price shows with the next refresh.
 */
export function createRecommendDeps(
  config: RecommendConfig,
  clients: RecommendClients = { dynamo: dynamoClient(), s3: s3Client() },
): RecommendDeps {
  const { modelId, dim, tables } = config;
  const reader = new CatalogueReader(clients.dynamo, clients.s3, tables.items, {
    ...(config.urlTtlSeconds !== undefined ? { urlTtlSeconds: config.urlTtlSeconds } : {}),
    ...(config.viewCacheMs !== undefined ? { viewCacheMs: config.viewCacheMs } : {}),
  });
  const profiles = new ProfileStoreReader(clients.dynamo, { profiles: tables.profiles, stats: tables.stats });
  const history = new EventHistoryReader(
    clients.dynamo,
    { events: tables.events, items: tables.items },
    modelId,
  );
  let catalogue: Promise<CatalogueIndex> | undefined;
  const loadCatalogue = (): Promise<CatalogueIndex> => {
    catalogue ??= CatalogueIndex.load({
      dynamo: clients.dynamo,
      s3: clients.s3,
      itemsTable: tables.items,
      bucket: config.bucket,
      modelId,
      dim,
      refreshIntervalMs: config.indexRefreshMs ?? 2000,
      onChanged: (itemIds) => reader.forget(itemIds),
      ...(config.onIndexLoaded ? { onLoaded: config.onIndexLoaded } : {}),
    });
    catalogue.catch(() => {
      catalogue = undefined;
    });
    return catalogue;
  };
  const serving: Serving =
    config.backend === 'exact'
      ? exactServing(loadCatalogue)
      : vectorServing(
          new DynamoVectorRetriever(clients.dynamo, {
            table: tables.items,
            indexName: VECTOR_INDEX_NAME,
            modelId,
            dim,
          }),
        );
  const impressions = tables.impressions
    ? new DynamoImpressionLog(
        clients.dynamo,
        tables.impressions,
        config.impressionTtlDays ?? DEFAULT_IMPRESSION_TTL_DAYS,
      )
    : undefined;
  const rules = tables.rules
    ? new RuleCache(new RuleStore(clients.dynamo, tables.rules), {
        ttlMs: config.rulesCacheMs ?? DEFAULT_RULES_CACHE_MS,
        ...(config.onRulesError ? { onError: config.onRulesError } : {}),
      })
    : undefined;
  return {
    serving,
    reader,
    profiles,
    history,
    catalogue: history,
    aggregates: new AggregateCache(profiles, { ttlMs: config.aggregateCacheMs ?? 30_000 }),
    coPurchases: new CoPurchaseReader(clients.dynamo, tables.stats, config.aggregateCacheMs ?? 30_000),
    // Only image search embeds: onnxruntime and sharp load on its first use, not at every cold start.
    embedder: () => import('../embedding/embedder').then(({ getEmbedder }) => getEmbedder()),
    modelId,
    dim,
    profileSettings: config.profileSettings,
    ranking: config.ranking,
    ...(config.exploration ? { exploration: config.exploration } : {}),
    ...(config.placements ? { placements: config.placements } : {}),
    ...(config.rotation && config.rotation.lists > 0 ? { rotation: config.rotation } : {}),
    ...(config.pageTokenTtlMs !== undefined ? { pageTokenTtlMs: config.pageTokenTtlMs } : {}),
    popularityEpoch: config.popularityEpoch ?? DEFAULT_TRACKING_POLICY.popularityEpoch,
    trending: { ...DEFAULT_TRENDING, halfLifeMs: config.trendingHalfLifeMs ?? DEFAULT_TRENDING.halfLifeMs },
    ...(impressions ? { impressions } : {}),
    ...(rules ? { rules: () => rules.rules() } : {}),
    // Rotation reads the user's last lists back from the same table.
    ...(impressions && config.rotation && config.rotation.lists > 0 ? { shown: impressions } : {}),
  };
}

/**
 * The use case's dependencies for the space the registry says serves now: the deployed model's own,
 * or its active learned projection's. The registry is read at most once per `spaceRefreshMs`; each
 * space gets its own index (loaded on first use), and a switch drops the other spaces' indexes. The
 * `dynamodb-vector` backend's one index holds the deployed model's vectors: it always serves that
 * space (a promotion is refused with it).
 */
export function createServedRecommend(
  config: RecommendConfig,
  clients: RecommendClients = { dynamo: dynamoClient(), s3: s3Client() },
  /** Told when a read of the registry fails: the space last read keeps serving for another TTL. */
  onRegistryError?: (error: unknown) => void,
): () => Promise<RecommendDeps> {
  const resolver = spaceResolver(
    {
      s3: clients.s3,
      bucket: config.bucket,
      ttlMs: config.spaceRefreshMs ?? DEFAULT_SPACE_REFRESH_MS,
      artefacts: true,
      ...(onRegistryError ? { keepOnError: onRegistryError } : {}),
    },
    { modelId: config.modelId, dim: config.dim },
  );
  const bySpace = new Map<string, RecommendDeps>();
  if (config.backend !== 'exact') {
    const deps = createRecommendDeps(config, clients);
    return async () => deps;
  }
  return async () => {
    const { served, projection } = await resolver.resolve();
    let deps = bySpace.get(served);
    if (!deps) {
      bySpace.clear();
      deps = {
        ...createRecommendDeps({ ...config, modelId: served }, clients),
        ...(projection ? { projection } : {}),
      };
      bySpace.set(served, deps);
    }
    return deps;
  };
}

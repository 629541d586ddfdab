/**
 * The environment variables the functions read, each name defined once: the CDK constructs set them,
 * the local twin sets them to its stand-ins' values, and the handlers and shared code read them
 * through these constants, so a renamed variable cannot leave one side reading what the other no
 * longer sets.
 */
export const ENV = {
  // Resource names, passed together with the grant on the resource (LookalikeFunction.useTable and
  // useBucketObjects); the twin gives each the name of its local stand-in.
  ITEMS_TABLE: 'ITEMS_TABLE',
  EVENTS_TABLE: 'EVENTS_TABLE',
  PROFILES_TABLE: 'PROFILES_TABLE',
  STATS_TABLE: 'STATS_TABLE',
  IMPRESSIONS_TABLE: 'IMPRESSIONS_TABLE',
  RULES_TABLE: 'RULES_TABLE',
  CATALOGUE_BUCKET: 'CATALOGUE_BUCKET',

  // The model: where its manifest is (the model layer in Lambda), the active model and its dimension.
  LOOKALIKE_MODEL_MANIFEST: 'LOOKALIKE_MODEL_MANIFEST',
  ACTIVE_MODEL_ID: 'ACTIVE_MODEL_ID',
  MODEL_DIMENSION: 'MODEL_DIMENSION',
  LOOKALIKE_ORT_THREADS: 'LOOKALIKE_ORT_THREADS',

  // embed (and the backfill CLI, which writes the same rows).
  EXTRA_MODEL_MANIFESTS: 'EXTRA_MODEL_MANIFESTS',
  MAX_IMAGE_BYTES: 'MAX_IMAGE_BYTES',
  VECTOR_INDEX_ATTRIBUTE: 'VECTOR_INDEX_ATTRIBUTE',
  VECTOR_INDEX_MODEL_ID: 'VECTOR_INDEX_MODEL_ID',
  VECTOR_INDEX_DIMENSION: 'VECTOR_INDEX_DIMENSION',

  // embed, track, recommend and compact: how long the spaces registry's word (a learned projection
  // promoted or rolled back) is reused per instance.
  SPACE_REFRESH_MS: 'SPACE_REFRESH_MS',

  // reembed: keys of one batch handled at once.
  REEMBED_KEY_CONCURRENCY: 'REEMBED_KEY_CONCURRENCY',

  // Interest profiles: track and recommend must fold them with the same settings.
  HALF_LIFE_DAYS: 'HALF_LIFE_DAYS',
  EVENT_WEIGHTS: 'EVENT_WEIGHTS',
  MAX_INTEREST_CENTROIDS: 'MAX_INTEREST_CENTROIDS',
  CENTROID_JOIN_SIMILARITY: 'CENTROID_JOIN_SIMILARITY',

  // track.
  EVENT_TTL_DAYS: 'EVENT_TTL_DAYS',
  EVENT_MAX_AGE_DAYS: 'EVENT_MAX_AGE_DAYS',
  EVENT_MAX_FUTURE_SECONDS: 'EVENT_MAX_FUTURE_SECONDS',

  // Identity, for the API functions.
  USER_CLAIM: 'USER_CLAIM',
  ADMIN_SCOPE: 'ADMIN_SCOPE',
  ADMIN_GROUP: 'ADMIN_GROUP',

  // recommend.
  SERVING_BACKEND: 'SERVING_BACKEND',
  IMAGE_URL_TTL_SECONDS: 'IMAGE_URL_TTL_SECONDS',
  VIEW_CACHE_MS: 'VIEW_CACHE_MS',
  INDEX_REFRESH_MS: 'INDEX_REFRESH_MS',
  AGGREGATE_CACHE_MS: 'AGGREGATE_CACHE_MS',
  MMR_LAMBDA: 'MMR_LAMBDA',
  PENALTY_WEIGHT: 'PENALTY_WEIGHT',
  CO_ENGAGEMENT_WEIGHT: 'CO_ENGAGEMENT_WEIGHT',
  /** JSON: the accepted placements and their defaults (functions/contract/placements.ts). */
  PLACEMENTS: 'PLACEMENTS',
  /** JSON: exploration settings, per placement too (functions/contract/exploration.ts). */
  EXPLORATION: 'EXPLORATION',
  /** Rotation: how many of the user's last lists demote their items (0: off), and by how much. */
  ROTATION_LISTS: 'ROTATION_LISTS',
  ROTATION_WEIGHT: 'ROTATION_WEIGHT',
  // Days an impression (a list served) is kept.
  IMPRESSION_TTL_DAYS: 'IMPRESSION_TTL_DAYS',
  PAGE_TOKEN_TTL_MINUTES: 'PAGE_TOKEN_TTL_MINUTES',
  /** How long an instance reuses the merchandising rules before checking their version (ms). */
  RULES_CACHE_MS: 'RULES_CACHE_MS',
  /** Half-life of the short-term popularity trending reads (ms): track writes it, recommend reads it. */
  TRENDING_HALF_LIFE_MS: 'TRENDING_HALF_LIFE_MS',

  // Only for stand-ins on a non-IP host, where virtual-hosted bucket names do not resolve.
  LOOKALIKE_S3_FORCE_PATH_STYLE: 'LOOKALIKE_S3_FORCE_PATH_STYLE',
} as const;

/** The values of SERVING_BACKEND: where recommend's candidates come from (the stack's `servingBackend`). */
export const SERVING_BACKENDS = ['exact', 'dynamodb-vector'] as const;
export type ServingBackend = (typeof SERVING_BACKENDS)[number];

export type EnvName = (typeof ENV)[keyof typeof ENV];

/** The variables that name a table or the bucket: the stack passes each with its grant. */
export const RESOURCE_ENV = [
  ENV.ITEMS_TABLE,
  ENV.EVENTS_TABLE,
  ENV.PROFILES_TABLE,
  ENV.STATS_TABLE,
  ENV.IMPRESSIONS_TABLE,
  ENV.RULES_TABLE,
  ENV.CATALOGUE_BUCKET,
] as const;

export type ResourceEnvName = (typeof RESOURCE_ENV)[number];

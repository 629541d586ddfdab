import * as z from 'zod';
import { ENV, SERVING_BACKENDS } from '../contract/environment';
import { ExplorationConfigSchema } from '../contract/exploration';
import { DEFAULT_IDENTITY_CONFIG } from '../contract/identity';
import { DEFAULT_PLACEMENTS, PlacementsConfigSchema } from '../contract/placements';
import { DEFAULT_RULES_CACHE_MS, RULES_FRESHNESS_MS } from '../contract/rules';
import { DEFAULT_IMAGE_LIMITS } from '../domain/image-format';
import { DEFAULT_IMPRESSION_TTL_DAYS } from '../domain/impressions';
import {
  DEFAULT_PROFILE_SETTINGS,
  EVENT_TYPES,
  type EventType,
  type ProfileSettings,
} from '../domain/interest-profile';
import { DEFAULT_PAGE_TOKEN_TTL_MINUTES } from '../domain/paging';
import { DEFAULT_RANKING_SETTINGS } from '../domain/ranking';
import { DEFAULT_TRENDING } from '../domain/trending';

/**
 * One typed environment schema per function: what each reads, parsed once at cold start. Every
 * variable is named in functions/contract/environment.ts; a missing or malformed value fails the
 * cold start with one message naming every bad variable (`ConfigError`), never a NaN at request time.
 * test/infra/function-env.test.ts parses the environment the stack gives each function with these
 * schemas and refuses a variable the stack sets that the function does not read.
 */

/** Unset and blank are the same: CloudFormation cannot remove a variable, only blank it. */
const blankAsUnset = (value: unknown) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

const required = () => z.preprocess(blankAsUnset, z.string({ error: 'is required' }));
const optional = () => z.preprocess(blankAsUnset, z.string().optional());
/** Where recommend's candidates come from (the stack's `servingBackend`). */
const servingBackend = () => z.preprocess(blankAsUnset, z.enum(SERVING_BACKENDS).default('exact'));

function number(fallback: number, { min = -Infinity, max = Infinity } = {}) {
  return z.preprocess(
    blankAsUnset,
    z
      .string()
      .optional()
      .transform((raw, ctx) => {
        if (raw === undefined) return fallback;
        const value = Number(raw);
        if (!Number.isFinite(value) || value < min || value > max) {
          ctx.addIssue({ code: 'custom', message: `${raw} must be a number in [${min}, ${max}]` });
          return z.NEVER;
        }
        return value;
      }),
  );
}

/** JSON in one variable, checked by `schema`; unset or blank: `fallback`. */
function json<T extends z.ZodType>(schema: T, fallback: z.input<T>) {
  return z.preprocess(
    blankAsUnset,
    z
      .string()
      .optional()
      .transform((raw, ctx): z.output<T> => {
        let value: unknown = fallback;
        if (raw !== undefined) {
          try {
            value = JSON.parse(raw);
          } catch {
            ctx.addIssue({ code: 'custom', message: 'is not JSON' });
            return z.NEVER;
          }
        }
        const parsed = schema.safeParse(value);
        if (!parsed.success) {
          const problems = parsed.error.issues.map((issue) => {
            // A bad record key says why in its own issues.
            const inner = (issue as { issues?: Array<{ message: string }> }).issues?.[0]?.message;
            return `${issue.path.join('.') || '(root)'}: ${inner ?? issue.message}`;
          });
          ctx.addIssue({ code: 'custom', message: problems.join('; ') });
          return z.NEVER;
        }
        return parsed.data;
      }),
  );
}

/** Required, and a number in range (a dimension, a count). */
function requiredNumber({ min = -Infinity, max = Infinity } = {}) {
  return z.preprocess(
    blankAsUnset,
    z.string({ error: 'is required' }).transform((raw, ctx) => {
      const value = Number(raw);
      if (!Number.isFinite(value) || value < min || value > max) {
        ctx.addIssue({ code: 'custom', message: `${raw} must be a number in [${min}, ${max}]` });
        return z.NEVER;
      }
      return value;
    }),
  );
}

const list = () =>
  z.preprocess(
    blankAsUnset,
    z
      .string()
      .optional()
      .transform((raw) =>
        (raw ?? '')
          .split(',')
          .map((v) => v.trim())
          .filter(Boolean),
      ),
  );

/** EVENT_WEIGHTS is JSON, e.g. {"like":2,"purchase":4}; unknown types or negative weights are refused. */
const eventWeights = () =>
  z.preprocess(
    blankAsUnset,
    z
      .string()
      .optional()
      .transform((raw, ctx) => {
        const weights = { ...DEFAULT_PROFILE_SETTINGS.weights };
        if (raw === undefined) return weights;
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw);
        } catch {
          ctx.addIssue({ code: 'custom', message: 'is not JSON' });
          return z.NEVER;
        }
        const result = z
          .record(z.string(), z.number().min(0, 'must be a number >= 0'), {
            error: 'must map event types to weights',
          })
          .safeParse(parsed);
        if (!result.success) {
          for (const issue of result.error.issues) {
            ctx.addIssue({ code: 'custom', message: `${issue.path.join('.') || 'value'}: ${issue.message}` });
          }
          return z.NEVER;
        }
        const unknown = Object.keys(result.data).filter((type) => !EVENT_TYPES.includes(type as EventType));
        if (unknown.length > 0) {
          ctx.addIssue({ code: 'custom', message: `unknown event type ${unknown.join(', ')}` });
          return z.NEVER;
        }
        for (const [type, weight] of Object.entries(result.data))
          weights[type as EventType] = weight as number;
        return weights;
      }),
  );

const profileFields = {
  [ENV.EVENT_WEIGHTS]: eventWeights(),
  [ENV.HALF_LIFE_DAYS]: number(DEFAULT_PROFILE_SETTINGS.halfLifeDays, { min: 0.01 }),
  [ENV.MAX_INTEREST_CENTROIDS]: number(DEFAULT_PROFILE_SETTINGS.maxCentroids, { min: 1, max: 16 }),
  [ENV.CENTROID_JOIN_SIMILARITY]: number(DEFAULT_PROFILE_SETTINGS.joinSimilarity, { min: -1, max: 1 }),
};

/**
 * The short-term popularity's half-life: track weighs events with it, recommend decays them with it,
 * so both read the same variable. Whole milliseconds (the frames' starts name attributes), 1 s..7 days.
 */
const trendingFields = {
  [ENV.TRENDING_HALF_LIFE_MS]: number(DEFAULT_TRENDING.halfLifeMs, { min: 1000, max: 7 * 86_400_000 }),
};

type ProfileFields = { [K in keyof typeof profileFields]: z.output<(typeof profileFields)[K]> };

const profileSettingsOf = (env: ProfileFields): ProfileSettings => ({
  ...DEFAULT_PROFILE_SETTINGS,
  weights: env[ENV.EVENT_WEIGHTS],
  halfLifeDays: env[ENV.HALF_LIFE_DAYS],
  maxCentroids: env[ENV.MAX_INTEREST_CENTROIDS],
  joinSimilarity: env[ENV.CENTROID_JOIN_SIMILARITY],
});

const identityFields = {
  [ENV.USER_CLAIM]: optional(),
  [ENV.ADMIN_SCOPE]: optional(),
  [ENV.ADMIN_GROUP]: optional(),
};

const identityOf = (env: { [K in keyof typeof identityFields]?: string }) => ({
  userClaim: env[ENV.USER_CLAIM] ?? DEFAULT_IDENTITY_CONFIG.userClaim,
  adminScope: env[ENV.ADMIN_SCOPE] ?? DEFAULT_IDENTITY_CONFIG.adminScope,
  adminGroup: env[ENV.ADMIN_GROUP] ?? DEFAULT_IDENTITY_CONFIG.adminGroup,
});

/** Variables the embedder reads itself (the model layer's manifest, inference threads). */
const modelFields = {
  [ENV.LOOKALIKE_MODEL_MANIFEST]: optional(),
  [ENV.LOOKALIKE_ORT_THREADS]: number(0, { min: 0, max: 64 }),
};

const DAY_MS = 86_400_000;

/** The functions that follow the spaces registry: the bucket it is in, and how long a read is reused. */
const spaceFields = {
  [ENV.CATALOGUE_BUCKET]: required(),
  [ENV.SPACE_REFRESH_MS]: number(60_000, { min: 0, max: 3_600_000 }),
};

/** What ingestion reads: the embed function and the re-embedding batch function alike. */
const ingestionFields = {
  [ENV.ITEMS_TABLE]: required(),
  [ENV.MAX_IMAGE_BYTES]: number(DEFAULT_IMAGE_LIMITS.maxBytes, { min: 1 }),
  [ENV.EXTRA_MODEL_MANIFESTS]: list(),
  [ENV.VECTOR_INDEX_ATTRIBUTE]: optional(),
  [ENV.VECTOR_INDEX_MODEL_ID]: optional(),
  [ENV.VECTOR_INDEX_DIMENSION]: number(0, { min: 0 }),
  ...modelFields,
};

type IngestionFields = z.output<z.ZodObject<typeof ingestionFields>>;

const ingestionConfigOf = (env: IngestionFields) => {
  const attribute = env[ENV.VECTOR_INDEX_ATTRIBUTE];
  const modelId = env[ENV.VECTOR_INDEX_MODEL_ID];
  return {
    itemsTable: env[ENV.ITEMS_TABLE],
    maxImageBytes: env[ENV.MAX_IMAGE_BYTES],
    /** The active model's manifest (the model layer's, unless set). */
    activeManifest: env[ENV.LOOKALIKE_MODEL_MANIFEST],
    /** Models being rolled out, embedded beside the active one. */
    extraManifests: env[ENV.EXTRA_MODEL_MANIFESTS],
    /** Where the `dynamodb-vector` backend's index reads the active vector, when configured. */
    vectorIndex:
      attribute && modelId ? { attribute, modelId, dim: env[ENV.VECTOR_INDEX_DIMENSION] } : undefined,
  };
};

export const FUNCTION_ENV = {
  embed: z.object({ ...ingestionFields, ...spaceFields }).transform((env) => ({
    ...ingestionConfigOf(env),
    /** New uploads get the learned projections' vectors the registry names (read once per TTL). */
    spaces: { bucket: env[ENV.CATALOGUE_BUCKET], ttlMs: env[ENV.SPACE_REFRESH_MS] },
  })),

  /** The distributed re-embedding's batch function: the embed function's knobs, and the bucket it lists. */
  reembed: z
    .object({
      ...ingestionFields,
      ...spaceFields,
      [ENV.REEMBED_KEY_CONCURRENCY]: number(2, { min: 1, max: 16 }),
    })
    .transform((env) => ({
      ...ingestionConfigOf(env),
      bucket: env[ENV.CATALOGUE_BUCKET],
      /** Items it creates get the learned projections' vectors the registry names, as the embed function's do. */
      spaces: { bucket: env[ENV.CATALOGUE_BUCKET], ttlMs: env[ENV.SPACE_REFRESH_MS] },
      /** Keys of a batch handled at once: downloads and writes overlap the CNN. */
      keyConcurrency: env[ENV.REEMBED_KEY_CONCURRENCY],
    })),

  track: z
    .object({
      [ENV.EVENTS_TABLE]: required(),
      [ENV.PROFILES_TABLE]: required(),
      [ENV.STATS_TABLE]: required(),
      [ENV.ITEMS_TABLE]: required(),
      // An erasure deletes the user's impressions too.
      [ENV.IMPRESSIONS_TABLE]: required(),
      // The merchandising rules' routes (/rules) are served here, the API's writer.
      [ENV.RULES_TABLE]: required(),
      // Rules may name only the placements recommend accepts.
      [ENV.PLACEMENTS]: json(PlacementsConfigSchema, DEFAULT_PLACEMENTS),
      [ENV.ACTIVE_MODEL_ID]: required(),
      [ENV.MODEL_DIMENSION]: requiredNumber({ min: 1 }),
      [ENV.EVENT_TTL_DAYS]: number(90, { min: 1, max: 3650 }),
      [ENV.EVENT_MAX_AGE_DAYS]: number(30, { min: 0 }),
      [ENV.EVENT_MAX_FUTURE_SECONDS]: number(300, { min: 0 }),
      ...spaceFields,
      ...profileFields,
      ...trendingFields,
      ...identityFields,
    })
    .transform((env) => {
      const eventTtlMs = env[ENV.EVENT_TTL_DAYS] * DAY_MS;
      return {
        tables: {
          events: env[ENV.EVENTS_TABLE],
          profiles: env[ENV.PROFILES_TABLE],
          stats: env[ENV.STATS_TABLE],
          items: env[ENV.ITEMS_TABLE],
        },
        impressionsTable: env[ENV.IMPRESSIONS_TABLE],
        rulesTable: env[ENV.RULES_TABLE],
        placements: env[ENV.PLACEMENTS],
        modelId: env[ENV.ACTIVE_MODEL_ID],
        dim: env[ENV.MODEL_DIMENSION],
        /** Profiles are folded in the space the registry says serves (a learned projection's, say). */
        spaces: { bucket: env[ENV.CATALOGUE_BUCKET], ttlMs: env[ENV.SPACE_REFRESH_MS] },
        eventTtlMs,
        /** An event older than its own TTL would be stored already expired. */
        maxAgeMs: Math.min(env[ENV.EVENT_MAX_AGE_DAYS] * DAY_MS, eventTtlMs),
        maxFutureMs: env[ENV.EVENT_MAX_FUTURE_SECONDS] * 1000,
        trendingHalfLifeMs: Math.round(env[ENV.TRENDING_HALF_LIFE_MS]),
        profileSettings: profileSettingsOf(env),
        identity: identityOf(env),
      };
    }),

  recommend: z
    .object({
      [ENV.EVENTS_TABLE]: required(),
      [ENV.PROFILES_TABLE]: required(),
      [ENV.STATS_TABLE]: required(),
      [ENV.ITEMS_TABLE]: required(),
      [ENV.IMPRESSIONS_TABLE]: required(),
      [ENV.IMPRESSION_TTL_DAYS]: number(DEFAULT_IMPRESSION_TTL_DAYS, { min: 1, max: 3650 }),
      // Fractions allowed (the twin's tests expire tokens in seconds); the stack sets whole minutes.
      [ENV.PAGE_TOKEN_TTL_MINUTES]: number(DEFAULT_PAGE_TOKEN_TTL_MINUTES, { min: 0.001, max: 3650 * 1440 }),
      [ENV.RULES_TABLE]: required(),
      // A rule change must be served within RULES_FRESHNESS_MS: the cache's TTL cannot be longer.
      [ENV.RULES_CACHE_MS]: number(DEFAULT_RULES_CACHE_MS, { min: 1, max: RULES_FRESHNESS_MS }),
      ...spaceFields,
      [ENV.ACTIVE_MODEL_ID]: required(),
      [ENV.MODEL_DIMENSION]: requiredNumber({ min: 1 }),
      [ENV.SERVING_BACKEND]: servingBackend(),
      [ENV.IMAGE_URL_TTL_SECONDS]: number(900, { min: 1, max: 604800 }),
      [ENV.VIEW_CACHE_MS]: number(30_000, { min: 0 }),
      [ENV.INDEX_REFRESH_MS]: number(2000, { min: 0 }),
      [ENV.AGGREGATE_CACHE_MS]: number(30_000, { min: 1 }),
      [ENV.MMR_LAMBDA]: number(DEFAULT_RANKING_SETTINGS.mmrLambda, { min: 0, max: 1 }),
      [ENV.PENALTY_WEIGHT]: number(DEFAULT_RANKING_SETTINGS.penaltyWeight, { min: 0 }),
      [ENV.CO_ENGAGEMENT_WEIGHT]: number(DEFAULT_RANKING_SETTINGS.coEngagementWeight, { min: 0 }),
      [ENV.EXPLORATION]: json(ExplorationConfigSchema, {}),
      [ENV.PLACEMENTS]: json(PlacementsConfigSchema, DEFAULT_PLACEMENTS),
      [ENV.ROTATION_LISTS]: number(0, { min: 0, max: 20 }),
      [ENV.ROTATION_WEIGHT]: number(0.3, { min: 0, max: 2 }),
      ...profileFields,
      ...trendingFields,
      ...identityFields,
      ...modelFields,
    })
    .transform((env) => ({
      tables: {
        events: env[ENV.EVENTS_TABLE],
        profiles: env[ENV.PROFILES_TABLE],
        stats: env[ENV.STATS_TABLE],
        items: env[ENV.ITEMS_TABLE],
        impressions: env[ENV.IMPRESSIONS_TABLE],
        rules: env[ENV.RULES_TABLE],
      },
      rulesCacheMs: env[ENV.RULES_CACHE_MS],
      impressionTtlDays: env[ENV.IMPRESSION_TTL_DAYS],
      pageTokenTtlMs: env[ENV.PAGE_TOKEN_TTL_MINUTES] * 60_000,
      bucket: env[ENV.CATALOGUE_BUCKET],
      modelId: env[ENV.ACTIVE_MODEL_ID],
      dim: env[ENV.MODEL_DIMENSION],
      backend: env[ENV.SERVING_BACKEND],
      urlTtlSeconds: env[ENV.IMAGE_URL_TTL_SECONDS],
      viewCacheMs: env[ENV.VIEW_CACHE_MS],
      indexRefreshMs: env[ENV.INDEX_REFRESH_MS],
      aggregateCacheMs: env[ENV.AGGREGATE_CACHE_MS],
      spaceRefreshMs: env[ENV.SPACE_REFRESH_MS],
      ranking: {
        ...DEFAULT_RANKING_SETTINGS,
        mmrLambda: env[ENV.MMR_LAMBDA],
        penaltyWeight: env[ENV.PENALTY_WEIGHT],
        coEngagementWeight: env[ENV.CO_ENGAGEMENT_WEIGHT],
      },
      exploration: env[ENV.EXPLORATION],
      placements: env[ENV.PLACEMENTS],
      rotation: { lists: env[ENV.ROTATION_LISTS], weight: env[ENV.ROTATION_WEIGHT] },
      trendingHalfLifeMs: Math.round(env[ENV.TRENDING_HALF_LIFE_MS]),
      profileSettings: profileSettingsOf(env),
      identity: identityOf(env),
    })),

  compact: z
    .object({
      [ENV.ITEMS_TABLE]: required(),
      ...spaceFields,
      [ENV.ACTIVE_MODEL_ID]: required(),
      [ENV.MODEL_DIMENSION]: requiredNumber({ min: 1 }),
    })
    .transform((env) => ({
      itemsTable: env[ENV.ITEMS_TABLE],
      bucket: env[ENV.CATALOGUE_BUCKET],
      modelId: env[ENV.ACTIVE_MODEL_ID],
      dim: env[ENV.MODEL_DIMENSION],
      spaceRefreshMs: env[ENV.SPACE_REFRESH_MS],
    })),

  'co-engagement': z
    .object({
      [ENV.STATS_TABLE]: required(),
      [ENV.EVENTS_TABLE]: required(),
      // Attribution (issue 25) reads the list an event names.
      [ENV.IMPRESSIONS_TABLE]: required(),
    })
    .transform((env) => ({
      statsTable: env[ENV.STATS_TABLE],
      eventsTable: env[ENV.EVENTS_TABLE],
      impressionsTable: env[ENV.IMPRESSIONS_TABLE],
    })),

  /** The Impressions stream's consumer: per-item impression counts in Stats. */
  'impression-counts': z
    .object({ [ENV.STATS_TABLE]: required() })
    .transform((env) => ({ statsTable: env[ENV.STATS_TABLE] })),

  /** The learned-similarity trainer (issue 18): reads the raw events and the base space, writes reports. */
  'train-similarity': z
    .object({
      [ENV.EVENTS_TABLE]: required(),
      [ENV.PROFILES_TABLE]: required(),
      [ENV.ITEMS_TABLE]: required(),
      [ENV.ACTIVE_MODEL_ID]: required(),
      [ENV.MODEL_DIMENSION]: requiredNumber({ min: 1 }),
      [ENV.SERVING_BACKEND]: servingBackend(),
      // The other functions' registry TTL: a promotion waits this long before re-projecting.
      ...spaceFields,
    })
    .transform((env) => ({
      tables: {
        events: env[ENV.EVENTS_TABLE],
        profiles: env[ENV.PROFILES_TABLE],
        items: env[ENV.ITEMS_TABLE],
      },
      bucket: env[ENV.CATALOGUE_BUCKET],
      modelId: env[ENV.ACTIVE_MODEL_ID],
      dim: env[ENV.MODEL_DIMENSION],
      spaceRefreshMs: env[ENV.SPACE_REFRESH_MS],
      backend: env[ENV.SERVING_BACKEND],
    })),

  /** The deploy-time model guard: what it checks comes in the custom resource's properties. */
  'model-guard': z.object({}).transform(() => ({})),
};

export type FunctionName = keyof typeof FUNCTION_ENV;
export type FunctionConfig<N extends FunctionName> = z.output<(typeof FUNCTION_ENV)[N]>;

/** The function's environment could not be parsed: the message names every bad variable. */
export class ConfigError extends Error {
  readonly code = 'invalid_environment';
  constructor(
    readonly functionName: FunctionName,
    readonly problems: string[],
  ) {
    super(`${functionName}: invalid environment: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses `env` with the function's schema; throws ConfigError naming every bad variable. */
export function functionConfig<N extends FunctionName>(
  name: N,
  env: Readonly<Record<string, string | undefined>> = process.env,
): FunctionConfig<N> {
  const result = (FUNCTION_ENV[name] as unknown as z.ZodType<FunctionConfig<N>>).safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(
    name,
    result.error.issues.map((issue) => `${issue.path.join('.') || 'environment'} ${issue.message}`),
  );
}

/** The variables a function reads (the keys of its schema). */
export function variablesOf(name: FunctionName): string[] {
  return Object.keys(FUNCTION_ENV[name].in.shape);
}

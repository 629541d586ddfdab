import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AggregateCache } from '../adapters/dynamodb/aggregate-cache';
import { CatalogueReader } from '../adapters/dynamodb/item-views';
import { ProfileStore, storeTablesFromEnv } from '../adapters/dynamodb/profile-store';
import { DynamoVectorRetriever } from '../adapters/dynamodb/vector-retriever';
import { CatalogueIndex } from '../adapters/s3/snapshot-index';
import {
  exactServing,
  itemDetails,
  ListQuerySchema,
  parseQuery,
  type RecommendDeps,
  recommendForUser,
  SearchQuerySchema,
  SimilarQuerySchema,
  searchByImage,
  similarItems,
  vectorServing,
} from '../app/recommend';
import { DEFAULT_TRACKING_POLICY } from '../app/track-events';
import { ENV } from '../contract/environment';
import { MAX_IMAGE_BODY_BYTES } from '../contract/routes';
import { VECTOR_INDEX_NAME } from '../contract/storage';
import { Forbidden } from '../domain/errors';
import { DEFAULT_RANKING_SETTINGS } from '../domain/ranking';
import { BadRequest, bodyBytes, type JsonResponse, json, pathItemId, pathUserId } from '../http/api';
import { canActFor, identityConfigFromEnv, resolveCaller } from '../http/identity';
import { apiFunction } from '../http/router';
import { dynamoClient, s3Client } from '../platform/clients';
import { numberEnv, optionalEnv, requiredEnv } from '../platform/env';
import { observability } from '../platform/observability';
import { profileSettingsFromEnv } from '../platform/settings';

const { logger, metrics } = observability('recommend');
const identity = identityConfigFromEnv();
const modelId = requiredEnv(ENV.ACTIVE_MODEL_ID);
const dim = numberEnv(ENV.MODEL_DIMENSION, 0, { min: 1 });
const itemsTable = requiredEnv(ENV.ITEMS_TABLE);
const backend = optionalEnv(ENV.SERVING_BACKEND) ?? 'exact';
if (backend !== 'exact' && backend !== 'dynamodb-vector')
  throw new Error(`SERVING_BACKEND=${backend} is not exact or dynamodb-vector`);
const bucket = requiredEnv(ENV.CATALOGUE_BUCKET);
const reader = new CatalogueReader(dynamoClient(), s3Client(), itemsTable, {
  urlTtlSeconds: numberEnv(ENV.IMAGE_URL_TTL_SECONDS, 900, { min: 1, max: 604800 }),
  viewCacheMs: numberEnv(ENV.VIEW_CACHE_MS, 30_000, { min: 0 }),
});
const profiles = new ProfileStore(dynamoClient(), storeTablesFromEnv(), modelId);
let catalogue: Promise<CatalogueIndex> | undefined;

/**
 * The exact index loads on first use and is kept for the life of the function instance. Items it
 * sees change also leave the view cache, so a new title or price shows with the next refresh.
 */
function loadCatalogue(): Promise<CatalogueIndex> {
  catalogue ??= CatalogueIndex.load({
    dynamo: dynamoClient(),
    s3: s3Client(),
    itemsTable,
    bucket,
    modelId,
    dim,
    refreshIntervalMs: numberEnv(ENV.INDEX_REFRESH_MS, 2000, { min: 0 }),
    onChanged: (itemIds) => reader.forget(itemIds),
  });
  catalogue.catch(() => {
    catalogue = undefined;
  });
  return catalogue;
}

const deps: RecommendDeps = {
  serving:
    backend === 'exact'
      ? exactServing(loadCatalogue)
      : vectorServing(
          new DynamoVectorRetriever(dynamoClient(), {
            table: itemsTable,
            indexName: VECTOR_INDEX_NAME,
            modelId,
            dim,
          }),
        ),
  reader,
  profiles,
  aggregates: new AggregateCache(profiles, { ttlMs: numberEnv(ENV.AGGREGATE_CACHE_MS, 30_000, { min: 1 }) }),
  // Only image search embeds: onnxruntime and sharp load on its first use, not at every cold start.
  embedder: () => import('../embedding/embedder').then(({ getEmbedder }) => getEmbedder()),
  modelId,
  profileSettings: profileSettingsFromEnv(),
  ranking: {
    ...DEFAULT_RANKING_SETTINGS,
    mmrLambda: numberEnv(ENV.MMR_LAMBDA, DEFAULT_RANKING_SETTINGS.mmrLambda, { min: 0, max: 1 }),
    penaltyWeight: numberEnv(ENV.PENALTY_WEIGHT, DEFAULT_RANKING_SETTINGS.penaltyWeight, { min: 0 }),
    coEngagementWeight: numberEnv(ENV.CO_ENGAGEMENT_WEIGHT, DEFAULT_RANKING_SETTINGS.coEngagementWeight, {
      min: 0,
    }),
  },
  popularityEpoch: DEFAULT_TRACKING_POLICY.popularityEpoch,
};

async function userRecommendations(event: APIGatewayProxyEventV2): Promise<JsonResponse> {
  const userId = pathUserId(event);
  if (!canActFor(resolveCaller(event, identity), userId))
    throw new Forbidden(`not allowed to read recommendations of ${userId}`);
  const list = await recommendForUser(deps, userId, parseQuery(ListQuerySchema, event.queryStringParameters));
  logger.info('recommendations', {
    userId,
    recommendationId: list.recommendationId,
    strategy: list.strategy,
    count: list.items.length,
  });
  metrics.addMetric(`recommendations_${list.strategy}`, MetricUnit.Count, 1);
  return json(200, list);
}

async function similar(event: APIGatewayProxyEventV2): Promise<JsonResponse> {
  const itemId = pathItemId(event);
  return json(
    200,
    await similarItems(deps, itemId, parseQuery(SimilarQuerySchema, event.queryStringParameters)),
  );
}

async function item(event: APIGatewayProxyEventV2): Promise<JsonResponse> {
  return json(200, await itemDetails(deps, pathItemId(event)));
}

async function search(event: APIGatewayProxyEventV2): Promise<JsonResponse> {
  const parsed = parseQuery(SearchQuerySchema, event.queryStringParameters);
  const contentType = (event.headers?.['content-type'] ?? '').toLowerCase();
  if (!contentType.startsWith('image/')) {
    throw new BadRequest(
      'unsupported_media_type',
      `send the image as the body with Content-Type image/*, not ${contentType || 'nothing'}`,
      415,
    );
  }
  const image = bodyBytes(event);
  if (image.length > MAX_IMAGE_BODY_BYTES) {
    throw new BadRequest(
      'payload_too_large',
      `the image is ${image.length} bytes; the limit is ${MAX_IMAGE_BODY_BYTES}`,
      413,
    );
  }
  return json(200, await searchByImage(deps, image, parsed));
}

export const { handler, router } = apiFunction(
  'recommend',
  {
    'GET /users/{userId}/recommendations': userRecommendations,
    'GET /items/{itemId}/similar': similar,
    'GET /items/{itemId}': item,
    'POST /search': search,
  },
  { logger, metrics, latencyMetric: true },
);

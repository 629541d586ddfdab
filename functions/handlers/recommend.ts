import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import {
  ComplementsQuerySchema,
  complementItems,
  HistoryQuerySchema,
  InterestsQuerySchema,
  itemDetails,
  ListQuerySchema,
  parseQuery,
  REPEATABLE_QUERY_PARAMETERS,
  type RecommendDeps,
  recommendForUser,
  SearchQuerySchema,
  SimilarQuerySchema,
  searchByImage,
  similarItems,
  TrendingQuerySchema,
  trendingItems,
  userHistory,
  userInterests,
} from '../app/recommend';
import { MAX_IMAGE_BODY_BYTES } from '../contract/routes';
import { Forbidden } from '../domain/errors';
import {
  BadRequest,
  bodyBytes,
  type JsonResponse,
  json,
  pathItemId,
  pathUserId,
  queryParameters,
} from '../http/api';
import { canActFor, resolveCaller } from '../http/identity';
import { apiFunction } from '../http/router';
import { observability } from '../platform/observability';
import { functionConfig } from '../wiring/environment';
import { createServedRecommend } from '../wiring/recommend';

const { logger, metrics } = observability('recommend');
const env = functionConfig('recommend');
const { identity } = env;
// The space served follows the spaces registry (a learned projection's promotion or rollback), read
// at most once per SPACE_REFRESH_MS; the parsed environment is the use case's configuration.
const servedDeps = createServedRecommend(
  {
    ...env,
    // Lists keep being served with the rules last read (none before the first read succeeds).
    // Where a cold start's index load went: the figures README "Capacity" sizes the function by.
    onIndexLoaded: (load) => {
      logger.info('vector index loaded', { ...load });
      metrics.addMetric('index_load_ms', MetricUnit.Milliseconds, load.downloadMs + load.buildMs);
    },
    onRulesError: (error) => {
      logger.warn('merchandising rules unreadable; serving the rules last read', { error: error as Error });
      metrics.addMetric('rules_read_failed', MetricUnit.Count, 1);
    },
  },
  undefined,
  (error) =>
    logger.warn('spaces registry unreadable; serving the space last read', { error: error as Error }),
);
// A profile of another space (a model switch, a promotion), or of an older fold for the history, is
// refolded in memory: what it costs, per request.
const onRefold: RecommendDeps['onRefold'] = (refold) => {
  logger.info('profile refolded', {
    userId: refold.userId,
    fromSpace: refold.from ?? 'legacy',
    toSpace: refold.to,
    ...(refold.fromSettings !== undefined ? { fromSettings: refold.fromSettings } : {}),
    events: refold.events,
    refoldMs: Math.round(refold.ms * 100) / 100,
  });
  metrics.addMetric('profile_refold_ms', MetricUnit.Milliseconds, refold.ms);
};
// A list whose impression could not be recorded is still answered: the list is what the user waits
// for, and a lost impression only makes exploration and attribution a little less exact.
const onImpressionFailed: RecommendDeps['onImpressionFailed'] = (error, list) => {
  logger.warn('impression not recorded; the list is answered', {
    recommendationId: list.recommendationId,
    strategy: list.strategy,
    error: error as Error,
  });
  metrics.addMetric('impression_write_failed', MetricUnit.Count, 1);
};
const deps = async (): Promise<RecommendDeps> => ({
  ...(await servedDeps()),
  onRefold,
  onImpressionFailed,
});

/** The user a catalogue route's list is shown to: a user token's, or none (a service, no auth). */
function viewerOf(event: APIGatewayProxyEventV2): string | undefined {
  const caller = resolveCaller(event, identity);
  return caller.kind === 'user' && caller.userId !== '' ? caller.userId : undefined;
}

async function userRecommendations(event: APIGatewayProxyEventV2): Promise<JsonResponse> {
  const userId = pathUserId(event);
  if (!canActFor(resolveCaller(event, identity), userId))
    throw new Forbidden(`not allowed to read recommendations of ${userId}`);
  const list = await recommendForUser(
    await deps(),
    userId,
    parseQuery(ListQuerySchema, queryParameters(event, REPEATABLE_QUERY_PARAMETERS)),
  );
  logger.info('recommendations', {
    userId,
    recommendationId: list.recommendationId,
    strategy: list.strategy,
    placement: list.placement,
    count: list.items.length,
  });
  metrics.addMetric(`recommendations_${list.strategy}`, MetricUnit.Count, 1);
  return json(200, list);
}

async function history(event: APIGatewayProxyEventV2): Promise<JsonResponse> {
  const userId = pathUserId(event);
  if (!canActFor(resolveCaller(event, identity), userId))
    throw new Forbidden(`not allowed to read the history of ${userId}`);
  const query = parseQuery(HistoryQuerySchema, queryParameters(event, new Set()));
  const answer = await userHistory(await deps(), userId, query);
  logger.info('history', { userId, kind: answer.kind, count: answer.items.length });
  return json(200, answer);
}

async function interests(event: APIGatewayProxyEventV2): Promise<JsonResponse> {
  const userId = pathUserId(event);
  if (!canActFor(resolveCaller(event, identity), userId))
    throw new Forbidden(`not allowed to read the interests of ${userId}`);
  parseQuery(InterestsQuerySchema, queryParameters(event, new Set()));
  const answer = await userInterests(await deps(), userId);
  logger.info('interests', { userId, count: answer.interests.length });
  return json(200, answer);
}

async function similar(event: APIGatewayProxyEventV2): Promise<JsonResponse> {
  const itemId = pathItemId(event);
  return json(
    200,
    await similarItems(
      await deps(),
      itemId,
      parseQuery(SimilarQuerySchema, queryParameters(event, REPEATABLE_QUERY_PARAMETERS)),
      viewerOf(event),
    ),
  );
}

async function complements(event: APIGatewayProxyEventV2): Promise<JsonResponse> {
  const itemId = pathItemId(event);
  return json(
    200,
    await complementItems(
      await deps(),
      itemId,
      parseQuery(ComplementsQuerySchema, queryParameters(event, new Set())),
      viewerOf(event),
    ),
  );
}

async function trending(event: APIGatewayProxyEventV2): Promise<JsonResponse> {
  const query = parseQuery(TrendingQuerySchema, queryParameters(event, REPEATABLE_QUERY_PARAMETERS));
  return json(200, await trendingItems(await deps(), query, viewerOf(event)));
}

async function item(event: APIGatewayProxyEventV2): Promise<JsonResponse> {
  return json(200, await itemDetails(await deps(), pathItemId(event)));
}

async function search(event: APIGatewayProxyEventV2): Promise<JsonResponse> {
  const parsed = parseQuery(SearchQuerySchema, queryParameters(event, REPEATABLE_QUERY_PARAMETERS));
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
  return json(200, await searchByImage(await deps(), image, parsed, viewerOf(event)));
}

export const { handler, router } = apiFunction(
  'recommend',
  {
    'GET /users/{userId}/recommendations': userRecommendations,
    'GET /users/{userId}/history': history,
    'GET /users/{userId}/interests': interests,
    'GET /items/{itemId}/similar': similar,
    'GET /items/{itemId}/complements': complements,
    'GET /items/{itemId}': item,
    'POST /search': search,
    'GET /trending': trending,
  },
  { logger, metrics, latencyMetric: true },
);

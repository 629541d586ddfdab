import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import {
  itemDetails,
  ListQuerySchema,
  parseQuery,
  recommendForUser,
  SearchQuerySchema,
  SimilarQuerySchema,
  searchByImage,
  similarItems,
} from '../app/recommend';
import { MAX_IMAGE_BODY_BYTES, type RouteKey } from '../contract/routes';
import { Forbidden } from '../domain/errors';
import { BadRequest, bodyBytes, errorResponse, json, pathItemId, pathUserId, requestIdOf } from '../http/api';
import { canActFor, identityConfigFromEnv, resolveCaller } from '../http/identity';
import { inFlow } from '../platform/fair-queue';
import { observability } from '../platform/observability';
import { createRecommendDeps, recommendConfigFromEnv } from '../wiring/recommend';

const { logger, metrics } = observability('recommend');
const identity = identityConfigFromEnv();
const deps = createRecommendDeps(recommendConfigFromEnv());

async function route(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  const query = event.queryStringParameters;
  switch (event.routeKey as RouteKey<'recommend'>) {
    case 'GET /users/{userId}/recommendations': {
      const userId = pathUserId(event);
      if (!canActFor(resolveCaller(event, identity), userId))
        throw new Forbidden(`not allowed to read recommendations of ${userId}`);
      const list = await recommendForUser(deps, userId, parseQuery(ListQuerySchema, query));
      logger.info('recommendations', {
        userId,
        recommendationId: list.recommendationId,
        strategy: list.strategy,
        count: list.items.length,
      });
      metrics.addMetric(`recommendations_${list.strategy}`, MetricUnit.Count, 1);
      return json(200, list);
    }
    case 'GET /items/{itemId}/similar':
      return json(200, await similarItems(deps, pathItemId(event), parseQuery(SimilarQuerySchema, query)));
    case 'GET /items/{itemId}':
      return json(200, await itemDetails(deps, pathItemId(event)));
    case 'POST /search': {
      const parsed = parseQuery(SearchQuerySchema, query);
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
    default:
      return json(404, { code: 'route_not_found', message: `no route ${event.routeKey}` });
  }
}

export async function handler(
  event: APIGatewayProxyEventV2,
  context: Context,
): Promise<APIGatewayProxyStructuredResultV2> {
  logger.addContext(context);
  const requestId = requestIdOf(event);
  logger.appendKeys({ requestId, routeKey: event.routeKey });
  const started = performance.now();
  try {
    // Each invocation is one flow of the DynamoDB client's fair queue (see aws-clients.ts).
    return await inFlow(`recommend:${requestId}`, () => route(event));
  } catch (error) {
    const response = errorResponse(error, requestId);
    if (response.statusCode === 500) logger.error('request failed', { error: error as Error });
    return response;
  } finally {
    metrics.addMetric('latency_ms', MetricUnit.Milliseconds, performance.now() - started);
    logger.removeKeys(['requestId', 'routeKey']);
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}

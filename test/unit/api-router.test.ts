/**
 * The API functions' router (functions/http/router.ts): its routes are the route table's, each route
 * key reaches its action with the event untouched, and every answer the router could give itself
 * (unknown route, error) is ours: `{code, message, requestId}` with our status codes and headers.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { Contention } from '../../functions/app/errors';
import { ENV } from '../../functions/contract/environment';
import { ROUTES, type RouteFunction, routeKey } from '../../functions/contract/routes';
import { InvalidRequest, NotFound } from '../../functions/domain/errors';
import { BadRequest, json } from '../../functions/http/api';
import {
  ApiRouter,
  apiFunction,
  type RegisteredRoute,
  type RouteAction,
  type RouteActions,
  routerPath,
} from '../../functions/http/router';
import { observability } from '../../functions/platform/observability';
import { lambdaContext } from '../../infra/local/lambda/context';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
const { logger, metrics } = observability('api-router-test');
const context = lambdaContext('test', { timeoutMs: 30_000 });

/** The router's routes as route keys: `GET /users/:userId` is `GET /users/{userId}`. */
const asRouteKeys = (routes: readonly RegisteredRoute[]) =>
  routes.map(({ method, path }) => `${method} ${path.replace(/:(\w+)/g, '{$1}')}`).sort();
const tableKeys = (name: RouteFunction) =>
  ROUTES.filter((route) => route.function === name)
    .map(routeKey)
    .sort();
const expectTableRoutes = (router: ApiRouter, name: RouteFunction) =>
  expect(asRouteKeys(router.routes())).toEqual(tableKeys(name));

function apiEvent(key: string, overrides: Partial<APIGatewayProxyEventV2> = {}): APIGatewayProxyEventV2 {
  const [method = 'GET', path = '/'] = key.split(' ');
  return {
    version: '2.0',
    routeKey: key,
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'api.example.com' },
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: 'request-1',
      routeKey: key,
      stage: '$default',
      time: '12/Mar/2020:19:03:58 +0000',
      timeEpoch: 0,
    },
    ...overrides,
  };
}

/** Track's routes, each answering which action ran and with which event. */
function trackApi() {
  const seen: Array<{ action: string; event: APIGatewayProxyEventV2 }> = [];
  const answer =
    (action: string): RouteAction =>
    async (event) => {
      seen.push({ action, event });
      return json(200, { action }, { 'x-action': action });
    };
  const actions: RouteActions<'track'> = {
    'POST /events': answer('events'),
    'POST /events/import': answer('import'),
    'DELETE /users/{userId}': answer('erase'),
    'PATCH /users/{userId}/interests/{interestId}': answer('edit-interest'),
    'DELETE /users/{userId}/interests/{interestId}': answer('forget-interest'),
    'GET /rules': answer('rules'),
    'POST /rules': answer('create-rule'),
    'GET /rules/{ruleId}': answer('rule'),
    'PUT /rules/{ruleId}': answer('update-rule'),
    'DELETE /rules/{ruleId}': answer('delete-rule'),
    'GET /admin/metrics': answer('metrics'),
  };
  return { seen, ...apiFunction('track', actions, { logger, metrics }) };
}

/** An API whose one route throws what `failure` returns. */
const throwing = (failure: () => unknown) =>
  apiFunction(
    'recommend',
    {
      'GET /users/{userId}/recommendations': async () => {
        throw failure();
      },
      'GET /users/{userId}/history': async () => json(200, {}),
      'GET /users/{userId}/interests': async () => json(200, {}),
      'GET /items/{itemId}': async () => json(200, {}),
      'GET /items/{itemId}/similar': async () => json(200, {}),
      'GET /items/{itemId}/complements': async () => json(200, {}),
      'POST /search': async () => json(200, {}),
      'GET /trending': async () => json(200, {}),
    },
    { logger, metrics, latencyMetric: true },
  ).handler;

describe("each API function's router", () => {
  beforeAll(() => {
    // Cold-start configuration the handlers read; nothing is called at import.
    Object.assign(process.env, {
      [ENV.ITEMS_TABLE]: 'items',
      [ENV.EVENTS_TABLE]: 'events',
      [ENV.PROFILES_TABLE]: 'profiles',
      [ENV.STATS_TABLE]: 'stats',
      [ENV.IMPRESSIONS_TABLE]: 'impressions',
      [ENV.RULES_TABLE]: 'rules',
      [ENV.CATALOGUE_BUCKET]: 'catalogue',
      [ENV.ACTIVE_MODEL_ID]: 'model',
      [ENV.MODEL_DIMENSION]: '64',
      AWS_REGION: 'eu-west-1',
    });
  });

  it.each(['track', 'recommend'] as const)('%s: has exactly its routes of the route table', async (name) => {
    const { router } = (await import(`../../functions/handlers/${name}`)) as { router: ApiRouter };
    expectTableRoutes(router, name);
  });

  it('fails the comparison for a route added to the router', () => {
    const { router } = trackApi();
    router.get('/users/:userId/events', async () => json(200, {}));
    expect(() => expectTableRoutes(router, 'track')).toThrow();
  });

  it('fails the comparison for a route missing from the router', () => {
    const router = new ApiRouter();
    for (const route of ROUTES.filter((r) => r.function === 'track').slice(1))
      router.route(async () => json(200, {}), { method: route.method, path: routerPath(route.path) });
    expect(asRouteKeys(router.routes())).toHaveLength(tableKeys('track').length - 1);
    expect(() => expectTableRoutes(router, 'track')).toThrow();
  });

  it('refuses, at cold start, a route of the table without an action or an action without a route', () => {
    const events = async () => json(202, {});
    expect(() =>
      apiFunction(
        'track',
        // @ts-expect-error an action missing for a route of the table does not compile
        { 'POST /events': events, 'POST /events/import': events },
        { logger, metrics },
      ),
    ).toThrow('track: no action for DELETE /users/{userId}');
    expect(() =>
      apiFunction(
        'track',
        {
          'POST /events': events,
          'POST /events/import': events,
          'DELETE /users/{userId}': events,
          // @ts-expect-error nor does one for a route the table does not have
          'GET /events': events,
        },
        { logger, metrics },
      ),
    ).toThrow('track: the route table has no route GET /events');
  });
});

describe('dispatch', () => {
  it.each(tableKeys('track'))('%s reaches its action with the event as API Gateway sent it', async (key) => {
    const { handler, seen } = trackApi();
    const event = apiEvent(key, { pathParameters: { userId: 'u-1' }, body: '{}' });
    const response = await handler(event, context);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.event).toBe(event);
    const action = seen[0]?.action as string;
    expect(response).toEqual({
      statusCode: 200,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
        'x-action': action,
      },
      body: JSON.stringify({ action }),
      isBase64Encoded: false,
    });
  });

  it('routes by the route key API Gateway matched, not by the twice-decoded rawPath', async () => {
    const { handler, seen } = trackApi();
    // `/users/a%252Fb` is the user `a/b`: rawPath has a segment more than the route.
    const event = apiEvent('DELETE /users/{userId}', {
      rawPath: '/users/a/b',
      pathParameters: { userId: 'a/b' },
    });
    expect((await handler(event, context)).statusCode).toBe(200);
    expect(seen.map((s) => s.action)).toEqual(['erase']);
  });

  it('dispatches whatever the headers and body: an odd Host, a body on any method, base64', async () => {
    const { handler, seen } = trackApi();
    const event = apiEvent('DELETE /users/{userId}', {
      headers: { host: 'not a host/?#', 'x-forwarded-proto': 'no scheme', 'content-type': 'image/png' },
      body: Buffer.from([0xff, 0xd8, 0x00]).toString('base64'),
      isBase64Encoded: true,
      rawQueryString: '%%%',
      cookies: ['a=b'],
    });
    expect((await handler(event, context)).statusCode).toBe(200);
    expect(seen[0]?.event).toBe(event);
  });

  it.each([
    ['a route of another function', 'POST /search'],
    ['a route the table lacks', 'GET /events'],
    ["API Gateway's default route", '$default'],
    ['a method in lower case', 'post /events'],
    ['a path with a query', 'POST /events?x=1'],
    ['a path with a fragment', 'POST /events#x'],
    ['a lone surrogate', 'POST /users/\ud800'],
  ])('answers %s with 404 route_not_found', async (_, key) => {
    const { handler, seen } = trackApi();
    const response = await handler(apiEvent(key), context);
    expect(seen).toEqual([]);
    expect(response.statusCode).toBe(404);
    expect(response.headers).toEqual({
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
    });
    expect(JSON.parse(response.body)).toEqual({
      code: 'route_not_found',
      message: `no route ${key}`,
      requestId: 'request-1',
    });
  });
});

describe('errors', () => {
  const call = async (failure: () => unknown) => {
    const response = await throwing(failure)(apiEvent('GET /users/{userId}/recommendations'), context);
    return { status: response.statusCode, headers: response.headers, body: JSON.parse(response.body) };
  };

  it.each([
    ['BadRequest', () => new BadRequest('payload_too_large', 'too big', 413), 413, 'payload_too_large'],
    ['InvalidRequest', () => new InvalidRequest('invalid_query', 'bad limit'), 400, 'invalid_query'],
    ['NotFound', () => new NotFound('item', 'x'), 404, 'unknown_item'],
  ])('maps %s to its status and body', async (_, failure, status, code) => {
    const response = await call(failure);
    expect(response.status).toBe(status);
    expect(response.body).toEqual({
      ...(failure() as { toJSON(): object }).toJSON(),
      requestId: 'request-1',
    });
    expect(response.body.code).toBe(code);
  });

  it('answers contention with 503 and retry-after', async () => {
    const response = await call(() => new Contention('busy'));
    expect(response).toEqual({
      status: 503,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
        'retry-after': '1',
      },
      body: { code: 'contention', message: 'busy', requestId: 'request-1' },
    });
  });

  it.each([
    ['an unknown Error', () => new TypeError('x is undefined')],
    ['a thrown string', () => 'boom'],
    ['a thrown undefined', () => undefined],
  ])('answers %s with 500 internal_error and nothing of the error', async (_, failure) => {
    const response = await call(failure);
    expect(response.status).toBe(500);
    expect(response.body).toEqual({
      code: 'internal_error',
      message: 'Internal Server Error',
      requestId: 'request-1',
    });
  });
});

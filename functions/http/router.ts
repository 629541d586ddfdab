/**
 * The one wrapper of the API functions (track, recommend): Powertools' HTTP router with a route for
 * each of the function's routes in the route table, our `{code, message, requestId}` answers for
 * errors and unknown routes, and per request the log keys, the metrics and one fair-queue flow.
 */
import { isHttpMethod, Router } from '@aws-lambda-powertools/event-handler/http';
import type { HttpRouterOptions, RequestContext } from '@aws-lambda-powertools/event-handler/types';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { ROUTES, type RouteFunction, type RouteKey, routeKey } from '../contract/routes';
import { inFlow } from '../platform/fair-queue';
import { traced } from '../platform/tracing';
import { errorResponse, type JsonResponse, json, requestIdOf } from './api';

/** What a route does with its request. */
export type RouteAction = (event: APIGatewayProxyEventV2) => Promise<JsonResponse>;

/** An action for each of a function's routes: a route missing, or one the table lacks, fails to compile. */
export type RouteActions<F extends RouteFunction> = { readonly [K in RouteKey<F>]: RouteAction };

export type ApiHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<JsonResponse>;

export interface ApiOptions {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Record each request's `latency_ms`. @default false */
  readonly latencyMetric?: boolean;
}

/** A route as registered on a router, in the router's syntax: `GET /users/:userId`. */
export interface RegisteredRoute {
  readonly method: string;
  readonly path: string;
}

/**
 * Powertools' router, which also lists the routes registered on it: its registry keeps them private,
 * so each registration is noted on its way in (every way of adding a route goes through `register`).
 */
export class ApiRouter extends Router {
  readonly #registered: RegisteredRoute[] = [];

  constructor(options?: HttpRouterOptions) {
    super(options);
    const registry = this.routeRegistry;
    const register = registry.register.bind(registry);
    registry.register = (route) => {
      this.#registered.push({ method: route.method, path: String(route.path) });
      register(route);
    };
  }

  routes(): RegisteredRoute[] {
    return [...this.#registered];
  }
}

/** An API Gateway path in the router's syntax: `/users/{userId}` is `/users/:userId`. */
export const routerPath = (path: string): `/${string}` =>
  path.replace(/\{([^{}/]+)\}/g, ':$1') as `/${string}`;

/**
 * The request the router matches: the route API Gateway already matched, named by the event's route
 * key, and not `rawPath`. API Gateway decodes the path twice before matching (`/items/a%252Fb` is the
 * item `a/b`), so `rawPath` can have more segments than its route, or a `?` or `#`. Each segment is
 * percent-encoded, so the router matches the key's path as written (`{itemId}` is a value of
 * `:itemId`). The stand-in carries no body, headers or query (a GET body or an odd Host would make
 * the router's Web Request throw); the actions read the event itself, path parameters included.
 * Undefined for what is not a route key (`$default`, a method the router does not know).
 */
function routerEvent(event: APIGatewayProxyEventV2): APIGatewayProxyEventV2 | undefined {
  const key = typeof event.routeKey === 'string' ? event.routeKey : '';
  const space = key.indexOf(' ');
  const method = key.slice(0, space);
  const path = key.slice(space + 1);
  if (space < 0 || !isHttpMethod(method) || !path.startsWith('/')) return undefined;
  let rawPath: string;
  try {
    rawPath = path.split('/').map(encodeURIComponent).join('/');
  } catch {
    // A lone surrogate, which no route of the table has.
    return undefined;
  }
  return {
    version: '2.0',
    routeKey: key,
    rawPath,
    rawQueryString: '',
    headers: {},
    isBase64Encoded: false,
    requestContext: {
      ...event.requestContext,
      domainName: 'api.invalid',
      http: { ...event.requestContext?.http, method, path: rawPath },
    },
  };
}

const routeNotFound = (event: APIGatewayProxyEventV2): JsonResponse =>
  json(404, {
    code: 'route_not_found',
    message: `no route ${event.routeKey}`,
    requestId: requestIdOf(event),
  });

/**
 * The Lambda handler of one API function and its router, whose routes are that function's routes
 * in the route table, each running its action from `actions`.
 */
export function apiFunction<F extends RouteFunction>(
  name: F,
  actions: RouteActions<F>,
  options: ApiOptions,
): { handler: ApiHandler; router: ApiRouter } {
  const { logger, metrics } = options;
  const routes = ROUTES.filter((route) => route.function === name);
  const byKey: Readonly<Record<string, RouteAction | undefined>> = actions;
  const unknown = Object.keys(byKey).filter((key) => !routes.some((route) => routeKey(route) === key));
  if (unknown.length > 0) throw new Error(`${name}: the route table has no route ${unknown.join(', ')}`);

  // The event each stand-in was made from (see routerEvent), for the actions and the error answers.
  const events = new WeakMap<object, APIGatewayProxyEventV2>();
  const eventOf = (reqCtx: RequestContext): APIGatewayProxyEventV2 => {
    const event = events.get(reqCtx.event);
    if (!event) throw new Error('the router resolved an event the API handler did not give it');
    return event;
  };

  const router = new ApiRouter({ logger });
  for (const route of routes) {
    const action = byKey[routeKey(route)];
    if (!action) throw new Error(`${name}: no action for ${routeKey(route)}`);
    router.route(
      async (reqCtx) => {
        try {
          return await action(eventOf(reqCtx));
        } catch (error) {
          // The router hands only Errors to the error handler below; anything else is a 500 as well.
          throw error instanceof Error ? error : new Error(String(error));
        }
      },
      { method: route.method, path: routerPath(route.path) },
    );
  }
  // The router's own answers ({statusCode, error, message}) would change the documented bodies.
  router.notFound(async (_error, reqCtx) => routeNotFound(eventOf(reqCtx)));
  const answerError = (error: unknown, requestId: string): JsonResponse => {
    const response = errorResponse(error, requestId);
    if (response.statusCode === 500) logger.error('request failed', { error: error as Error });
    return response;
  };
  router.errorHandler(Error, async (error, reqCtx) => answerError(error, requestIdOf(eventOf(reqCtx))));

  const handler: ApiHandler = (event, context) => traced(() => handle(event, context));
  const handle: ApiHandler = async (event, context) => {
    logger.addContext(context);
    const requestId = requestIdOf(event);
    logger.appendKeys({ requestId, routeKey: event.routeKey });
    const started = performance.now();
    try {
      // Each invocation is one flow of the DynamoDB client's fair queue (see platform/fair-queue.ts).
      return await inFlow(`${name}:${requestId}`, async () => {
        const routed = routerEvent(event);
        if (!routed) return routeNotFound(event);
        events.set(routed, event);
        return (await router.resolve(routed, context)) as JsonResponse;
      });
    } catch (error) {
      // Only a fault of the router itself gets here: every error of a route has been answered above.
      return answerError(error, requestId);
    } finally {
      if (options.latencyMetric)
        metrics.addMetric('latency_ms', MetricUnit.Milliseconds, performance.now() - started);
      logger.removeKeys(['requestId', 'routeKey']);
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
  return { handler, router };
}

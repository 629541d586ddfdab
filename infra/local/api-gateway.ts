/**
 * What API Gateway HTTP APIs (Lambda proxy integration, payload format 2.0) do to a request and to a
 * handler's result, as pure functions for the local server. Where the AWS documentation is silent the
 * rules follow live captures, cited where they are applied, so that what works locally works deployed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type {
  APIGatewayEventRequestContextIAMAuthorizer,
  APIGatewayEventRequestContextJWTAuthorizer,
  APIGatewayEventRequestContextV2WithAuthorizer,
  APIGatewayProxyEventV2,
  APIGatewayProxyEventV2WithRequestContext,
} from 'aws-lambda';
import { type Route, routeKey } from '../../functions/contract/routes';

/**
 * Lambda takes 6 MB per synchronous invocation, counted on the event, where a binary body is base64
 * (4/3 of its size): about 4.5 MB of image. The rest of the event (a few KB of headers) is not counted.
 */
export const MAX_REQUEST_BYTES = 6 * 1024 * 1024;

export type HttpHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** A plain HTTP request, as the local server (or a test) received it. */
export interface GatewayRequest {
  readonly method: string;
  /** The request target as sent: path and query string, still percent-encoded (Node's `req.url`). */
  readonly url: string;
  /** Names in any case; a repeated header as an array (Node's `req.headersDistinct`). */
  readonly headers: HttpHeaders;
  readonly body: Buffer;
  /** @default '127.0.0.1' */
  readonly sourceIp?: string;
  /** @default 'HTTP/1.1' */
  readonly protocol?: string;
}

export interface GatewayResponse {
  readonly status: number;
  /** Lower-case names; `set-cookie` may carry several values. */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: Buffer;
}

export type RouteTemplate = Pick<Route, 'method' | 'path'>;

/**
 * Answers API Gateway gives itself, in our `{ code, message }` shape with API Gateway's status and
 * message. A path that exists only under other methods is a 404 too, as API Gateway answers it, so a
 * client cannot come to rely on a 405 that only the twin gives; the code still tells the two apart.
 */
export const GATEWAY_ERRORS = {
  route_not_found: { status: 404, message: 'Not Found' },
  method_not_allowed: { status: 404, message: 'Not Found' },
  bad_request: { status: 400, message: 'Bad Request' },
  unauthorized: { status: 401, message: 'Unauthorized' },
  forbidden: { status: 403, message: 'Forbidden' },
  payload_too_large: { status: 413, message: 'Request Entity Too Large' },
  internal_error: { status: 500, message: 'Internal Server Error' },
  integration_timeout: { status: 503, message: 'Service Unavailable' },
} as const satisfies Record<string, { status: number; message: string }>;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

export function gatewayError(
  code: GatewayErrorCode,
  options: { requestId?: string; details?: Record<string, unknown> } = {},
): GatewayResponse {
  const { status, message } = GATEWAY_ERRORS[code];
  const body = { code, message, ...(options.details ? { details: options.details } : {}) };
  return {
    status,
    headers: {
      'content-type': 'application/json',
      ...(options.requestId ? { 'apigw-requestid': options.requestId } : {}),
    },
    body: Buffer.from(JSON.stringify(body)),
  };
}

/** The path of a request target (`/a/b?x=1`, or the absolute form a proxy sends), still encoded. */
export function pathOf(url: string): string {
  const withoutOrigin = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '');
  const end = withoutOrigin.search(/[?#]/);
  const path = end === -1 ? withoutOrigin : withoutOrigin.slice(0, end);
  return path === '' ? '/' : path;
}

function queryOf(url: string): string {
  const start = url.indexOf('?');
  if (start === -1) return '';
  const end = url.indexOf('#', start);
  return url.slice(start + 1, end === -1 ? undefined : end);
}

const decode = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
};

export type RouteMatch<R extends RouteTemplate> =
  | {
      readonly kind: 'matched';
      readonly route: R;
      readonly pathParameters: Readonly<Record<string, string>>;
      /** The path as API Gateway puts it in `rawPath` and `requestContext.http.path`: decoded. */
      readonly rawPath: string;
    }
  | {
      readonly kind: 'rejected';
      readonly code: 'route_not_found' | 'method_not_allowed' | 'bad_request';
      /** Methods the path does have, when `method_not_allowed`. */
      readonly allow: readonly string[];
    };

type TemplateSegment = { readonly literal: string } | { readonly param: string };

function templateSegments(path: string): TemplateSegment[] {
  return path.split('/').map((segment) => {
    const param = /^\{([^{}]+)\}$/.exec(segment)?.[1];
    if (param === undefined) return { literal: segment };
    // A greedy {proxy+} would silently never match here; the route table has none.
    if (param.endsWith('+')) throw new Error(`greedy path variables are not supported locally: ${path}`);
    return { param };
  });
}

/**
 * Picks the route for a request the way API Gateway HTTP APIs do, including how they decode the path.
 * Live captures (hotsock/voker `vokerhttp/testdata/ingress-paths.json`, July 2026) show the path is
 * percent-decoded before routing, a decoded `?` ends it, and `rawPath` is decoded a second time:
 * `%2F` is therefore a path separator like `/` (`/items/a%2Fb` matches no route; a `/` inside an id
 * must be sent as `%252F`), and a lone `%25` is refused with 400 (a literal `%` is sent as `%2525`).
 * Path parameters take the same second decoding. A route with more literal segments wins.
 */
export function matchRoute<R extends RouteTemplate>(
  routes: readonly R[],
  method: string,
  encodedPath: string,
): RouteMatch<R> {
  const decodedOnce = decode(encodedPath);
  if (decodedOnce === undefined) return { kind: 'rejected', code: 'bad_request', allow: [] };
  const queryStart = decodedOnce.indexOf('?');
  const routingPath = queryStart === -1 ? decodedOnce : decodedOnce.slice(0, queryStart);
  const rawPath = decode(routingPath);
  if (rawPath === undefined) return { kind: 'rejected', code: 'bad_request', allow: [] };

  const segments = routingPath.split('/');
  const allow: string[] = [];
  let best: { route: R; params: Record<string, string>; literals: number } | undefined;
  for (const route of routes) {
    const template = templateSegments(route.path);
    if (template.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let literals = 0;
    const matches = template.every((part, index) => {
      const segment = segments[index] ?? '';
      if ('literal' in part) {
        literals += 1;
        return part.literal === segment;
      }
      // A path variable is one non-empty segment; its decoding cannot fail once rawPath's did not.
      params[part.param] = decode(segment) ?? segment;
      return segment !== '';
    });
    if (!matches) continue;
    allow.push(route.method);
    if (route.method === method && (!best || literals > best.literals)) best = { route, params, literals };
  }
  if (best) return { kind: 'matched', route: best.route, pathParameters: best.params, rawPath };
  return { kind: 'rejected', code: allow.length > 0 ? 'method_not_allowed' : 'route_not_found', allow };
}

/**
 * Content types whose bodies API Gateway passes as UTF-8 text; every other body, including one without
 * a content type and `application/x-www-form-urlencoded`, arrives base64-encoded. The AWS docs do not
 * list them: this is the split ministack verified against a live HTTP API (ministackorg/ministack#766).
 * Handlers must honour `isBase64Encoded` either way; suffixes such as `+json` count as binary here.
 */
export function isTextContentType(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return (
    type.startsWith('text/') ||
    type === 'application/json' ||
    type === 'application/xml' ||
    type === 'application/javascript'
  );
}

/** How many bytes a body takes in the Lambda event (base64 for binary bodies). */
export function encodedBodyBytes(byteLength: number, contentType: string | undefined): number {
  return isTextContentType(contentType) ? byteLength : Math.ceil(byteLength / 3) * 4;
}

/** The most raw body bytes that still fit in {@link MAX_REQUEST_BYTES} once encoded. */
export function maxRawBodyBytes(contentType: string | undefined): number {
  return isTextContentType(contentType) ? MAX_REQUEST_BYTES : Math.floor(MAX_REQUEST_BYTES / 4) * 3;
}

/** Header values by lower-case name, repeated headers joined with ',' as API Gateway joins them. */
export function joinHeaders(headers: HttpHeaders): Record<string, string> {
  const joined: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    const text = typeof value === 'string' ? value : value.join(',');
    joined[key] = joined[key] === undefined ? text : `${joined[key]},${text}`;
  }
  return joined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (value: number) => String(value).padStart(2, '0');

/** `requestContext.time`, e.g. "12/Mar/2020:19:03:58 +0000". */
export function requestTime(date: Date): string {
  return (
    `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}

export interface GatewayIdentity {
  /** @default '123456789012' */
  readonly accountId?: string;
  /** @default 'local' */
  readonly apiId?: string;
}

type MatchedRoute<R extends RouteTemplate> = Extract<RouteMatch<R>, { kind: 'matched' }>;

/** The event API Gateway would send the route's function for this request. */
export function toApiGatewayEvent<R extends RouteTemplate>(
  request: GatewayRequest,
  match: MatchedRoute<R>,
  identity: GatewayIdentity = {},
  now = new Date(),
): APIGatewayProxyEventV2 {
  const sourceIp = request.sourceIp ?? '127.0.0.1';
  const headers = joinHeaders(request.headers);
  // API Gateway moves cookies out of the headers into their own list, one entry per cookie.
  const cookies = (headers.cookie ?? '')
    .split(/[;,]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  // The body arrives whole, so framing headers describe it as API Gateway's do.
  for (const name of ['cookie', 'connection', 'transfer-encoding']) Reflect.deleteProperty(headers, name);
  if (request.body.length > 0) headers['content-length'] = String(request.body.length);
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${sourceIp}`
    : sourceIp;
  headers['x-forwarded-proto'] = 'http';
  headers['x-amzn-trace-id'] ??=
    `Root=1-${Math.floor(now.getTime() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;

  const rawQueryString = queryOf(request.url);
  const query = new URLSearchParams(rawQueryString);
  const queryStringParameters: Record<string, string> = {};
  for (const key of new Set(query.keys())) queryStringParameters[key] = query.getAll(key).join(',');

  const textBody = isTextContentType(headers['content-type']);
  const domainName = headers.host ?? 'localhost';
  const key = routeKey(match.route);
  return {
    version: '2.0',
    routeKey: key,
    rawPath: match.rawPath,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(Object.keys(queryStringParameters).length > 0 ? { queryStringParameters } : {}),
    ...(Object.keys(match.pathParameters).length > 0 ? { pathParameters: { ...match.pathParameters } } : {}),
    requestContext: {
      accountId: identity.accountId ?? '123456789012',
      apiId: identity.apiId ?? 'local',
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        method: request.method,
        path: match.rawPath,
        protocol: request.protocol ?? 'HTTP/1.1',
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: key,
      stage: '$default',
      time: requestTime(now),
      timeEpoch: now.getTime(),
    },
    ...(request.body.length > 0
      ? { body: request.body.toString(textBody ? 'utf8' : 'base64'), isBase64Encoded: !textBody }
      : { isBase64Encoded: false }),
  };
}

/**
 * A verified token's claims as an HTTP API's JWT authorizer hands them to the function (payload 2.0),
 * measured against live HTTP APIs (floci-io/floci#2011): every value a string; strings as they are,
 * numbers and booleans in their JSON form, an array as its elements joined by single spaces inside
 * brackets with nothing escaped (`["a", "b c"]` is `[a b c]`; an element that is no string is JSON),
 * an object as JSON text, and a null claim left out.
 */
export function flattenClaims(payload: Readonly<Record<string, unknown>>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(payload)) {
    if (value === null || value === undefined) continue;
    if (typeof value === 'string') flat[name] = value;
    else if (Array.isArray(value))
      flat[name] =
        `[${value.map((item) => (typeof item === 'string' ? item : JSON.stringify(item))).join(' ')}]`;
    else flat[name] = JSON.stringify(value);
  }
  return flat;
}

export type RequestAuthorizer =
  | APIGatewayEventRequestContextJWTAuthorizer
  | APIGatewayEventRequestContextIAMAuthorizer;

/** What a route authorizer decided: API Gateway answers a denial itself, without calling the function. */
export type AuthResult =
  | { readonly allow: true; readonly authorizer?: RequestAuthorizer }
  | { readonly allow: false; readonly status: 401 | 403 };

export type Authorize = (event: APIGatewayProxyEventV2, route: Route) => Promise<AuthResult>;

/** No authorizer in front of the functions (local development); handlers see no `authorizer`. */
export const allowAll: Authorize = async () => ({ allow: true });

export function withAuthorizer(
  event: APIGatewayProxyEventV2,
  authorizer: RequestAuthorizer,
): APIGatewayProxyEventV2 {
  const authorized: APIGatewayProxyEventV2WithRequestContext<
    APIGatewayEventRequestContextV2WithAuthorizer<RequestAuthorizer>
  > = { ...event, requestContext: { ...event.requestContext, authorizer } };
  return authorized;
}

export type MappedResult =
  | { readonly ok: true; readonly response: GatewayResponse }
  | { readonly ok: false; readonly reason: string };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The HTTP response API Gateway makes of a function's result. With a `statusCode` the result is a
 * structured response (no content-type means `text/plain; charset=utf-8`, as AWS's own emulator in
 * aws/aws-lambda-dotnet LambdaTestTool-v2 records it); any other value is a 200 JSON body, a string
 * being the body itself (the documented "Hello from Lambda!" example). A structured response API
 * Gateway cannot read becomes its 500, so it is reported as not ok.
 */
export function fromHandlerResult(result: unknown, requestId: string): MappedResult {
  // The runtime hands API Gateway JSON, so undefined fields vanish and toJSON() applies, as deployed.
  let payload: unknown;
  try {
    payload = JSON.parse(JSON.stringify(result) ?? 'null');
  } catch (error) {
    return { ok: false, reason: `the result is not JSON-serialisable: ${(error as Error).message}` };
  }
  const gatewayHeaders = { 'apigw-requestid': requestId };
  if (!isRecord(payload) || !('statusCode' in payload)) {
    return {
      ok: true,
      response: {
        status: 200,
        headers: { 'content-type': 'application/json', ...gatewayHeaders },
        body: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)),
      },
    };
  }

  const { statusCode, headers = {}, cookies = [], body, isBase64Encoded = false } = payload;
  if (
    typeof statusCode !== 'number' ||
    !Number.isInteger(statusCode) ||
    statusCode < 100 ||
    statusCode > 599
  ) {
    return {
      ok: false,
      reason: `statusCode must be an integer from 100 to 599, got ${JSON.stringify(statusCode)}`,
    };
  }
  if (!isRecord(headers)) return { ok: false, reason: 'headers must be an object of strings' };
  if (!Array.isArray(cookies) || !cookies.every((cookie) => typeof cookie === 'string')) {
    return { ok: false, reason: 'cookies must be an array of strings' };
  }
  if (body !== undefined && body !== null && typeof body !== 'string') {
    return { ok: false, reason: `body must be a string, got ${typeof body}` };
  }
  if (typeof isBase64Encoded !== 'boolean') return { ok: false, reason: 'isBase64Encoded must be a boolean' };

  const responseHeaders: Record<string, string | readonly string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!['string', 'number', 'boolean'].includes(typeof value)) {
      return { ok: false, reason: `header ${name} must be a string, number or boolean` };
    }
    responseHeaders[name.toLowerCase()] = String(value);
  }
  const headerCookie = responseHeaders['set-cookie'];
  const setCookie = [...cookies, ...(headerCookie === undefined ? [] : [headerCookie].flat())];
  if (setCookie.length > 0) responseHeaders['set-cookie'] = setCookie;
  responseHeaders['content-type'] ??= 'text/plain; charset=utf-8';
  Object.assign(responseHeaders, gatewayHeaders);

  const text = body ?? '';
  return {
    ok: true,
    response: {
      status: statusCode,
      headers: responseHeaders,
      body: isBase64Encoded ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8'),
    },
  };
}

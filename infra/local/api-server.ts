/**
 * The local twin of the deployed HTTP API: the routes of functions/contract/routes.ts served by the real handlers,
 * with the event and response mapping, body limit, authorizer hook and error answers of API Gateway
 * (see api-gateway.ts). `invoke` runs the same pipeline without a socket, for tests.
 */
import { isUtf8 } from 'node:buffer';
import { readFile, realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import { ROUTES, type Route, type RouteFunction } from '../../functions/contract/routes';
import {
  type Authorize,
  type AuthResult,
  allowAll,
  encodedBodyBytes,
  fromHandlerResult,
  type GatewayIdentity,
  type GatewayRequest,
  type GatewayResponse,
  gatewayError,
  type HttpHeaders,
  isTextContentType,
  joinHeaders,
  MAX_REQUEST_BYTES,
  matchRoute,
  maxRawBodyBytes,
  pathOf,
  type RouteTemplate,
  toApiGatewayEvent,
  withAuthorizer,
} from './api-gateway';
import { lambdaContext } from './lambda/context';

/** A Lambda handler behind the API; a plain object or string result becomes a 200 JSON body. */
export type ApiHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyResultV2<object>>;
export type ApiHandlers = Readonly<Record<RouteFunction, ApiHandler>>;

/** A local-only route such as `GET /openapi.json`: not part of the deployed API, so never authorized. */
export interface ExtraRoute extends RouteTemplate {
  readonly handler: ApiHandler;
  /**
   * A local-only route that stands for something other than an API Gateway integration (an
   * operator's direct function invoke, which has the function's own 15-minute limit) may wait longer
   * than the API's timeout. @default the server's timeoutMs
   */
  readonly timeoutMs?: number;
}

export interface ApiOptions extends GatewayIdentity {
  readonly handlers: ApiHandlers;
  /** Runs before every route's function, like the deployed route authorizers. @default allowAll */
  readonly authorize?: Authorize;
  /** Files served for GET requests that match no route, `index.html` for a folder. @default none */
  readonly staticDir?: string;
  readonly extraRoutes?: readonly ExtraRoute[];
  /** @default a line per request on stderr */
  readonly log?: (line: string) => void;
  /** API Gateway's integration timeout; later answers are a 503, like the deployed API's. @default 30 000 */
  readonly timeoutMs?: number;
}

export interface ApiServerOptions extends ApiOptions {
  /** @default 0 (a free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
}

export interface ApiServer {
  /** e.g. `http://127.0.0.1:3000`, without a trailing slash. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface LocalRequest {
  readonly method: string;
  /** Path and query string, percent-encoded as a client sends them. */
  readonly path: string;
  readonly headers?: HttpHeaders;
  readonly body?: Buffer | string;
}

export interface LocalResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: Buffer;
  json<T = unknown>(): T;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const defaultLog = (line: string) => process.stderr.write(`${line}\n`);

/** Runs one request through the twin without a socket. */
export async function invoke(
  handlers: ApiHandlers,
  request: LocalRequest,
  options: Omit<ApiOptions, 'handlers'> = {},
): Promise<LocalResponse> {
  const body =
    typeof request.body === 'string' ? Buffer.from(request.body) : (request.body ?? Buffer.alloc(0));
  const response = await dispatch(
    { log: () => {}, ...options, handlers },
    { method: request.method, url: request.path, headers: request.headers ?? {}, body },
  );
  return toLocalResponse(response);
}

export function toLocalResponse(response: GatewayResponse): LocalResponse {
  return { ...response, json: <T>() => JSON.parse(response.body.toString('utf8')) as T };
}

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? defaultLog;
  const server = createServer((req, res) => {
    serveHttp({ ...options, log }, req, res).catch((error: unknown) => {
      log(`${req.method} ${req.url} failed: ${errorText(error)}`);
      if (!res.headersSent) writeResponse(res, gatewayError('internal_error'));
      else res.destroy();
    });
  });
  server.on('checkContinue', (req, res) => {
    // curl asks before uploading over 1 MB: a body announced too large is refused before it is sent.
    if (!(Number(req.headers['content-length']) > maxRawBodyBytes(req.headers['content-type'])))
      res.writeContinue();
    server.emit('request', req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function serveHttp(
  options: ApiOptions & { log: (line: string) => void },
  req: IncomingMessage,
  res: ServerResponse,
) {
  const started = Date.now();
  const read = await readBody(req, maxRawBodyBytes(req.headers['content-type']));
  if (read.kind === 'aborted') return;
  const response =
    read.kind === 'too_large'
      ? gatewayError('payload_too_large')
      : await dispatch(options, {
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          headers: req.headersDistinct,
          body: read.body,
          sourceIp: req.socket.remoteAddress,
          protocol: `HTTP/${req.httpVersion}`,
        });
  // The rest of an oversized body is never read: closing the connection is the only way to refuse it.
  if (read.kind === 'too_large') res.setHeader('connection', 'close');
  writeResponse(res, response);
  options.log(`${req.method} ${req.url} -> ${response.status} (${Date.now() - started} ms)`);
}

type BodyRead = { kind: 'complete'; body: Buffer } | { kind: 'too_large' } | { kind: 'aborted' };

/** Reads at most `maxBytes`; a larger body is refused as soon as its size is known, not buffered. */
function readBody(req: IncomingMessage, maxBytes: number): Promise<BodyRead> {
  if (Number(req.headers['content-length']) > maxBytes) {
    req.pause();
    return Promise.resolve({ kind: 'too_large' });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const finish = (result: BodyRead) => {
      req.off('data', onData).off('end', onEnd).off('error', onAbort).off('close', onAbort);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      chunks.length = 0;
      req.pause();
      finish({ kind: 'too_large' });
    };
    const onEnd = () => finish({ kind: 'complete', body: Buffer.concat(chunks, received) });
    const onAbort = () => finish({ kind: 'aborted' });
    req.on('data', onData).on('end', onEnd).on('error', onAbort).on('close', onAbort);
  });
}

function writeResponse(res: ServerResponse, response: GatewayResponse) {
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  res.setHeader('content-length', response.body.length);
  res.writeHead(response.status);
  res.end(response.body);
}

/** The twin's pipeline: body limit, route, authorizer, function, result mapping. */
export async function dispatch(options: ApiOptions, request: GatewayRequest): Promise<GatewayResponse> {
  const log = options.log ?? defaultLog;
  const contentType = joinHeaders(request.headers)['content-type'];
  if (encodedBodyBytes(request.body.length, contentType) > MAX_REQUEST_BYTES) {
    return gatewayError('payload_too_large');
  }

  const encodedPath = pathOf(request.url);
  const match = matchRoute(ROUTES, request.method, encodedPath);
  if (match.kind === 'matched') {
    // A text body reaches the function as a string, where invalid UTF-8 could only become U+FFFD (two
    // different ids, one stored id). Deployed, API Gateway is reported to substitute silently (REST
    // APIs; not measured on HTTP APIs); the twin refuses instead, so no client comes to rely on it.
    if (isTextContentType(contentType) && !isUtf8(request.body)) {
      return gatewayError('bad_request', {
        details: { reason: `the ${contentType?.slice(0, 100)} body is not valid UTF-8` },
      });
    }
    const event = toApiGatewayEvent(request, match, options);
    return runFunction(options, match.route, event, log);
  }
  if (match.code === 'bad_request') return gatewayError('bad_request');

  const extra = matchRoute(options.extraRoutes ?? [], request.method, encodedPath);
  if (extra.kind === 'matched') {
    const event = toApiGatewayEvent(request, extra, options);
    const timeoutMs = extra.route.timeoutMs ?? options.timeoutMs;
    return runHandler(
      { ...options, ...(timeoutMs !== undefined ? { timeoutMs } : {}) },
      'local',
      extra.route.handler,
      event,
      log,
    );
  }
  const allow = [...match.allow, ...(extra.kind === 'rejected' ? extra.allow : [])];
  if (allow.length > 0) return gatewayError('method_not_allowed', { details: { allow } });
  if (request.method === 'GET' && options.staticDir) {
    const file = await staticFile(options.staticDir, encodedPath);
    if (file) return file;
  }
  return gatewayError('route_not_found');
}

async function runFunction(
  options: ApiOptions,
  route: Route,
  event: APIGatewayProxyEventV2,
  log: (line: string) => void,
): Promise<GatewayResponse> {
  const requestId = event.requestContext.requestId;
  let decision: AuthResult;
  try {
    decision = await (options.authorize ?? allowAll)(event, route);
  } catch (error) {
    log(`authorizer failed for ${event.routeKey} (${requestId}): ${errorText(error)}`);
    return gatewayError('internal_error', { requestId });
  }
  if (!decision.allow) {
    return gatewayError(decision.status === 401 ? 'unauthorized' : 'forbidden', { requestId });
  }
  const authorized = decision.authorizer ? withAuthorizer(event, decision.authorizer) : event;
  return runHandler(options, route.function, options.handlers[route.function], authorized, log);
}

async function runHandler(
  options: ApiOptions,
  functionName: string,
  handler: ApiHandler,
  event: APIGatewayProxyEventV2,
  log: (line: string) => void,
): Promise<GatewayResponse> {
  const requestId = event.requestContext.requestId;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const context = lambdaContext(functionName, { timeoutMs });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed_out'>((resolve) => {
    timer = setTimeout(() => resolve('timed_out'), timeoutMs);
  });
  try {
    // A handler still running after the timeout keeps running, as a Lambda would until its own timeout.
    const result = await Promise.race([Promise.resolve().then(() => handler(event, context)), timedOut]);
    if (result === 'timed_out') {
      log(`${functionName} did not answer ${event.routeKey} within ${timeoutMs} ms (${requestId})`);
      return gatewayError('integration_timeout', { requestId });
    }
    const mapped = fromHandlerResult(result, requestId);
    if (mapped.ok) return mapped.response;
    log(`${functionName} returned a response API Gateway cannot use for ${event.routeKey}: ${mapped.reason}`);
  } catch (error) {
    log(`${functionName} threw for ${event.routeKey} (${requestId}): ${errorText(error)}`);
  } finally {
    clearTimeout(timer);
  }
  return gatewayError('internal_error', { requestId });
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

/** A file under `root` for a request path, or undefined for anything outside it (404, never an error). */
async function staticFile(root: string, encodedPath: string): Promise<GatewayResponse | undefined> {
  let requested: string;
  try {
    requested = decodeURIComponent(encodedPath);
  } catch {
    return undefined;
  }
  const segments = requested.split('/').filter((segment) => segment !== '');
  if (segments.some((segment) => segment === '..' || segment.includes('\\') || segment.includes('\0'))) {
    return undefined;
  }
  try {
    const realRoot = await realpath(root);
    let file = await realpath(path.join(realRoot, ...segments));
    if ((await stat(file)).isDirectory()) file = await realpath(path.join(file, 'index.html'));
    // realpath resolves symlinks, so a link pointing out of the folder is refused too.
    const relative = path.relative(realRoot, file);
    const inside = !relative.startsWith('..') && !path.isAbsolute(relative);
    if (!inside || !(await stat(file)).isFile()) return undefined;
    return {
      status: 200,
      headers: {
        'content-type': CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
      },
      body: await readFile(file),
    };
  } catch {
    return undefined;
  }
}

const errorText = (error: unknown) =>
  error instanceof Error ? (error.stack ?? error.message) : String(error);

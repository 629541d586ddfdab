import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import {
  type ApiHandler,
  type ApiHandlers,
  type ApiServer,
  invoke,
  type LocalResponse,
  startApiServer,
} from '../../infra/local/api-server';

// The adapter is what is under test, so the functions only echo what API Gateway would hand them.
interface Echo {
  event: APIGatewayProxyEventV2;
  context: { functionName: string; awsRequestId: string; remainingMs: number };
}
const echo: ApiHandler = async (event, context: Context) => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({
    event,
    context: {
      functionName: context.functionName,
      awsRequestId: context.awsRequestId,
      remainingMs: context.getRemainingTimeInMillis(),
    },
  }),
});
const echoHandlers: ApiHandlers = { track: echo, recommend: echo };
const eventOf = (response: LocalResponse) => response.json<Echo>().event;
const returning = (result: unknown): ApiHandlers => {
  // Cast: some results are deliberately outside the type, as a JavaScript handler could return them.
  const handler = (async () => result) as ApiHandler;
  return { track: handler, recommend: handler };
};

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** node:http sends the path untouched (fetch would normalise `/../`) and repeated headers as given. */
function rawRequest(
  baseUrl: string,
  options: { method?: string; path: string; headers?: Record<string, string | string[]>; body?: Buffer },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(baseUrl);
    const req = httpRequest({
      hostname,
      port,
      path: options.path,
      method: options.method ?? 'GET',
      headers: options.headers,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.end(options.body);
  });
}

describe('API Gateway HTTP API adapter (payload format 2.0)', () => {
  describe('paths', () => {
    it('routes to the template and decodes path parameters', async () => {
      const event = eventOf(await invoke(echoHandlers, { method: 'GET', path: '/items/a%20b%2Bc' }));

      expect(event.routeKey).toBe('GET /items/{itemId}');
      expect(event.requestContext.routeKey).toBe('GET /items/{itemId}');
      expect(event.pathParameters).toEqual({ itemId: 'a b+c' });
      expect(event.rawPath).toBe('/items/a b+c');
      expect(event.requestContext.http.path).toBe('/items/a b+c');
    });

    it('decodes unicode path parameters', async () => {
      const event = eventOf(
        await invoke(echoHandlers, {
          method: 'GET',
          path: `/users/${encodeURIComponent('Zoë-日本')}/recommendations`,
        }),
      );

      expect(event.routeKey).toBe('GET /users/{userId}/recommendations');
      expect(event.pathParameters).toEqual({ userId: 'Zoë-日本' });
    });

    it('treats %2F as a separator and decodes parameters twice, as API Gateway does', async () => {
      expect((await invoke(echoHandlers, { method: 'GET', path: '/items/a%2Fb' })).json()).toMatchObject({
        code: 'route_not_found',
      });
      const similar = eventOf(await invoke(echoHandlers, { method: 'GET', path: '/items/a%2Fsimilar' }));
      expect(similar.routeKey).toBe('GET /items/{itemId}/similar');
      expect(similar.pathParameters).toEqual({ itemId: 'a' });

      const slash = eventOf(await invoke(echoHandlers, { method: 'GET', path: '/items/a%252Fb' }));
      expect(slash.pathParameters).toEqual({ itemId: 'a/b' });
      const percent = eventOf(await invoke(echoHandlers, { method: 'GET', path: '/items/50%2525off' }));
      expect(percent.pathParameters).toEqual({ itemId: '50%off' });
      const lonePercent = await invoke(echoHandlers, { method: 'GET', path: '/items/50%25off' });
      expect(lonePercent.status).toBe(400);
      expect(lonePercent.json()).toEqual({ code: 'bad_request', message: 'Bad Request' });
    });

    it('answers 404 route_not_found for a path no route has', async () => {
      const response = await invoke(echoHandlers, { method: 'GET', path: '/nothing/here' });

      expect(response.status).toBe(404);
      expect(response.json()).toEqual({ code: 'route_not_found', message: 'Not Found' });
    });

    it('answers a wrong method with 404 like API Gateway, coded method_not_allowed', async () => {
      const response = await invoke(echoHandlers, { method: 'GET', path: '/events' });

      expect(response.status).toBe(404);
      expect(response.json()).toEqual({
        code: 'method_not_allowed',
        message: 'Not Found',
        details: { allow: ['POST'] },
      });
    });

    it('does not match an empty path parameter', async () => {
      expect((await invoke(echoHandlers, { method: 'GET', path: '/items/' })).status).toBe(404);
    });
  });

  describe('query strings', () => {
    it('decodes values, joins repeated keys with commas and keeps the raw string', async () => {
      const raw =
        'n=5&tag=red&tag=blue&q=red+shoe&plus=a%2Bb&empty=&flag&redirect=https%3A%2F%2Fx.example%2Fa';
      const event = eventOf(
        await invoke(echoHandlers, { method: 'GET', path: `/items/sku-1/similar?${raw}` }),
      );

      expect(event.rawQueryString).toBe(raw);
      expect(event.queryStringParameters).toEqual({
        n: '5',
        tag: 'red,blue',
        q: 'red shoe',
        plus: 'a+b',
        empty: '',
        flag: '',
        redirect: 'https://x.example/a',
      });
    });

    it('leaves queryStringParameters, pathParameters, cookies and body out when there are none', async () => {
      const event = eventOf(await invoke(echoHandlers, { method: 'POST', path: '/search' }));

      expect(event.rawQueryString).toBe('');
      expect(event).not.toHaveProperty('queryStringParameters');
      expect(event).not.toHaveProperty('pathParameters');
      expect(event).not.toHaveProperty('cookies');
      expect(event).not.toHaveProperty('body');
      expect(event.isBase64Encoded).toBe(false);
    });
  });

  describe('bodies', () => {
    it('passes a JSON body as text', async () => {
      const body = JSON.stringify({ events: [{ type: 'view', itemId: 'ü-1' }] });
      const event = eventOf(
        await invoke(echoHandlers, {
          method: 'POST',
          path: '/events',
          headers: { 'Content-Type': 'application/json; charset=utf-8' },
          body,
        }),
      );

      expect(event.isBase64Encoded).toBe(false);
      expect(event.body).toBe(body);
      expect(event.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    });

    it.each([
      ['a lone byte 0xFF', [0xff]],
      ['an encoded surrogate (CESU-8)', [0xed, 0xa0, 0x80]],
      ['an overlong NUL', [0xc0, 0x80]],
      ['a truncated sequence', [0xf0, 0x9f, 0x8d]],
    ])(
      'refuses a text body with %s with 400 instead of passing U+FFFD to the function',
      async (_name, bytes) => {
        let calls = 0;
        const counting: ApiHandler = async (event, context) => {
          calls += 1;
          return echo(event, context);
        };
        const body = Buffer.concat([
          Buffer.from('{"events":[{"eventId":"u'),
          Buffer.from(bytes),
          Buffer.from('"}]}'),
        ]);
        for (const contentType of ['application/json', 'text/plain; charset=utf-8']) {
          const response = await invoke(
            { track: counting, recommend: counting },
            { method: 'POST', path: '/events', headers: { 'content-type': contentType }, body },
          );
          expect([contentType, response.status, response.json<{ code: string }>().code]).toEqual([
            contentType,
            400,
            'bad_request',
          ]);
        }
        expect(calls).toBe(0);
        // A binary body arrives base64-encoded, byte for byte: the function judges it.
        const binary = eventOf(
          await invoke(echoHandlers, {
            method: 'POST',
            path: '/events',
            headers: { 'content-type': 'application/octet-stream' },
            body,
          }),
        );
        expect(Buffer.from(binary.body ?? '', 'base64')).toEqual(body);
      },
    );

    it.each([
      ['text/plain', false],
      ['text/csv; charset=utf-8', false],
      ['application/xml', false],
      ['image/png', true],
      ['application/octet-stream', true],
      ['application/x-www-form-urlencoded', true],
      [undefined, true],
    ])('content-type %s arrives base64-encoded: %s', async (contentType, base64) => {
      const event = eventOf(
        await invoke(echoHandlers, {
          method: 'POST',
          path: '/search',
          headers: contentType ? { 'content-type': contentType } : {},
          body: 'a=1&b=2',
        }),
      );

      expect(event.isBase64Encoded).toBe(base64);
      expect(Buffer.from(event.body ?? '', base64 ? 'base64' : 'utf8').toString()).toBe('a=1&b=2');
    });

    it('refuses a body over 6 MB once base64-encoded, and only then', async () => {
      const fiveMb = Buffer.alloc(5 * 1024 * 1024, 0x7b);
      let calls = 0;
      const counting: ApiHandler = async () => {
        calls += 1;
        return { statusCode: 204 };
      };
      const handlers = { track: counting, recommend: counting };

      const image = await invoke(handlers, {
        method: 'POST',
        path: '/search',
        headers: { 'content-type': 'image/png' },
        body: fiveMb,
      });
      const json = await invoke(handlers, {
        method: 'POST',
        path: '/search',
        headers: { 'content-type': 'application/json' },
        body: fiveMb,
      });

      expect(image.status).toBe(413);
      expect(image.json()).toEqual({ code: 'payload_too_large', message: 'Request Entity Too Large' });
      expect(json.status).toBe(204);
      expect(calls).toBe(1);
    });
  });

  describe('handler results', () => {
    it('maps a structured result, each cookie becoming a set-cookie header', async () => {
      const response = await invoke(
        returning({
          statusCode: 201,
          headers: { 'Content-Type': 'application/json', 'X-Items': 3, 'Set-Cookie': 'c=3' },
          cookies: ['a=1; Path=/', 'b=2'],
          body: '{"ok":true}',
        }),
        { method: 'GET', path: '/items/x' },
      );

      expect(response.status).toBe(201);
      expect(response.headers['content-type']).toBe('application/json');
      expect(response.headers['x-items']).toBe('3');
      expect(response.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2', 'c=3']);
      expect(response.headers['apigw-requestid']).toEqual(expect.any(String));
      expect(response.json()).toEqual({ ok: true });
    });

    it('defaults a structured response without content-type to text/plain', async () => {
      const response = await invoke(returning({ statusCode: 202, body: 'accepted' }), {
        method: 'GET',
        path: '/items/x',
      });

      expect(response.status).toBe(202);
      expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(response.body.toString()).toBe('accepted');
    });

    it('decodes a base64 body', async () => {
      const bytes = randomBytes(1024);
      const response = await invoke(
        returning({
          statusCode: 200,
          headers: { 'content-type': 'image/png' },
          body: bytes.toString('base64'),
          isBase64Encoded: true,
        }),
        { method: 'GET', path: '/items/x' },
      );

      expect(response.body.equals(bytes)).toBe(true);
    });

    it.each([
      [{ message: 'hi', list: [1, 2] }, '{"message":"hi","list":[1,2]}'],
      ['Hello from Lambda!', 'Hello from Lambda!'],
      [[1, 2], '[1,2]'],
      [
        { statusCode: undefined, note: 'undefined fields vanish in JSON' },
        '{"note":"undefined fields vanish in JSON"}',
      ],
    ])('turns the plain result %j into a 200 JSON body %s', async (result, body) => {
      const response = await invoke(returning(result), { method: 'GET', path: '/items/x' });

      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('application/json');
      expect(response.body.toString()).toBe(body);
    });

    it.each([
      { statusCode: 2.5 },
      { statusCode: '200' },
      { statusCode: 200, body: { not: 'a string' } },
      { statusCode: 200, cookies: 'a=1' },
    ])('answers 500 for the malformed result %j', async (result) => {
      const lines: string[] = [];
      const response = await invoke(
        returning(result),
        { method: 'GET', path: '/items/x' },
        { log: (line) => lines.push(line) },
      );

      expect(response.status).toBe(500);
      expect(lines.join('\n')).toContain('cannot use');
    });

    it('answers 500 like API Gateway when the handler throws, and logs the error', async () => {
      const lines: string[] = [];
      const failing: ApiHandler = async () => {
        throw new Error('table is on fire');
      };

      const response = await invoke(
        { track: failing, recommend: failing },
        { method: 'GET', path: '/items/x' },
        { log: (line) => lines.push(line) },
      );

      expect(response.status).toBe(500);
      expect(response.json()).toEqual({ code: 'internal_error', message: 'Internal Server Error' });
      expect(lines.join('\n')).toContain('table is on fire');
    });

    it('answers 503 when the handler outlives the integration timeout', async () => {
      const slow: ApiHandler = (_event, context) =>
        new Promise((resolve) =>
          setTimeout(
            () => resolve({ statusCode: 200, body: String(context.getRemainingTimeInMillis()) }),
            300,
          ),
        );

      const response = await invoke(
        { track: slow, recommend: slow },
        { method: 'GET', path: '/items/x' },
        { timeoutMs: 50 },
      );

      expect(response.status).toBe(503);
      expect(response.json()).toMatchObject({ code: 'integration_timeout', message: 'Service Unavailable' });
    });
  });

  describe('context and authorizer hook', () => {
    it('gives each invocation a fresh Lambda context named after the function', async () => {
      const first = (await invoke(echoHandlers, { method: 'POST', path: '/events' })).json<Echo>();
      const second = (await invoke(echoHandlers, { method: 'GET', path: '/items/x' })).json<Echo>();

      expect(first.context.functionName).toBe('track');
      expect(second.context.functionName).toBe('recommend');
      expect(first.context.awsRequestId).not.toBe(second.context.awsRequestId);
      expect(first.event.requestContext.requestId).not.toBe(second.event.requestContext.requestId);
      expect(first.context.remainingMs).toBeGreaterThan(29_000);
      expect(first.context.remainingMs).toBeLessThanOrEqual(30_000);
    });

    it('passes everything through without an authorizer by default', async () => {
      const event = eventOf(await invoke(echoHandlers, { method: 'GET', path: '/items/x' }));

      expect(event.requestContext).not.toHaveProperty('authorizer');
    });

    it('adds the claims an authorizer returns and lets it refuse with 401 or 403', async () => {
      const seen: string[] = [];
      const options = {
        authorize: async (event: APIGatewayProxyEventV2, route: { auth: string }) => {
          seen.push(route.auth);
          const token = event.headers.authorization;
          if (!token) return { allow: false as const, status: 401 as const };
          if (token !== 'Bearer alice') return { allow: false as const, status: 403 as const };
          return { allow: true as const, authorizer: { jwt: { claims: { sub: 'alice' }, scopes: null } } };
        },
      };

      const anonymous = await invoke(echoHandlers, { method: 'GET', path: '/items/x' }, options);
      const stranger = await invoke(
        echoHandlers,
        { method: 'GET', path: '/items/x', headers: { authorization: 'Bearer bob' } },
        options,
      );
      const alice = await invoke(
        echoHandlers,
        { method: 'DELETE', path: '/users/alice', headers: { Authorization: 'Bearer alice' } },
        options,
      );

      expect(anonymous.status).toBe(401);
      expect(anonymous.json()).toEqual({ code: 'unauthorized', message: 'Unauthorized' });
      expect(stranger.status).toBe(403);
      expect(eventOf(alice).requestContext).toMatchObject({
        authorizer: { jwt: { claims: { sub: 'alice' } } },
      });
      expect(seen).toEqual(['catalogue', 'catalogue', 'user']);
    });
  });
});

describe('local API server', () => {
  let server: ApiServer;
  let staticRoot: string;
  let workDir: string;
  const handled: string[] = [];
  const logLines: string[] = [];

  beforeAll(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'lookalike-api-'));
    staticRoot = path.join(workDir, 'public');
    await mkdir(path.join(staticRoot, 'demo'), { recursive: true });
    await writeFile(path.join(staticRoot, 'index.html'), '<!doctype html><title>Lookalike</title>');
    await writeFile(path.join(staticRoot, 'app.js'), 'console.log("demo");');
    await writeFile(path.join(staticRoot, 'demo', 'index.html'), '<p>demo</p>');
    await writeFile(path.join(workDir, 'secret.txt'), 'not for the web');

    // /search answers with the uploaded bytes, the others with the event.
    const recommend: ApiHandler = async (event, context) => {
      handled.push(event.routeKey);
      if (event.routeKey !== 'POST /search') return echo(event, context);
      return {
        statusCode: 200,
        headers: { 'content-type': 'image/png' },
        body: event.body ?? '',
        isBase64Encoded: true,
      };
    };
    const track: ApiHandler = async (event, context) => {
      handled.push(event.routeKey);
      return echo(event, context);
    };
    server = await startApiServer({
      port: 0,
      handlers: { track, recommend },
      staticDir: staticRoot,
      extraRoutes: [{ method: 'GET', path: '/openapi.json', handler: async () => ({ openapi: '3.1.0' }) }],
      log: (line) => logLines.push(line),
    });
  });

  afterAll(async () => {
    await server?.close();
    await rm(workDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    handled.length = 0;
  });

  it('listens on a free port', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  it('lower-cases headers, joins repeated ones with commas and moves cookies out', async () => {
    const response = await rawRequest(server.url, {
      path: '/items/sku-1',
      headers: { 'X-Tag': ['red', 'blue'], 'User-Agent': 'jest-agent', Cookie: 'session=abc; theme=dark' },
    });
    const event = JSON.parse(response.body.toString()).event as APIGatewayProxyEventV2;

    expect(event.headers['x-tag']).toBe('red,blue');
    expect(event.headers).not.toHaveProperty('cookie');
    expect(event.cookies).toEqual(['session=abc', 'theme=dark']);
    expect(event.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(event.requestContext).toMatchObject({
      accountId: '123456789012',
      domainName: `127.0.0.1:${server.port}`,
      stage: '$default',
      http: {
        method: 'GET',
        path: '/items/sku-1',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'jest-agent',
      },
    });
    expect(event.version).toBe('2.0');
    expect(event.requestContext.requestId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(event.requestContext.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(Math.abs(event.requestContext.timeEpoch - Date.now())).toBeLessThan(10_000);
  });

  it('round-trips an image body byte for byte through base64', async () => {
    const image = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47]), randomBytes(256 * 1024)]);
    const response = await fetch(`${server.url}/search`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: image,
    });

    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(image)).toBe(true);
  });

  it('answers 413 to a 7 MB image without calling the function', async () => {
    const response = await fetch(`${server.url}/search`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: Buffer.alloc(7 * 1024 * 1024, 1),
    });

    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ code: 'payload_too_large', message: 'Request Entity Too Large' });
    expect(handled).toEqual([]);
  });

  it('answers 413 from the declared length, before the body is sent', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${server.url}/search`, {
        method: 'POST',
        headers: { 'content-type': 'image/png', 'content-length': String(7 * 1024 * 1024) },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      // Only 1 KB of the announced 7 MB is ever sent: the answer cannot wait for the rest.
      req.write(Buffer.alloc(1024));
    });

    expect(status).toBe(413);
    expect(handled).toEqual([]);
  }, 5_000);

  it('stops reading a chunked body at the limit', async () => {
    const result = await new Promise<{ status: number | 'reset'; sent: number }>((resolve, reject) => {
      const req = httpRequest(`${server.url}/search`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
      });
      const chunk = Buffer.alloc(64 * 1024, 2);
      let sent = 0;
      let answered = false;
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (answered) return;
        answered = true;
        // The server answers 413 and closes; a write racing the close can be reset before the
        // client has parsed the answer (TCP drops it). Either way the server stopped reading.
        if (error.code === 'EPIPE' || error.code === 'ECONNRESET') resolve({ status: 'reset', sent });
        else reject(error);
      });
      req.on('response', (res) => {
        answered = true;
        res.resume();
        resolve({ status: res.statusCode ?? 0, sent });
        req.destroy();
      });
      // Up to 64 MB, but only while the server keeps reading.
      const pump = () => {
        while (!answered && sent < 64 * 1024 * 1024) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        if (!answered) req.end();
      };
      pump();
    });

    expect([413, 'reset']).toContain(result.status);
    expect(result.sent).toBeLessThan(32 * 1024 * 1024);
    expect(handled).toEqual([]);
  });

  it('serves static files for GET requests no route matches', async () => {
    const index = await rawRequest(server.url, { path: '/' });
    const script = await rawRequest(server.url, { path: '/app.js' });
    const folder = await rawRequest(server.url, { path: '/demo/' });

    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.body.toString()).toContain('Lookalike');
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(folder.body.toString()).toBe('<p>demo</p>');
  });

  it.each([
    '/../secret.txt',
    '/%2e%2e/secret.txt',
    '/..%2fsecret.txt',
    '/demo/../../secret.txt',
    '/..%5csecret.txt',
  ])('does not serve %s from outside the static folder', async (requestPath) => {
    const response = await rawRequest(server.url, { path: requestPath });

    expect(response.status).toBe(404);
    expect(response.body.toString()).not.toContain('not for the web');
  });

  it('serves static files only to GET, and never instead of a route', async () => {
    const post = await rawRequest(server.url, { method: 'POST', path: '/index.html' });
    const routeWithOtherMethod = await rawRequest(server.url, { path: '/events' });

    expect(post.status).toBe(404);
    expect(JSON.parse(routeWithOtherMethod.body.toString())).toMatchObject({ code: 'method_not_allowed' });
  });

  it('serves extra local routes through the same result mapping', async () => {
    const response = await fetch(`${server.url}/openapi.json`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ openapi: '3.1.0' });
  });

  it('logs one line per request', async () => {
    await fetch(`${server.url}/items/logged?x=1`);

    expect(logLines).toContainEqual(expect.stringMatching(/^GET \/items\/logged\?x=1 -> 200 \(\d+ ms\)$/));
  });
});

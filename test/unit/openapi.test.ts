import { readFileSync } from 'node:fs';
import { ListQuerySchema, SearchQuerySchema, SimilarQuerySchema } from '../../functions/app/recommend';
import { MAX_IMAGE_BODY_BYTES, ROUTES, type Route, routeKey } from '../../functions/contract/routes';
import { type ApiHandlers, invoke } from '../../infra/local/api-server';
import { generateOpenApi, openApiRoute } from '../../infra/local/openapi';
import { OPENAPI_FILE } from '../../infra/local/write-openapi';

interface Operation {
  operationId: string;
  security: Array<Record<string, string[]>>;
  parameters?: Array<{ name: string; in: 'path' | 'query'; required: boolean }>;
  requestBody?: { content: Record<string, unknown>; 'x-max-bytes'?: number };
  responses: Record<string, unknown>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { type: string; scheme?: string }> };
}

const generated = JSON.parse(JSON.stringify(generateOpenApi())) as Document;
const operationOf = (route: Route) => generated.paths[route.path]?.[route.method.toLowerCase()];

describe('OpenAPI document', () => {
  it('docs/openapi.json is what the code generates (else run: npx tsx infra/local/write-openapi.ts)', () => {
    expect(JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'))).toEqual(generated);
  });

  it.each(ROUTES.map((route) => [routeKey(route), route] as const))('documents %s', (_key, route) => {
    const operation = operationOf(route);
    expect(operation).toBeDefined();
    const expectedScheme = route.auth === 'iam' ? 'sigv4' : 'bearerJwt';
    expect(operation?.security).toEqual([{ [expectedScheme]: [] }]);
    const pathParameters = [...route.path.matchAll(/\{([^{}]+)\}/g)].map((match) => match[1]);
    expect(operation?.parameters?.filter((p) => p.in === 'path').map((p) => p.name) ?? []).toEqual(
      pathParameters,
    );
    expect(Object.keys(operation?.responses ?? {}).some((status) => status.startsWith('2'))).toBe(true);
  });

  it('documents no route that the route table does not have', () => {
    const documented = Object.entries(generated.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(ROUTES.map(routeKey).sort());
    const ids = documented.map((key) => {
      const [method = '', path = ''] = key.split(' ');
      return generated.paths[path]?.[method.toLowerCase()]?.operationId;
    });
    expect(new Set(ids).size).toBe(ROUTES.length);
  });

  it('has bearer JWT and SigV4 security schemes', () => {
    expect(generated.components.securitySchemes.bearerJwt).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(generated.components.securitySchemes.sigv4).toMatchObject({ type: 'apiKey' });
  });

  it('lists exactly the query parameters the handlers accept', () => {
    const queryNames = (method: string, path: string) =>
      generated.paths[path]?.[method]?.parameters?.filter((p) => p.in === 'query').map((p) => p.name);
    expect(queryNames('get', '/users/{userId}/recommendations')).toEqual(Object.keys(ListQuerySchema.shape));
    expect(queryNames('get', '/items/{itemId}/similar')).toEqual(Object.keys(SimilarQuerySchema.shape));
    expect(queryNames('post', '/search')).toEqual(Object.keys(SearchQuerySchema.shape));
  });

  it('describes the bodies: JSON events, and image bytes up to 4 MB with 413/415/422 answers', () => {
    const events = generated.paths['/events']?.post;
    expect(events?.requestBody?.content['application/json']).toEqual({
      schema: { $ref: '#/components/schemas/EventBatch' },
    });
    expect(Object.keys(events?.responses ?? {})).toEqual(
      expect.arrayContaining(['202', '400', '413', '415']),
    );
    const search = generated.paths['/search']?.post;
    expect(Object.keys(search?.requestBody?.content ?? {})).toEqual(['image/*']);
    expect(search?.requestBody?.['x-max-bytes']).toBe(MAX_IMAGE_BODY_BYTES);
    expect(Object.keys(search?.responses ?? {})).toEqual(
      expect.arrayContaining(['200', '413', '415', '422']),
    );
  });

  it('has no dangling $ref', () => {
    const refs = JSON.stringify(generated).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of new Set(refs)) {
      const pointer = (JSON.parse(`{${ref}}`) as { $ref: string }).$ref;
      const target = pointer
        .slice(2)
        .split('/')
        .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], generated);
      expect({ pointer, found: target !== undefined }).toEqual({ pointer, found: true });
    }
  });

  it('is served at GET /openapi.json by the local server', async () => {
    const unused = async () => {
      throw new Error('no function should run');
    };
    const handlers: ApiHandlers = { track: unused, recommend: unused };
    const response = await invoke(
      handlers,
      { method: 'GET', path: '/openapi.json' },
      { extraRoutes: [openApiRoute()] },
    );
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.json()).toEqual(generated);
  });
});

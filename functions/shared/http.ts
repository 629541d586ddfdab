import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { MAX_ITEM_ID_BYTES } from './catalogue-key';
import { DomainError, InvalidImage } from './errors';
import { UserIdSchema } from './event-schema';

/** A request the API refuses, with the status it maps to. */
export class BadRequest extends DomainError {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    details?: Record<string, unknown>,
  ) {
    super(message, details);
  }
}

export class NotFound extends DomainError {
  readonly code: string;
  constructor(what: 'item' | 'user', id: string) {
    super(`unknown ${what}: ${id}`, { [`${what}Id`]: id });
    this.code = `unknown_${what}`;
  }
}

export class Forbidden extends DomainError {
  readonly code = 'forbidden';
}

/** Too many concurrent writers on one profile; the client may retry (event ids make it safe). */
export class Contention extends DomainError {
  readonly code = 'contention';
  override readonly permanent = false;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export function json(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** The one place that turns typed errors into HTTP; anything unknown is a 500 with a correlation id. */
export function errorResponse(error: unknown, requestId: string): APIGatewayProxyStructuredResultV2 {
  if (error instanceof BadRequest) return json(error.status, { ...error.toJSON(), requestId });
  if (error instanceof NotFound) return json(404, { ...error.toJSON(), requestId });
  if (error instanceof Forbidden) return json(403, { ...error.toJSON(), requestId });
  if (error instanceof InvalidImage) {
    return json(error.code === 'file_too_large' ? 413 : 422, { ...error.toJSON(), requestId });
  }
  if (error instanceof Contention) return json(503, { ...error.toJSON(), requestId }, { 'retry-after': '1' });
  return json(500, { code: 'internal_error', message: 'Internal Server Error', requestId });
}

/** The raw body bytes, decoded from base64 when API Gateway encoded them. */
export function bodyBytes(event: APIGatewayProxyEventV2): Buffer {
  if (!event.body) return Buffer.alloc(0);
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
}

export function parseJsonBody(event: APIGatewayProxyEventV2, maxBytes: number): unknown {
  const contentType = (event.headers?.['content-type'] ?? '').toLowerCase();
  if (contentType && !contentType.includes('json')) {
    throw new BadRequest('unsupported_media_type', `expected application/json, got ${contentType}`, 415);
  }
  const bytes = bodyBytes(event);
  if (bytes.length > maxBytes) {
    throw new BadRequest(
      'payload_too_large',
      `the body is ${bytes.length} bytes; the limit is ${maxBytes}`,
      413,
    );
  }
  if (bytes.length === 0) throw new BadRequest('empty_body', 'a JSON body is required');
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (error) {
    throw new BadRequest(
      'invalid_json',
      `the body is not valid JSON: ${(error as Error).message.slice(0, 200)}`,
    );
  }
}

/** The path's user id; one no event could carry is refused before a store is asked for it. */
export function pathUserId(event: APIGatewayProxyEventV2): string {
  const userId = event.pathParameters?.userId ?? '';
  if (!UserIdSchema.safeParse(userId).success)
    throw new BadRequest('invalid_user_id', 'a user id is 1..256 characters without control characters');
  return userId;
}

/** The path's item id; longer than ingestion ever creates, it is unknown (DynamoDB would refuse the key). */
export function pathItemId(event: APIGatewayProxyEventV2): string {
  const itemId = event.pathParameters?.itemId ?? '';
  if (Buffer.byteLength(itemId) > MAX_ITEM_ID_BYTES) throw new NotFound('item', itemId);
  return itemId;
}

export function requestIdOf(event: APIGatewayProxyEventV2): string {
  return event.requestContext?.requestId ?? 'unknown';
}

import { isUtf8 } from 'node:buffer';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { Contention } from '../app/errors';
import { MAX_ITEM_ID_BYTES } from '../domain/catalogue-key';
import {
  Conflict,
  DomainError,
  Forbidden,
  InvalidImage,
  InvalidRequest,
  ItemNotReady,
  NotFound,
} from '../domain/errors';
import { UserIdSchema } from '../domain/event-schema';
import { INTEREST_ID_PATTERN } from '../domain/interest-profile';
import { isWellFormedUnicode } from '../domain/unicode';

/** A request the HTTP layer refuses (body, content type, path parameters), with its status. */
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

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

/** A response with its status, headers and body always set. */
export interface JsonResponse extends APIGatewayProxyStructuredResultV2 {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): JsonResponse {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** The one place that turns typed errors into HTTP; anything unknown is a 500 with a correlation id. */
export function errorResponse(error: unknown, requestId: string): JsonResponse {
  if (error instanceof BadRequest) return json(error.status, { ...error.toJSON(), requestId });
  if (error instanceof InvalidRequest) return json(400, { ...error.toJSON(), requestId });
  if (error instanceof NotFound) return json(404, { ...error.toJSON(), requestId });
  if (error instanceof ItemNotReady) return json(409, { ...error.toJSON(), requestId });
  if (error instanceof Conflict) return json(409, { ...error.toJSON(), requestId });
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

/**
 * JSON has one media type, `application/json`; parameters may follow, but a charset other than UTF-8
 * (the only encoding of JSON, RFC 8259) would be misread. `application/jsonx`, `text/json` or a
 * `+json` type is not taken for it.
 */
export function isJsonContentType(contentType: string): boolean {
  const [type = '', ...parameters] = contentType.split(';');
  if (type.trim().toLowerCase() !== 'application/json') return false;
  return parameters.every((parameter) => {
    const [name = '', value = ''] = parameter.split('=');
    if (name.trim().toLowerCase() !== 'charset') return true;
    return ['utf-8', 'utf8'].includes(value.trim().replace(/^"|"$/g, '').toLowerCase());
  });
}

export function parseJsonBody(event: APIGatewayProxyEventV2, maxBytes: number): unknown {
  const contentType = event.headers?.['content-type'] ?? '';
  // Without a content type, API Gateway base64-encodes the body; it is read as JSON all the same.
  if (contentType && !isJsonContentType(contentType)) {
    throw new BadRequest(
      'unsupported_media_type',
      `expected application/json, got ${contentType.slice(0, 100)}`,
      415,
    );
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
  // Decoding would turn each invalid byte into U+FFFD, and two different ids into one.
  if (!isUtf8(bytes)) throw new BadRequest('invalid_utf8', 'the body is not valid UTF-8');
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
    throw new BadRequest(
      'invalid_user_id',
      'a user id is 1..256 characters of well-formed Unicode without control characters',
    );
  return userId;
}

/** The path's interest id: one of another shape names no interest and never could (404). */
export function pathInterestId(event: APIGatewayProxyEventV2): string {
  const interestId = event.pathParameters?.interestId ?? '';
  if (!INTEREST_ID_PATTERN.test(interestId)) throw new NotFound('interest', interestId.slice(0, 64));
  return interestId;
}

/**
 * The path's item id. One that is not well-formed Unicode names no item and never could (it cannot be
 * stored); one longer than ingestion ever creates is unknown (DynamoDB would refuse the key).
 */
export function pathItemId(event: APIGatewayProxyEventV2): string {
  const itemId = event.pathParameters?.itemId ?? '';
  if (!isWellFormedUnicode(itemId))
    throw new BadRequest('invalid_item_id', 'an item id is well-formed Unicode (no lone surrogate)');
  if (Buffer.byteLength(itemId) > MAX_ITEM_ID_BYTES) throw new NotFound('item', itemId);
  return itemId;
}

export function requestIdOf(event: APIGatewayProxyEventV2): string {
  return event.requestContext?.requestId ?? 'unknown';
}

/**
 * The query's parameters, each a string, or for a `repeatable` one an array of every value given
 * (`?category=a&category=b`). Read from the raw query string: API Gateway joins a repeated
 * parameter's values with commas in `queryStringParameters`, which would split a value that holds
 * one (an item id may). A parameter that is not repeatable but given twice comes back as an array,
 * which the request's schema then refuses.
 */
export function queryParameters(
  event: Partial<Pick<APIGatewayProxyEventV2, 'rawQueryString' | 'queryStringParameters'>>,
  repeatable: ReadonlySet<string>,
): Record<string, string | string[]> {
  const parameters: Record<string, string | string[]> = {};
  if (event.rawQueryString) {
    const query = new URLSearchParams(event.rawQueryString);
    for (const name of new Set(query.keys())) {
      const values = query.getAll(name);
      parameters[name] = repeatable.has(name) || values.length > 1 ? values : (values[0] as string);
    }
    return parameters;
  }
  // An event without its raw query string (a hand-made one): each value is taken whole.
  for (const [name, value] of Object.entries(event.queryStringParameters ?? {})) {
    if (value !== undefined) parameters[name] = repeatable.has(name) ? [value] : value;
  }
  return parameters;
}

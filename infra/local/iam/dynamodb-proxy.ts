/**
 * A pass-through HTTP proxy in front of DynamoDB Local that refuses, as DynamoDB does, every request
 * the caller's role may not make (400 AccessDeniedException). DynamoDB Local itself checks no
 * permissions at all.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LocalStackError } from '../errors';
import type { AwsAuthorization, Denial } from './iam-twin';
import { accessKeyIdOf, dynamoDbAuthorizations } from './requests';

export interface RequestAuthorizer {
  authorize(
    accessKeyId: string | undefined,
    authorizations: readonly AwsAuthorization[],
  ): Promise<Denial | undefined>;
}

export interface DynamoDbProxy {
  readonly endpoint: string;
  /** Enforces this authorizer from now on (undefined: pass everything through). */
  setAuthorizer(authorizer: RequestAuthorizer | undefined): void;
  stop(): Promise<void>;
}

export async function startDynamoDbProxy(upstream: string, port = 0): Promise<DynamoDbProxy> {
  const target = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true });
  let authorizer: RequestAuthorizer | undefined;

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('error', () => response.destroy());
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      forward(request, response, body).catch((error: unknown) => {
        if (!response.headersSent) {
          response.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
          response.end(
            JSON.stringify({
              __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
              message: String(error),
            }),
          );
        } else response.destroy();
      });
    });
  });

  async function forward(
    request: http.IncomingMessage,
    response: http.ServerResponse,
    body: Buffer,
  ): Promise<void> {
    if (authorizer) {
      let parsed: Record<string, unknown> = {};
      try {
        parsed = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
      } catch {
        // DynamoDB Local answers malformed bodies itself.
      }
      const target = request.headers['x-amz-target'];
      const denial = await authorizer.authorize(
        accessKeyIdOf(request.headers.authorization),
        dynamoDbAuthorizations(Array.isArray(target) ? target[0] : target, parsed),
      );
      if (denial) {
        const payload = JSON.stringify({
          __type: 'com.amazon.coral.service#AccessDeniedException',
          Message: denial.message,
        });
        response.writeHead(400, {
          'content-type': 'application/x-amz-json-1.0',
          'x-amzn-errortype': 'AccessDeniedException:',
          'x-amzn-requestid': crypto.randomUUID(),
          'content-length': Buffer.byteLength(payload),
        });
        response.end(payload);
        return;
      }
    }
    await new Promise<void>((resolve, reject) => {
      const outgoing = http.request(
        {
          protocol: target.protocol,
          hostname: target.hostname,
          port: target.port,
          method: request.method,
          path: request.url,
          headers: request.headers,
          agent,
        },
        (upstreamResponse) => {
          response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
          upstreamResponse.pipe(response);
          upstreamResponse.on('end', resolve);
          upstreamResponse.on('error', reject);
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new LocalStackError(
          'dynamodb_proxy_start_failed',
          `the DynamoDB IAM proxy did not start: ${String(error)}`,
          { cause: error },
        ),
      ),
    );
    server.listen(port, '127.0.0.1', resolve);
  });
  const { port: bound } = server.address() as AddressInfo;
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${bound}`,
    setAuthorizer(next) {
      authorizer = next;
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      });
      return stopped;
    },
  };
}

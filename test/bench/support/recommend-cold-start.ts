/**
 * Child process of `bench:coldstart` (bundled with esbuild, run with plain `node`): loads the built
 * recommend handler and asks it twice for one user's recommendations, as API Gateway would with no
 * authorizer. Times are read from this process's own clock, whose origin is its start.
 * Reports the peak RSS and the handler's own account of the index load ('vector index loaded').
 * Usage: node recommend-cold-start.js <handler bundle> <userId>
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

const mainStartedMs = performance.now();

/**
 * The handler's log lines (POWERTOOLS_LOG_LEVEL=INFO) are swallowed, except that 'vector index
 * loaded' is kept for the report: stdout's last line must stay this script's JSON.
 */
let indexLoad: unknown;
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
  if (text.startsWith('{') && text.includes('"vector index loaded"')) {
    const line = JSON.parse(text) as Record<string, unknown>;
    const phases = [
      'format',
      'items',
      'snapshotBytes',
      'pointerMs',
      'downloadMs',
      'rowsInPlace',
      'buildMs',
      'changeFeedMs',
      'totalMs',
    ];
    indexLoad = Object.fromEntries([...phases, 'changedRows'].map((key) => [key, line[key]]));
  }
  const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
  callback?.();
  return true;
}) as typeof process.stdout.write;

function recommendationsRequest(userId: string): APIGatewayProxyEventV2 {
  const now = new Date();
  return {
    version: '2.0',
    routeKey: 'GET /users/{userId}/recommendations',
    rawPath: `/users/${encodeURIComponent(userId)}/recommendations`,
    rawQueryString: 'limit=10',
    headers: { accept: 'application/json' },
    pathParameters: { userId },
    queryStringParameters: { limit: '10' },
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: 'GET',
        path: `/users/${encodeURIComponent(userId)}/recommendations`,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'coldstart-bench',
      },
      requestId: crypto.randomUUID(),
      routeKey: 'GET /users/{userId}/recommendations',
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
  };
}

const context = {
  functionName: 'recommend',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:recommend',
  memoryLimitInMB: '1024',
  awsRequestId: crypto.randomUUID(),
  logGroupName: '/aws/lambda/recommend',
  logStreamName: 'local',
  callbackWaitsForEmptyEventLoop: false,
  getRemainingTimeInMillis: () => 30_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
} as Context;

/**
 * COLDSTART_TRACE=<file>: every HTTP call of the first request (the SDK's DynamoDB and S3 requests),
 * with its start and end on this process's clock, is appended to the file as one JSON line, to see
 * which waits run one after another. A DynamoDB call names its table and its key or key values.
 */
const traced: Array<{ call: string; startMs: number; endMs?: number }> = [];
if (process.env.COLDSTART_TRACE) {
  const http = require('node:http') as typeof import('node:http');
  const original = http.request;
  http.request = ((...args: Parameters<typeof http.request>) => {
    const options = args[0] as { method?: string; path?: string; headers?: Record<string, string> };
    const entry = {
      call: `${options.method} ${options.headers?.['x-amz-target'] ?? options.path?.slice(0, 60)}`,
      startMs: performance.now(),
      endMs: undefined as number | undefined,
    };
    traced.push(entry);
    const request = original(...args);
    const end = request.end.bind(request) as (...rest: unknown[]) => unknown;
    (request as { end: (...rest: unknown[]) => unknown }).end = (chunk?: unknown, ...rest: unknown[]) => {
      const text =
        typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString() : '';
      if (text.startsWith('{')) {
        const body = JSON.parse(text) as {
          TableName?: string;
          ExpressionAttributeValues?: unknown;
          Key?: unknown;
        };
        entry.call += ` ${body.TableName ?? ''} ${JSON.stringify(body.ExpressionAttributeValues ?? body.Key ?? '').slice(0, 90)}`;
      }
      return end(chunk, ...rest);
    };
    request.on('response', (response) => response.on('end', () => (entry.endMs = performance.now())));
    return request;
  }) as typeof http.request;
}

function summary(response: APIGatewayProxyStructuredResultV2) {
  const body = JSON.parse(response.body ?? '{}') as { strategy?: string; items?: { itemId: string }[] };
  return {
    statusCode: response.statusCode,
    strategy: body.strategy,
    itemIds: (body.items ?? []).map((item) => item.itemId),
    ...(response.statusCode === 200 ? {} : { body: response.body }),
  };
}

async function main(): Promise<void> {
  const [handlerPath, userId] = process.argv.slice(2) as [string, string];
  const requireStarted = performance.now();
  const { handler } = require(handlerPath) as { handler: Handler };
  const firstStarted = performance.now();
  const first = await handler(recommendationsRequest(userId), context);
  const firstAnswered = performance.now();
  if (process.env.COLDSTART_TRACE)
    require('node:fs').appendFileSync(
      process.env.COLDSTART_TRACE,
      `${JSON.stringify({ firstStarted, firstAnswered, calls: traced.map((c) => ({ ...c, ms: (c.endMs ?? 0) - c.startMs })) })}\n`,
    );
  // CPU time to the first answer: what the cold start costs when the machine is not shared.
  const { user, system } = process.cpuUsage();
  const second = await handler(recommendationsRequest(userId), context);
  const warmMs = performance.now() - firstAnswered;
  // The peak, not the current RSS: the download and the index coexist for a moment during the load.
  const peakRssMb = (process.resourceUsage().maxRSS * 1024) / 1e6;
  write(
    `${JSON.stringify({
      bootMs: mainStartedMs,
      requireMs: firstStarted - requireStarted,
      firstRequestMs: firstAnswered - firstStarted,
      coldMs: firstAnswered,
      warmMs,
      peakRssMb,
      cpuMs: (user + system) / 1000,
      indexLoad,
      first: summary(first),
      second: summary(second),
    })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});

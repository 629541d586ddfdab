/**
 * `npm start`: Lookalike on local stand-ins, with the demo catalogue and the demo page.
 *   --api-port (LOOKALIKE_API_PORT, 3000)   --s3-port (LOOKALIKE_S3_PORT, 4569)
 *   --dynamo-port (LOOKALIKE_DYNAMO_PORT, 8000)   --data-dir (.lookalike)   --reset   --no-seed
 *   --train-every (LOOKALIKE_TRAIN_EVERY_MINUTES, 60; 0: never): the learned-similarity trainer's
 *   timer, the local stand-in for the stack's daily schedule (`npm run train` runs it at once)
 */
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { ENV } from '../../functions/contract/environment';
import { createIngestDeps } from '../../functions/wiring/ingest';
import { ensureModel } from '../../layers/model/build';
import { backfill, s3Listing } from '../cli/backfill';
import { type LocalApp, startLocalApp } from './app';
import { createLocalDynamoDbClient, createLocalS3Client } from './aws-env';
import { demoCatalogue, uploadDemoImages } from './demo-catalogue';
import { localCatalogueRoute } from './demo-routes';
import { openApiRoute } from './openapi';

const REPO = resolve(__dirname, '..', '..');
/** How long the local functions reuse a read of the spaces registry (SPACE_REFRESH_MS). */
const LOCAL_SPACE_REFRESH_MS = Number(process.env[ENV.SPACE_REFRESH_MS] ?? 5000);

const port = (value: string) => {
  const parsed = Number.parseInt(value, 10);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 65535)
    throw new InvalidArgumentError('a port is 1..65535');
  return parsed;
};

const minutes = (value: string) => {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) throw new InvalidArgumentError('minutes: a number >= 0');
  return parsed;
};

interface StartOptions {
  apiPort: number;
  s3Port: number;
  dynamoPort: number;
  dataDir: string;
  reset?: boolean;
  seed: boolean;
  trainEvery: number;
}

async function seedDemoCatalogue(app: LocalApp, s3: S3Client): Promise<number> {
  const images = demoCatalogue();
  const bar = new SingleBar({
    format: 'seeding demo catalogue [{bar}] {value}/{total} uploaded',
    hideCursor: true,
    stream: process.stderr,
  });
  bar.start(images.length, 0);
  await uploadDemoImages(s3, app.stack.bucket, images, () => bar.increment());
  bar.stop();
  return images.length;
}

async function itemCount(app: LocalApp): Promise<number> {
  const dynamo = createLocalDynamoDbClient(app.stack.endpoints.dynamodb);
  const { Count = 0 } = await dynamo.send(
    new ScanCommand({ TableName: app.stack.tables.Items, Select: 'COUNT', Limit: 1 }),
  );
  dynamo.destroy();
  return Count;
}

async function main(): Promise<void> {
  const options = new Command()
    .name('npm start --')
    .description('Run Lookalike locally on DynamoDB Local and s3rver, with a demo catalogue and page')
    .option('--api-port <port>', 'HTTP API port', port, Number(process.env.LOOKALIKE_API_PORT ?? 3000))
    .option('--s3-port <port>', 'S3 (s3rver) port', port, Number(process.env.LOOKALIKE_S3_PORT ?? 4569))
    .option(
      '--dynamo-port <port>',
      'DynamoDB Local port',
      port,
      Number(process.env.LOOKALIKE_DYNAMO_PORT ?? 8000),
    )
    .option(
      '--data-dir <dir>',
      'where local state survives restarts',
      process.env.LOOKALIKE_DATA_DIR ?? join(REPO, '.lookalike'),
    )
    .option(
      '--train-every <minutes>',
      'run the learned-similarity trainer every so many minutes (0: never)',
      minutes,
      minutes(process.env.LOOKALIKE_TRAIN_EVERY_MINUTES ?? '60'),
    )
    .option('--reset', 'delete the local state first')
    .option('--no-seed', 'do not upload the demo catalogue')
    .parse()
    .opts<StartOptions>();

  const started = Date.now();
  if (options.reset) rmSync(options.dataDir, { recursive: true, force: true });
  await ensureModel();
  const app = await startLocalApp({
    dataDir: options.dataDir,
    apiPort: options.apiPort,
    s3Port: options.s3Port,
    dynamoPort: options.dynamoPort,
    staticDir: join(__dirname, 'demo'),
    extraRoutes: [openApiRoute(), localCatalogueRoute()],
    embedConcurrency: 2,
    // Locally a promotion (`npm run train`) is served within 5 s; deployed, SPACE_REFRESH_MS is 60 s.
    environment: { [ENV.SPACE_REFRESH_MS]: String(LOCAL_SPACE_REFRESH_MS) },
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write('\nstopping...\n');
    await app.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const s3 = createLocalS3Client(app.stack.endpoints.s3);
  // With the operator's credentials, as `npm run backfill -- --reconcile` against a deployed stack.
  // The queue lives in this process: whatever it held when Lookalike stopped (a Ctrl-C, a crash) and
  // whatever changed in the bucket while it was down is applied now, by reconciling with the bucket.
  const ingestDeps = await createIngestDeps({
    itemsTable: app.stack.tables.Items as string,
    clients: { dynamo: createLocalDynamoDbClient(app.stack.endpoints.dynamodb), s3 },
    spaces: { bucket: app.stack.bucket, ttlMs: LOCAL_SPACE_REFRESH_MS },
  });
  const catchUp = await backfill(
    { ...ingestDeps, listing: s3Listing(s3) },
    { bucket: app.stack.bucket, concurrency: 2, reconcile: true },
  );
  if (catchUp.embedded + catchUp.added_vectors > 0) {
    process.stderr.write(
      `caught up on ${catchUp.embedded + catchUp.added_vectors} images uploaded while Lookalike was stopped\n`,
    );
  }
  if (catchUp.updated + catchUp.removed > 0) {
    process.stderr.write(
      `caught up on ${catchUp.updated} changed and ${catchUp.removed} deleted images while Lookalike was stopped\n`,
    );
  }
  if (catchUp.failed > 0)
    process.stderr.write(`catch-up: ${catchUp.failed} objects failed; they are retried on the next start\n`);
  if (options.seed && (await itemCount(app)) === 0) {
    const count = await seedDemoCatalogue(app, s3);
    await app.queue.drain({ timeoutMs: 600_000 });
    process.stderr.write(`demo catalogue: ${count} items embedded\n`);
  }
  await app.compact();
  setInterval(() => void app.compact().catch(() => undefined), 30_000).unref();
  if (options.trainEvery > 0) {
    // As the stack's schedule: a scheduled run promotes at most once per 7 days.
    setInterval(
      () =>
        void app
          .train('schedule')
          .then((record) =>
            process.stderr.write(`learned similarity (scheduled): ${record.outcome}: ${record.summary}\n`),
          )
          .catch((error: unknown) =>
            process.stderr.write(`learned similarity (scheduled) failed: ${String(error)}\n`),
          ),
      options.trainEvery * 60_000,
    ).unref();
  }

  const api = app.url as string;
  const { s3: s3Endpoint } = app.stack.endpoints;
  const bucket = app.stack.bucket;
  process.stdout.write(`
Lookalike is running locally (${((Date.now() - started) / 1000).toFixed(1)} s)
  demo page     ${api}/
  API           ${api}
  OpenAPI       ${api}/openapi.json
  S3 endpoint   ${s3Endpoint}   bucket: ${bucket}   (access key S3RVER, secret S3RVER)
  DynamoDB      ${app.stack.dynamodb?.endpoint ?? app.stack.endpoints.dynamodb}   (functions reach it through the IAM twin's proxy)
  state         ${options.dataDir}

Quick start (another terminal; every API call carries a token of the local issuer):
  export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
  aws s3 cp my-photo.jpg s3://${bucket}/catalogue/shoes/SKU-123.jpg --endpoint-url ${s3Endpoint} --metadata title="Red shoe",price=59
  TOKEN=$(curl -s "${api}/local/token?userId=alice" | jq -r .token)
  curl -s ${api}/items/SKU-123 -H "authorization: Bearer $TOKEN"
  curl -s -X POST ${api}/events -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
    -d '{"events":[{"eventId":"e1","userId":"alice","itemId":"SKU-123","type":"like"}]}'
  curl -s "${api}/users/alice/recommendations?limit=5" -H "authorization: Bearer $TOKEN"
  curl -s "${api}/items/SKU-123/similar?limit=5" -H "authorization: Bearer $TOKEN"
  curl -s -X POST "${api}/search?limit=5" -H "authorization: Bearer $TOKEN" -H 'content-type: image/jpeg' --data-binary @my-photo.jpg
  # no jq? 'npm run -s token -- alice --data-dir ${options.dataDir}' prints a token too
  npm run train -- --api-port ${options.apiPort} --data-dir ${options.dataDir}   # learned similarity: gate, report, promote

ready
`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}

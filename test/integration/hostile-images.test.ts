/**
 * Hostile uploads through the real ingestion path: s3rver -> notification -> LocalQueue -> embed
 * handler -> items table. Each ends as its expected item (rejected with its code, or a valid image
 * embedded exactly like its clean control) or as no item at all; no message is retried or
 * dead-lettered, and the process's memory stays bounded while bombs and 30 MB files go through.
 * Polyglots, metadata bombs, lying EXIF and wrong extensions are rejected by the catalogue's structure
 * checks; the controls carry what legitimate files carry (EXIF, ICC, text, padding, MPF images) and
 * must still embed exactly like the clean image.
 */
import { createHash } from 'node:crypto';
import { runInNewContext } from 'node:vm';
import { DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import type { CatalogueItem } from '../../functions/domain/catalogue-item';
import { CATALOGUE_IMAGE_CODES } from '../../functions/domain/errors';
import { createLocalDynamoDbClient, LOCAL_REGION } from '../../infra/local/aws-env';
import { buildNotificationRecord, newVersionId } from '../../infra/local/s3-notification';
import { type HostileUpload, hostileUploads } from '../support/fuzz/hostile-images';
import { encodePathParam } from '../support/fuzz/requests';
import { useLocalApp } from '../support/local-app';

const local = useLocalApp();
const MB = 1024 * 1024;
/** Generous: the model, libvips' caches and a 30 MB body all live in this one process. */
const MAX_RSS_GROWTH = 1536 * MB;

let uploads: HostileUpload[];
const stored = new Map<string, CatalogueItem | undefined>();
let memory: { baselineMb: number; peakMb: number; growthMb: number };
let ingestMs: number;

beforeAll(async () => {
  uploads = await hostileUploads();
  const { tables, endpoints } = local.app.stack;
  const repository = new CatalogueRepository(
    createLocalDynamoDbClient(endpoints.dynamodb),
    tables.Items as string,
  );

  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const started = performance.now();
  try {
    // One at a time: libvips keeps one error buffer per process, and two decodes failing at once can
    // leave one of them with "Unknown error", which the embedder files as corrupt_image (a truncated
    // JPEG then gets either code). Concurrency is the fuzz and load tests' business.
    for (const upload of uploads) {
      if (upload.notificationOnly) local.app.queue.send(notification(upload));
      else await local.upload(upload.key, upload.bytes);
      await local.app.queue.drain({ timeoutMs: 60_000 });
    }
  } finally {
    clearInterval(sampler);
  }
  ingestMs = Math.round(performance.now() - started);
  peak = Math.max(peak, process.memoryUsage().rss);
  memory = {
    baselineMb: Math.round(baseline / MB),
    peakMb: Math.round(peak / MB),
    growthMb: Math.round((peak - baseline) / MB),
  };
  for (const upload of uploads)
    if (upload.itemId !== undefined) stored.set(upload.itemId, await repository.get(upload.itemId));
}, 180_000);

/** The message S3 would send for a new object at `upload.key`. */
function notification(upload: HostileUpload): string {
  const record = buildNotificationRecord({
    eventName: 'ObjectCreated:Put',
    bucket: local.app.stack.bucket,
    key: upload.key,
    size: upload.bytes.length,
    eTag: createHash('md5').update(upload.bytes).digest('hex'),
    versionId: newVersionId(),
    sourceIp: '127.0.0.1',
    region: LOCAL_REGION,
    configurationId: 'catalogue-uploads',
  });
  return JSON.stringify({ Records: [record] });
}

const outcomeOf = (item: CatalogueItem | undefined) =>
  !item ? 'ignored' : item.status === 'rejected' ? `rejected ${item.rejection?.code}` : item.status;
const expectedOf = ({ expected }: HostileUpload) =>
  expected.outcome === 'rejected' ? `rejected ${expected.code}` : expected.outcome;

it('holds at least 20 hostile kinds besides the controls, each what it claims to be', () => {
  expect(uploads.filter((upload) => !upload.kind.startsWith('control')).length).toBeGreaterThanOrEqual(20);
  const codes = new Set(uploads.map(expectedOf));
  for (const code of CATALOGUE_IMAGE_CODES) expect(codes).toContain(`rejected ${code}`);
  expect(new Set(uploads.map((upload) => upload.key)).size).toBe(uploads.length);
  const deep = uploads.find((upload) => upload.itemId === 'deep-nest') as HostileUpload;
  expect(deep.key.split('/').length).toBeGreaterThan(400);
  expect(Buffer.byteLength(deep.key)).toBeLessThanOrEqual(1024);
  // The GIF polyglot parses as a script (compiled inside a function that is never called).
  const gifJs = uploads.find((upload) => upload.itemId === 'gif-js') as HostileUpload;
  expect(gifJs.bytes.subarray(0, 6).toString('latin1')).toBe('GIF89a');
  expect(() => runInNewContext(`(function () { ${gifJs.bytes.toString('latin1')} })`)).not.toThrow();
});

it('ends every upload as its expected item, or as none', () => {
  const rows = uploads.map((upload) => ({
    kind: upload.kind,
    expected: expectedOf(upload),
    got: outcomeOf(upload.itemId === undefined ? undefined : stored.get(upload.itemId)),
  }));
  const width = Math.max(...rows.map((row) => row.kind.length));
  process.stdout.write(
    `hostile corpus: kind -> outcome\n${rows.map((row) => `  ${row.kind.padEnd(width)}  ${row.got}`).join('\n')}\n`,
  );
  expect(rows.filter((row) => row.got !== row.expected)).toEqual([]);
});

it('records each rejection with its key, no vector, and shows it through GET /items/{itemId}', async () => {
  for (const upload of uploads.filter((u) => u.expected.outcome === 'rejected')) {
    const item = stored.get(upload.itemId as string);
    expect({ kind: upload.kind, key: item?.source.key, vectors: item?.vectors }).toEqual({
      kind: upload.kind,
      key: upload.key,
      vectors: {},
    });
    // Dots would be resolved away by a URL parser before they reach the API: send them escaped too.
    const path = `/items/${encodePathParam(upload.itemId as string).replace(/\./g, '%252E')}`;
    const response = await local.call({ method: 'GET', path }, { user: 'catalogue-reader' });
    expect({ kind: upload.kind, status: response.status, body: response.json() }).toMatchObject({
      kind: upload.kind,
      status: 200,
      body: {
        itemId: upload.itemId,
        status: 'rejected',
        rejection: { code: (upload.expected as { code: string }).code },
        servedByActiveModel: false,
      },
    });
  }
});

it('embeds a valid image exactly like its clean control, whatever legitimate extras the file carries', () => {
  const { modelId } = local.app.manifest;
  const bytesOf = (itemId: string) => {
    const vector = stored.get(itemId)?.vectors[modelId];
    return vector ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64') : '';
  };
  // What legitimate files carry besides the pixels (EXIF, ICC, text, padding) must not change the vector.
  const withControl = uploads.filter((upload) => upload.embedsLike !== undefined);
  expect(withControl.length).toBeGreaterThanOrEqual(6);
  for (const upload of withControl) {
    expect({ kind: upload.kind, vector: bytesOf(upload.itemId as string) }).toEqual({
      kind: upload.kind,
      vector: bytesOf(upload.embedsLike as string),
    });
    expect(bytesOf(upload.itemId as string)).not.toBe('');
  }
});

it('creates no item for keys that name none', async () => {
  const documents = DynamoDBDocumentClient.from(
    createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb),
  );
  const keys: string[] = [];
  for await (const page of paginateScan(
    { client: documents },
    {
      TableName: local.app.stack.tables.Items,
      ProjectionExpression: '#source.#key',
      ExpressionAttributeNames: { '#source': 'source', '#key': 'key' },
    },
  ))
    for (const row of page.Items ?? []) keys.push((row as { source: { key: string } }).source.key);
  const named = uploads.filter((upload) => upload.itemId !== undefined).map((upload) => upload.key);
  expect(keys.sort()).toEqual(named.sort());
});

it('received every message once: no retry storm, nothing dead-lettered', () => {
  const stats = local.app.queue.stats();
  process.stdout.write(
    `hostile ingestion: ${uploads.length} uploads in ${ingestMs} ms, queue ${JSON.stringify(stats)}\n`,
  );
  // Every key is under catalogue/, so each upload is one notification (or was announced by one).
  expect(stats).toMatchObject({
    sent: uploads.length,
    received: uploads.length,
    succeeded: uploads.length,
    failedReceives: 0,
    deadLettered: 0,
    waiting: 0,
    inFlight: 0,
  });
  expect(local.app.queue.dlq()).toEqual([]);
});

it(`kept the process's memory growth under ${MAX_RSS_GROWTH / MB} MB`, () => {
  process.stdout.write(`hostile ingestion memory (rss): ${JSON.stringify(memory)}\n`);
  expect(memory.growthMb).toBeLessThan(MAX_RSS_GROWTH / MB);
});

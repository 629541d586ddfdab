import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  paginateListObjectsV2,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { SQSEvent } from 'aws-lambda';
import type { TableDefinition } from '../../functions/contract/storage';
import { routeObjectEvents } from '../../infra/local/harness';
import { type DeadLetter, LocalQueue } from '../../infra/local/queue';
import { decodeS3EventKey, type S3NotificationRecord } from '../../infra/local/s3-local';
import { createTables, deleteTables } from '../../infra/local/tables';
import { useLocalStack } from '../support/local-stack';

const stack = useLocalStack({
  env: ({ tables, bucket }) => ({ ITEMS_TABLE: tables.Items ?? '', CATALOGUE_BUCKET: bucket }),
});

const md5 = (body: string | Buffer) => createHash('md5').update(body).digest('hex');

describe('tables', () => {
  it('creates the Items table of functions/contract/storage.ts with its keys, GSI and stream', async () => {
    const { Table } = await stack.dynamoDbClient.send(
      new DescribeTableCommand({ TableName: stack.tables.Items }),
    );

    expect(stack.tables.Items).toBe(`${stack.tablePrefix}Items`);
    expect(process.env.ITEMS_TABLE).toBe(stack.tables.Items);
    expect(Table?.KeySchema).toEqual([{ AttributeName: 'itemId', KeyType: 'HASH' }]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'KEYS_ONLY' });
    expect(Table?.GlobalSecondaryIndexes).toEqual([
      expect.objectContaining({
        IndexName: 'byChange',
        KeySchema: [
          { AttributeName: 'changeFeed', KeyType: 'HASH' },
          { AttributeName: 'changedAt', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      }),
    ]);
    expect(new Set(Table?.AttributeDefinitions)).toEqual(
      new Set([
        { AttributeName: 'itemId', AttributeType: 'S' },
        { AttributeName: 'changeFeed', AttributeType: 'S' },
        { AttributeName: 'changedAt', AttributeType: 'N' },
      ]),
    );
  });

  it('creates sort keys, INCLUDE projections and TTL, tolerates a rerun, and deletes', async () => {
    const profiles: TableDefinition = {
      id: 'Profiles',
      partitionKey: { name: 'userId', type: 'S' },
      sortKey: { name: 'slot', type: 'N' },
      globalIndexes: [
        {
          indexName: 'byUpdate',
          partitionKey: { name: 'feed', type: 'S' },
          projection: ['userId', 'weight'],
        },
      ],
      timeToLiveAttribute: 'expiresAt',
      stream: 'NEW_AND_OLD_IMAGES',
    };
    const client = stack.dynamoDbClient;
    const prefix = `${stack.tablePrefix}extra-`;

    const names = await createTables(client, [profiles], prefix);
    await createTables(client, [profiles], prefix);

    const name = `${prefix}Profiles`;
    expect(names).toEqual({ Profiles: name });
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    expect(Table?.KeySchema).toEqual([
      { AttributeName: 'userId', KeyType: 'HASH' },
      { AttributeName: 'slot', KeyType: 'RANGE' },
    ]);
    expect(Table?.GlobalSecondaryIndexes?.[0]?.Projection).toEqual({
      ProjectionType: 'INCLUDE',
      NonKeyAttributes: ['userId', 'weight'],
    });
    expect(Table?.StreamSpecification?.StreamViewType).toBe('NEW_AND_OLD_IMAGES');
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));
    expect(ttl.TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });

    await deleteTables(client, [name]);
    await expect(client.send(new DescribeTableCommand({ TableName: name }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
  });

  it('is reachable by a client configured only through the environment', async () => {
    const client = new DynamoDBClient({});
    try {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: stack.tables.Items }));
      expect(Table?.TableStatus).toBe('ACTIVE');
    } finally {
      client.destroy();
    }
  });
});

describe('S3 object events', () => {
  // A client configured like production code: nothing but the environment set by useLocalStack.
  let s3: S3Client;
  beforeAll(() => {
    s3 = new S3Client({});
  });
  afterAll(() => s3.destroy());

  it('encodes keys like AWS (space as +, + as %2B, UTF-8 percent-encoded, / kept) and decodes back', async () => {
    const key = 'catalogue/nested/deeper/red flower+1 (copy) é 🍓 日本.jpg';
    const body = 'not really a jpeg';

    const [record, ...others] = await stack.eventsDuring(() =>
      s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: body })),
    );

    expect(others).toEqual([]);
    expect(record).toMatchObject({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventName: 'ObjectCreated:Put',
      s3: {
        s3SchemaVersion: '1.0',
        bucket: { name: stack.bucket, arn: `arn:aws:s3:::${stack.bucket}` },
        object: { size: body.length, eTag: md5(body) },
      },
    });
    expect(record?.s3.object.key).toBe(
      'catalogue/nested/deeper/red+flower%2B1+%28copy%29+%C3%A9+%F0%9F%8D%93+%E6%97%A5%E6%9C%AC.jpg',
    );
    const decoded = decodeS3EventKey(record?.s3.object.key ?? '');
    expect(decoded).toBe(key);
    const stored = await s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: decoded }));
    expect(await stored.Body?.transformToString()).toBe(body);
  });

  it('gives 50 rapid uploads strictly increasing fixed-width sequencers and unique version ids', async () => {
    const uploads = Array.from({ length: 50 }, (_, i) => `catalogue/burst/${i % 10}.jpg`);

    const records = await stack.eventsDuring(() =>
      Promise.all(
        uploads.map((key, i) =>
          s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: `${i}` })),
        ),
      ),
    );

    expect(records).toHaveLength(50);
    const sequencers = records.map((record) => record.s3.object.sequencer);
    for (const sequencer of sequencers) expect(sequencer).toMatch(/^[0-9A-F]{18}$/);
    for (let i = 1; i < sequencers.length; i++) {
      expect((sequencers[i] ?? '') > (sequencers[i - 1] ?? '')).toBe(true);
    }
    const versionIds = records.map((record) => record.s3.object.versionId);
    expect(new Set(versionIds).size).toBe(50);
  });

  it('reports the same version id in the record, the PUT response and HeadObject', async () => {
    const key = 'catalogue/versioned.jpg';

    let versionId: string | undefined;
    const [record] = await stack.eventsDuring(async () => {
      ({ VersionId: versionId } = await s3.send(
        new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: 'v1' }),
      ));
    });

    expect(versionId).toEqual(expect.any(String));
    expect(record?.s3.object.versionId).toBe(versionId);
    const head = await s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: key }));
    expect(head.VersionId).toBe(versionId);
    expect(stack.s3.currentVersionId(stack.bucket, key)).toBe(versionId);
  });

  it('names copies ObjectCreated:Copy and completed multipart uploads ObjectCreated:CompleteMultipartUpload', async () => {
    const source = 'catalogue/original.jpg';
    await s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: source, Body: 'original' }));

    const [copy] = await stack.eventsDuring(() =>
      s3.send(
        new CopyObjectCommand({
          Bucket: stack.bucket,
          Key: 'catalogue/copy.jpg',
          CopySource: `${stack.bucket}/${source}`,
        }),
      ),
    );
    const multipartKey = 'catalogue/multi part.jpg';
    const [completed] = await stack.eventsDuring(async () => {
      const { UploadId } = await s3.send(
        new CreateMultipartUploadCommand({ Bucket: stack.bucket, Key: multipartKey }),
      );
      const part = await s3.send(
        new UploadPartCommand({
          Bucket: stack.bucket,
          Key: multipartKey,
          UploadId,
          PartNumber: 1,
          Body: 'one part',
        }),
      );
      await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: stack.bucket,
          Key: multipartKey,
          UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
        }),
      );
    });

    expect(copy).toMatchObject({
      eventName: 'ObjectCreated:Copy',
      s3: { object: { key: 'catalogue/copy.jpg', size: 'original'.length, eTag: md5('original') } },
    });
    expect(completed).toMatchObject({
      eventName: 'ObjectCreated:CompleteMultipartUpload',
      s3: { object: { key: 'catalogue/multi+part.jpg', size: 'one part'.length } },
    });
  });

  it('emits ObjectRemoved:Delete for DeleteObject and for each object DeleteObjects removed', async () => {
    const keys = ['catalogue/gone 1.jpg', 'catalogue/gone 2.jpg', 'catalogue/gone 3.jpg'];
    for (const key of keys)
      await s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: key }));
    const removedVersion = stack.s3.currentVersionId(stack.bucket, 'catalogue/gone 1.jpg');

    const [single, ...none] = await stack.eventsDuring(() =>
      s3.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: 'catalogue/gone 1.jpg' })),
    );
    const batch = await stack.eventsDuring(() =>
      s3.send(
        new DeleteObjectsCommand({
          Bucket: stack.bucket,
          Delete: {
            Objects: [
              { Key: 'catalogue/gone 2.jpg' },
              { Key: 'catalogue/gone 3.jpg' },
              { Key: 'catalogue/never.jpg' },
            ],
          },
        }),
      ),
    );

    expect(none).toEqual([]);
    expect(single?.eventName).toBe('ObjectRemoved:Delete');
    // Like AWS for an unversioned bucket (s3rver keeps no versions): no size, eTag or version id.
    expect(removedVersion).toBeDefined();
    expect(single?.s3.object).toEqual({
      key: 'catalogue/gone+1.jpg',
      sequencer: expect.stringMatching(/^[0-9A-F]{18}$/),
    });
    expect(batch.map((record) => [record.eventName, record.s3.object.key]).sort()).toEqual([
      ['ObjectRemoved:Delete', 'catalogue/gone+2.jpg'],
      ['ObjectRemoved:Delete', 'catalogue/gone+3.jpg'],
    ]);
  });

  it('paginates ListObjectsV2 without --openssl-legacy-provider', async () => {
    for (const n of [1, 2, 3, 4, 5]) {
      await s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: `paged/${n}.txt`, Body: `${n}` }));
    }

    const listed: string[] = [];
    for await (const page of paginateListObjectsV2(
      { client: s3, pageSize: 2 },
      { Bucket: stack.bucket, Prefix: 'paged/' },
    )) {
      listed.push(...(page.Contents ?? []).map((object) => object.Key ?? ''));
    }

    expect(listed).toEqual(['paged/1.txt', 'paged/2.txt', 'paged/3.txt', 'paged/4.txt', 'paged/5.txt']);
  });

  it('continues a listing only from its own continuation tokens', async () => {
    for (const n of [1, 2, 3]) {
      await s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: `tokens/${n}.txt`, Body: `${n}` }));
    }

    const first = await s3.send(
      new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: 'tokens/', MaxKeys: 2 }),
    );
    const second = await s3.send(
      new ListObjectsV2Command({
        Bucket: stack.bucket,
        Prefix: 'tokens/',
        ContinuationToken: first.NextContinuationToken,
      }),
    );
    const forged = s3.send(
      new ListObjectsV2Command({ Bucket: stack.bucket, ContinuationToken: 'bm90LWEtdG9rZW4=' }),
    );

    expect(first.IsTruncated).toBe(true);
    expect(second).toMatchObject({
      IsTruncated: false,
      ContinuationToken: first.NextContinuationToken,
      Contents: [expect.objectContaining({ Key: 'tokens/3.txt' })],
    });
    expect(second.StartAfter).toBeUndefined();
    await expect(forged).rejects.toMatchObject({
      name: 'InvalidArgument',
      $metadata: { httpStatusCode: 400 },
    });
  });

  it('checks signatures on bucket-level requests (ListObjectsV2, DeleteObjects)', async () => {
    const forger = new S3Client({
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'not-the-secret' },
    });
    try {
      await expect(forger.send(new ListObjectsV2Command({ Bucket: stack.bucket }))).rejects.toMatchObject({
        name: 'SignatureDoesNotMatch',
      });
      await expect(
        forger.send(new DeleteObjectsCommand({ Bucket: stack.bucket, Delete: { Objects: [{ Key: 'x' }] } })),
      ).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
    } finally {
      forger.destroy();
    }
  });
});

describe('S3 keys', () => {
  let s3: S3Client;
  beforeAll(() => {
    s3 = new S3Client({});
  });
  afterAll(() => s3.destroy());

  const bodyOf = async (Key: string) =>
    (await s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key }))).Body?.transformToString();
  const keysUnder = async (Prefix: string) => {
    const keys: string[] = [];
    for await (const page of paginateListObjectsV2(
      { client: s3, pageSize: 2 },
      { Bucket: stack.bucket, Prefix },
    )) {
      keys.push(...(page.Contents ?? []).map((object) => object.Key ?? ''));
    }
    return keys;
  };

  it('stores, lists and deletes every key S3 accepts: 1,024 bytes, a 300-byte segment, multi-byte UTF-8', async () => {
    const segment = 's'.repeat(300);
    const longest = `long/${segment}/${'k'.repeat(1024 - 'long/'.length - segment.length - 1)}`;
    // 100 euro signs are a 300-byte segment; the emoji needs a surrogate pair in JavaScript.
    const multiByte = `long/€/${'€'.repeat(100)}/🐱 ü.png`;
    expect(Buffer.byteLength(longest)).toBe(1024);

    for (const Key of [longest, multiByte]) {
      await s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key, Body: `body of ${Key.length}` }));
    }
    const bodies = [await bodyOf(longest), await bodyOf(multiByte)];
    const listed = await keysUnder('long/');
    const folders = await s3.send(
      new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: 'long/', Delimiter: '/' }),
    );
    await s3.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: longest }));
    await s3.send(
      new DeleteObjectsCommand({ Bucket: stack.bucket, Delete: { Objects: [{ Key: multiByte }] } }),
    );

    expect(bodies).toEqual([`body of ${longest.length}`, `body of ${multiByte.length}`]);
    expect(listed).toEqual(
      [multiByte, longest].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
    expect(folders.CommonPrefixes?.map((folder) => folder.Prefix)).toEqual([`long/${segment}/`, 'long/€/']);
    expect(await keysUnder('long/')).toEqual([]);
  });

  it('keeps keys apart that a file path would merge, and writes nothing outside its folder', async () => {
    const escapee = `escape-${Date.now()}.txt`;
    const keys = ['alias/a/b', 'alias/a//b', 'alias/a/./b', 'alias//a/b', `alias/../../../${escapee}`];

    for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key, Body: Key }));
    const bodies = await Promise.all(keys.map(bodyOf));
    const listed = await keysUnder('alias/');

    expect(bodies).toEqual(keys);
    expect(listed.sort()).toEqual([...keys].sort());
    const outside = readdirSync(dirname(stack.s3.directory)).filter((name) => name.startsWith(escapee));
    expect(outside).toEqual([]);
  });

  it('refuses a 1,025-byte key with KeyTooLongError and keeps answering', async () => {
    const Key = `long/${'k'.repeat(1020)}`;
    expect(Buffer.byteLength(Key)).toBe(1025);

    const put = s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key, Body: 'x' }));

    await expect(put).rejects.toMatchObject({ name: 'KeyTooLongError', $metadata: { httpStatusCode: 400 } });
    await s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: 'long/after', Body: 'still here' }));
    expect(await bodyOf('long/after')).toBe('still here');
  });
});

describe('S3 writes', () => {
  let s3: S3Client;
  beforeAll(() => {
    s3 = new S3Client({});
  });
  afterAll(() => s3.destroy());

  it('answers a GET racing PUTs and a copy of the same key with one whole version and its ETag, as S3 does', async () => {
    const Key = 'race/object.bin';
    // Versions of different sizes, large enough that a read spans several chunks.
    const versions = [0, 1, 2, 3].map((n) => Buffer.alloc(1_500_000 + n * 250_000, n + 1));
    const known = new Set(versions.map((body) => md5(body)));
    await s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key, Body: versions[0] }));
    await s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: 'race/source.bin', Body: versions[3] }));

    let writing = true;
    const writes = (async () => {
      for (let i = 1; i <= 24; i++) {
        if (i % 6 === 0) {
          await s3.send(
            new CopyObjectCommand({
              Bucket: stack.bucket,
              Key,
              CopySource: `${stack.bucket}/race/source.bin`,
            }),
          );
        } else {
          await s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key, Body: versions[i % 3] }));
        }
      }
      writing = false;
    })();
    const reads: Array<{ etag: string; body: string; head: string }> = [];
    const reader = async () => {
      while (writing) {
        const [got, head] = await Promise.all([
          s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key })),
          s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key })),
        ]);
        const body = Buffer.from((await got.Body?.transformToByteArray()) ?? []);
        reads.push({
          etag: got.ETag?.replace(/"/g, '') ?? '',
          body: md5(body),
          head: head.ETag?.replace(/"/g, '') ?? '',
        });
      }
    };
    await Promise.all([writes, reader(), reader(), reader()]);

    expect(reads.length).toBeGreaterThan(10);
    for (const read of reads) {
      expect(known.has(read.body)).toBe(true);
      expect(read.etag).toBe(read.body);
      expect(known.has(read.head)).toBe(true);
    }
    // Nothing staged is left behind, and nothing staged is listed.
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: 'race/' }));
    expect(listed.Contents?.map((object) => object.Key).sort()).toEqual([
      'race/object.bin',
      'race/source.bin',
    ]);
    const staging = readdirSync(join(stack.s3.directory, stack.bucket)).filter((name) =>
      name.includes('staging'),
    );
    expect(staging.flatMap((folder) => readdirSync(join(stack.s3.directory, stack.bucket, folder)))).toEqual(
      [],
    );
  }, 120_000);
});

describe('S3 -> SQS notification route', () => {
  it('queues one {Records:[record]} message per matching event and ignores keys outside the prefix', async () => {
    const bodies: string[] = [];
    const queue = new LocalQueue({
      handler: async (event: SQSEvent) => {
        bodies.push(...event.Records.map((record) => record.body));
      },
    });
    const unroute = routeObjectEvents(stack.s3, queue, { bucket: stack.bucket, prefix: 'catalogue/' });
    try {
      await stack.s3Client.send(
        new PutObjectCommand({ Bucket: stack.bucket, Key: 'catalogue/routed.jpg', Body: 'x' }),
      );
      await stack.s3Client.send(
        new PutObjectCommand({ Bucket: stack.bucket, Key: 'uploads/ignored.jpg', Body: 'x' }),
      );
      await stack.s3Client.send(
        new DeleteObjectCommand({ Bucket: stack.bucket, Key: 'catalogue/routed.jpg' }),
      );
      await queue.drain({ timeoutMs: 5_000 });
    } finally {
      unroute();
      await queue.stop();
    }

    const messages = bodies.map((body) => JSON.parse(body) as { Records: S3NotificationRecord[] });
    expect(
      messages.map((message) => message.Records.map((record) => [record.eventName, record.s3.object.key])),
    ).toEqual([
      [['ObjectCreated:Put', 'catalogue/routed.jpg']],
      [['ObjectRemoved:Delete', 'catalogue/routed.jpg']],
    ]);
  });
});

describe('LocalQueue', () => {
  it('redelivers a failed record until maxReceiveCount, then dead-letters it with the reason; the rest of its batch succeeds once', async () => {
    const receives = new Map<string, number[]>();
    const queue = new LocalQueue({
      name: 'ingest',
      batchSize: 5,
      maxReceiveCount: 3,
      visibilityTimeoutMs: 20,
      handler: async (event) => {
        for (const record of event.Records) {
          const counts = receives.get(record.body) ?? [];
          counts.push(Number(record.attributes.ApproximateReceiveCount));
          receives.set(record.body, counts);
        }
        return {
          batchItemFailures: event.Records.filter((record) => record.body === 'poison').map((record) => ({
            itemIdentifier: record.messageId,
          })),
        };
      },
    });

    for (const body of ['a', 'poison', 'b', 'c']) queue.send(body);
    await queue.drain({ timeoutMs: 5_000 });
    await queue.stop();

    expect(receives.get('poison')).toEqual([1, 2, 3]);
    for (const body of ['a', 'b', 'c']) expect(receives.get(body)).toEqual([1]);
    expect(queue.dlq()).toEqual<DeadLetter[]>([
      expect.objectContaining({ body: 'poison', receiveCount: 3, reason: 'reported in batchItemFailures' }),
    ]);
    expect(queue.stats()).toMatchObject({
      sent: 4,
      succeeded: 3,
      deadLettered: 1,
      failedReceives: 3,
      waiting: 0,
    });
  });

  it('retries the whole batch when the handler throws, and keeps the error as the DLQ reason', async () => {
    const records: SQSEvent['Records'] = [];
    const queue = new LocalQueue({
      batchSize: 10,
      maxReceiveCount: 2,
      visibilityTimeoutMs: 10,
      batchWindowMs: 20,
      handler: async (event) => {
        records.push(...event.Records);
        if (event.Records.some((record) => record.body === 'boom')) throw new Error('model not loaded');
      },
    });

    queue.send('fine');
    queue.send('boom');
    await queue.drain({ timeoutMs: 5_000 });
    await queue.stop();

    // The batch window gathered both messages into each of the two invocations.
    expect(queue.stats()).toMatchObject({ invocations: 2, received: 4, deadLettered: 2 });
    expect(queue.dlq().map((letter) => [letter.body, letter.reason])).toEqual([
      ['fine', 'Error: model not loaded'],
      ['boom', 'Error: model not loaded'],
    ]);
    expect(records[0]).toMatchObject({
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:local-queue',
      awsRegion: 'us-east-1',
      md5OfBody: md5('fine'),
      attributes: { ApproximateReceiveCount: '1' },
    });
  });
});

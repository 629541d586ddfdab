/**
 * The embed function's handler on malformed uploads queue messages: each fails on its own with the
 * Powertools parser's ParseError (not a TypeError), is reported in the partial-batch response so
 * that SQS retries and then dead-letters it, and leaves the other messages of the batch alone.
 * Nothing here reaches the model, DynamoDB or S3: a malformed message fails before any is needed.
 */
import { ParseError } from '@aws-lambda-powertools/parser';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { parseUploadMessage } from '../../functions/adapters/s3/notifications';

type Handler = (
  event: SQSEvent,
  context: Context,
) => Promise<{ batchItemFailures: Array<{ itemIdentifier: string }> }>;

const sqsRecord = (messageId: string, body: string): SQSRecord => ({
  messageId,
  receiptHandle: `receipt-${messageId}`,
  body,
  attributes: {
    ApproximateReceiveCount: '1',
    SentTimestamp: '1767225600000',
    SenderId: 'AIDATESTSENDER',
    ApproximateFirstReceiveTimestamp: '1767225600000',
  },
  messageAttributes: {},
  md5OfBody: 'unused',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:uploads',
  awsRegion: 'us-east-1',
});

const context = {
  functionName: 'embed',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:embed',
  memoryLimitInMB: '1024',
  awsRequestId: 'request-1',
  getRemainingTimeInMillis: () => 60_000,
} as unknown as Context;

const recordWithoutKey = {
  eventName: 'ObjectCreated:Put',
  eventTime: '2026-01-01T00:00:00.000Z',
  s3: { bucket: { name: 'uploads' }, object: { sequencer: '0A', size: 10 } },
};

const MALFORMED = {
  'not-json': 'this is not JSON {',
  'no-records': JSON.stringify({ Service: 'Amazon S3', Time: '2026-01-01T00:00:00Z' }),
  'no-key': JSON.stringify({ Records: [recordWithoutKey] }),
};

describe('uploads queue messages', () => {
  it.each([
    ['not JSON', MALFORMED['not-json'], [], /Invalid JSON/],
    ['JSON without Records', MALFORMED['no-records'], ['Records'], /Records/],
    ['a record without s3.object.key', MALFORMED['no-key'], ['Records', 0, 's3', 'object', 'key'], /string/],
  ])('refuses %s with a ParseError naming the issue', (_case, body, path, message) => {
    let thrown: unknown;
    try {
      parseUploadMessage(body);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ParseError);
    expect((thrown as ParseError).name).toBe('ParseError');
    const issues = (thrown as ParseError).cause as Array<{ path: PropertyKey[]; message: string }>;
    expect(issues).toEqual([expect.objectContaining({ path, message: expect.stringMatching(message) })]);
  });

  it("accepts S3's test event and a notification, decoding nothing yet", () => {
    expect(parseUploadMessage(JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent' }))).toMatchObject(
      {
        Event: 's3:TestEvent',
      },
    );
    const record = {
      ...recordWithoutKey,
      s3: { ...recordWithoutKey.s3, object: { key: 'catalogue/a+b.png', sequencer: '0A' } },
    };
    expect(parseUploadMessage(JSON.stringify({ Records: [record] })).Records?.[0]?.s3.object.key).toBe(
      'catalogue/a+b.png',
    );
  });
});

describe('embed handler', () => {
  const saved = { ...process.env };
  let handler: Handler;
  let warnings: unknown[][];

  beforeAll(async () => {
    // Read once at cold start; never reached by these messages.
    process.env.ITEMS_TABLE = 'items-never-read';
    process.env.CATALOGUE_BUCKET = 'bucket-never-read';
    // Powertools logs through the global console in dev mode, where the test can read it.
    process.env.POWERTOOLS_DEV = 'true';
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    ({ handler } = (await import('../../functions/handlers/embed')) as unknown as { handler: Handler });
  });

  afterAll(() => {
    process.env = saved;
  });

  beforeEach(() => {
    warnings = [];
    jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
      warnings.push(args);
    });
  });

  afterEach(() => jest.restoreAllMocks());

  it('reports each malformed message as a partial-batch failure with a ParseError, and skips the test event', async () => {
    const event: SQSEvent = {
      Records: [
        ...Object.entries(MALFORMED).map(([messageId, body]) => sqsRecord(messageId, body)),
        sqsRecord('test-event', JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent' })),
      ],
    };

    const response = await handler(event, context);

    expect(response.batchItemFailures.map((failure) => failure.itemIdentifier).sort()).toEqual([
      'no-key',
      'no-records',
      'not-json',
    ]);
    const logged = warnings
      .map(
        (args) =>
          JSON.parse(String(args[0])) as { message: string; messageId?: string; error?: { name: string } },
      )
      .filter((line) => line.message === 'the message is not an S3 event notification');
    expect(logged.map((line) => [line.messageId, line.error?.name]).sort()).toEqual([
      ['no-key', 'ParseError'],
      ['no-records', 'ParseError'],
      ['not-json', 'ParseError'],
    ]);
  });
});

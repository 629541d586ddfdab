/**
 * The local twin of a Lambda event source mapping on a DynamoDB stream (what the local app runs
 * for the Events table's co-engagement consumer): batches as Lambda sends them, retries from the
 * first reported failure, dead letters after the retries, and no redelivery after a restart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { EVENTS_TABLE } from '../../functions/contract/storage';
import { LocalStreamConsumer, type StreamBatchHandler } from '../../infra/local/dynamodb-stream';
import { useLocalStack } from '../support/local-stack';

const local = useLocalStack({ tables: [EVENTS_TABLE] });
const eventIdOf = (record: DynamoDBRecord) => record.dynamodb?.NewImage?.eventId?.S ?? '?';

async function write(userId: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++)
    await local.dynamoDbClient.send(
      new PutItemCommand({
        TableName: local.tables.Events,
        Item: { userId: { S: userId }, eventId: { S: `${userId}-${i}` } },
      }),
    );
}

function consumer(handler: StreamBatchHandler, checkpointFile?: string) {
  return new LocalStreamConsumer({
    endpoint: local.endpoints.dynamodb,
    tableName: local.tables.Events as string,
    handler,
    batchSize: 10,
    retryAttempts: 2,
    pollIntervalMs: 50,
    ...(checkpointFile ? { checkpointFile } : {}),
  });
}

it('retries a batch from its first reported failure, dead-letters what still fails, and does not redeliver after a restart', async () => {
  const folder = await mkdtemp(join(tmpdir(), 'stream-'));
  const checkpointFile = join(folder, 'checkpoint.json');
  const batches: string[][] = [];
  let flaky = 1;
  const first = consumer(async (event) => {
    const ids = event.Records.map(eventIdOf);
    batches.push(ids);
    // "a-2" fails once, then succeeds; "a-4" never does.
    const failing = event.Records.filter(
      (r) => (eventIdOf(r) === 'a-2' && flaky-- > 0) || eventIdOf(r) === 'a-4',
    );
    return { batchItemFailures: failing.map((r) => ({ itemIdentifier: r.dynamodb?.SequenceNumber ?? '' })) };
  }, checkpointFile);
  try {
    // Written before the consumer starts, so that the first batch holds all six.
    await write('a', 6);
    await first.start();
    await first.drain({ timeoutMs: 30_000 });
    // Lambda's order: the failed record and everything after it come back; the ones before do not.
    expect(batches[0]).toEqual(['a-0', 'a-1', 'a-2', 'a-3', 'a-4', 'a-5']);
    expect(batches.slice(1)).toEqual([
      ['a-2', 'a-3', 'a-4', 'a-5'],
      ['a-4', 'a-5'],
    ]);
    expect(first.deadLetters).toEqual([
      expect.objectContaining({ batchSize: 2, reason: expect.stringContaining('reported as failed') }),
    ]);
  } finally {
    await first.stop();
  }

  // A new consumer with the same checkpoint starts after the records already delivered.
  const later: string[] = [];
  const second = consumer(async (event) => {
    later.push(...event.Records.map(eventIdOf));
  }, checkpointFile);
  try {
    await second.start();
    await second.drain({ timeoutMs: 30_000 });
    expect(later).toEqual([]);
    await write('b', 2);
    await second.drain({ timeoutMs: 30_000 });
    expect(later).toEqual(['b-0', 'b-1']);
  } finally {
    await second.stop();
    await rm(folder, { recursive: true, force: true });
  }
}, 60_000);

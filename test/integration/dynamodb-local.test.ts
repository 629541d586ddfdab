/**
 * The twin's DynamoDB Local keeps its database in a scratch file with DynamoDB Local's stream records
 * indexed (see indexStreamRecords in infra/local/dynamodb-local.ts): without the indexes, every write
 * to a table with a stream scans all stream records written before it, of every table, deleted ones
 * too. Timings are in `npm run bench:twin-streams`; this checks the structure and the cleanup.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateTableCommand, DeleteTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { createLocalDynamoDbClient } from '../../infra/local/aws-env';
import {
  type DynamoDbLocal,
  startDynamoDbLocal,
  streamRecordIndexes,
} from '../../infra/local/dynamodb-local';

/** The scratch database directory of a running instance started by this process. */
function scratchDirOf(instance: DynamoDbLocal): string {
  const args = readFileSync(`/proc/${instance.pid}/cmdline`, 'utf8').split('\0');
  const flag = args.indexOf('-dbPath');
  expect(flag).toBeGreaterThan(0);
  expect(args).not.toContain('-inMemory');
  return args[flag + 1] as string;
}

async function writeStreamRecords(endpoint: string, table: string, count: number): Promise<void> {
  const client = createLocalDynamoDbClient(endpoint);
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
      }),
    );
    for (let i = 0; i < count; i++)
      await client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: `k${i}` } } }));
    await client.send(new DeleteTableCommand({ TableName: table }));
  } finally {
    client.destroy();
  }
}

// Reads the JVM's command line from /proc: Linux, like CI and Lambda.
it('runs on a scratch database with the stream records indexed, and removes it on stop', async () => {
  const instance = await startDynamoDbLocal();
  let dir = '';
  try {
    dir = scratchDirOf(instance);
    expect(path.basename(dir)).toMatch(new RegExp(`^lookalike-dynamodb-${process.pid}-`));
    await writeStreamRecords(instance.endpoint, 'streamed', 3);
    const file = path.join(dir, 'shared-local-instance.db');
    expect(streamRecordIndexes(file).sort()).toEqual(['lookalike_us_shard', 'lookalike_us_stream']);
  } finally {
    await instance.stop();
  }
  expect(existsSync(dir)).toBe(false);
});

it('indexes a persistent database, and keeps the indexes across restarts', async () => {
  const dbPath = await mkdtemp(path.join(tmpdir(), 'lookalike-ddb-test-'));
  try {
    const first = await startDynamoDbLocal({ dbPath });
    await writeStreamRecords(first.endpoint, 'kept', 2).finally(() => first.stop());
    const file = path.join(dbPath, 'shared-local-instance.db');
    expect(streamRecordIndexes(file).sort()).toEqual(['lookalike_us_shard', 'lookalike_us_stream']);
    const second = await startDynamoDbLocal({ dbPath });
    await second.stop();
    expect(existsSync(file)).toBe(true);
    expect(streamRecordIndexes(file)).toHaveLength(2);
  } finally {
    await rm(dbPath, { recursive: true, force: true });
  }
});

/**
 * `npm run bench:twin-streams`: writes to tables with a stream on DynamoDB Local as stream records
 * accumulate, in its own `-inMemory` mode and as the twin runs it (a scratch database file with the
 * stream records indexed, see indexStreamRecords), side by side. Each round writes BENCH_RECORDS
 * (5000) items, 25 per BatchWriteItem, to a new table with a stream and deletes the table; then a
 * 40-item transaction on a fresh table with a stream is timed (median of 20). Timings are printed,
 * never asserted; the last stdout line is a JSON summary.
 */
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  type DynamoDBClient,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { createLocalDynamoDbClient } from '../../infra/local/aws-env';
import { type DynamoDbLocal, startDynamoDbLocal } from '../../infra/local/dynamodb-local';

const RECORDS = Number(process.env.BENCH_RECORDS) || 5_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS) || 4;
const log = (line: string) => process.stderr.write(`[twin-streams] ${line}\n`);

async function streamedTable(client: DynamoDBClient, name: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    }),
  );
}

/** Writes RECORDS items to a new streamed table, deletes it; milliseconds. */
async function round(client: DynamoDBClient, name: string): Promise<number> {
  await streamedTable(client, name);
  const started = performance.now();
  for (let batch = 0; batch < RECORDS / 25; batch++) {
    const writes = Array.from({ length: 25 }, (_, k) => ({
      PutRequest: { Item: { pk: { S: `k${batch}-${k}` }, sk: { S: 's' }, v: { S: 'x'.repeat(200) } } },
    }));
    await client.send(new BatchWriteItemCommand({ RequestItems: { [name]: writes } }));
  }
  const ms = performance.now() - started;
  await client.send(new DeleteTableCommand({ TableName: name }));
  return Math.round(ms);
}

/** Median milliseconds of 20 transactions of 40 puts on a fresh streamed table. */
async function transactionMs(client: DynamoDBClient, name: string): Promise<number> {
  await streamedTable(client, name);
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    await client.send(
      new TransactWriteItemsCommand({
        TransactItems: Array.from({ length: 40 }, (_, k) => ({
          Put: {
            TableName: name,
            Item: { pk: { S: `u${i}` }, sk: { S: `e${k}` }, v: { S: 'x'.repeat(200) } },
          },
        })),
      }),
    );
    times.push(performance.now() - started);
  }
  await client.send(new DeleteTableCommand({ TableName: name }));
  times.sort((a, b) => a - b);
  return Math.round(times[10] as number);
}

async function main(): Promise<void> {
  const arms: Array<{ name: string; instance: DynamoDbLocal; client: DynamoDBClient }> = [];
  for (const [name, inMemory] of [
    ['in_memory', true],
    ['indexed_scratch_file', false],
  ] as const) {
    const instance = await startDynamoDbLocal({ inMemory });
    arms.push({ name, instance, client: createLocalDynamoDbClient(instance.endpoint) });
  }
  const result: Record<
    string,
    { transaction_ms_fresh: number; rounds_ms: number[]; transaction_ms_after: number }
  > = {};
  try {
    for (const arm of arms)
      result[arm.name] = {
        transaction_ms_fresh: await transactionMs(arm.client, 'fresh'),
        rounds_ms: [],
        transaction_ms_after: 0,
      };
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which arm goes first, so neither always runs on a warmer machine.
      const order = r % 2 === 0 ? arms : [...arms].reverse();
      for (const arm of order) {
        const ms = await round(arm.client, `round-${r}`);
        result[arm.name]?.rounds_ms.push(ms);
        log(`${arm.name}: round ${r + 1} (${RECORDS} stream records after ${r * RECORDS}): ${ms} ms`);
      }
    }
    for (const arm of arms) {
      const entry = result[arm.name];
      if (entry) entry.transaction_ms_after = await transactionMs(arm.client, 'after');
    }
  } finally {
    for (const arm of arms) {
      arm.client.destroy();
      await arm.instance.stop();
    }
  }
  process.stdout.write(`${JSON.stringify({ records_per_round: RECORDS, ...result })}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

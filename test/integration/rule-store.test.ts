/**
 * RuleStore on DynamoDB Local passes the RuleRepository contract the in-memory fake passes (each test
 * on a Rules table of its own: the set is one partition), and survives what DynamoDB Local never
 * does but DynamoDB does under concurrent admin writes: a transaction cancelled because another one
 * was writing the set's row at the same time (TransactionConflict), which the SDK does not retry.
 */
import { type DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { RuleStore } from '../../functions/adapters/dynamodb/rule-store';
import { RULES_TABLE } from '../../functions/contract/storage';
import { createLocalDynamoDbClient } from '../../infra/local/aws-env';
import { createTables, deleteTables } from '../../infra/local/tables';
import { ruleDefinition, ruleRepositoryContract } from '../support/contracts/rule-repository';
import { useLocalStack } from '../support/local-stack';

const created: string[] = [];
// Before the stack's own afterAll, which stops it: hooks run in the order they were added.
afterAll(() => deleteTables(local.dynamoDbClient, created));
const local = useLocalStack({ tables: [] });

/** A new, empty Rules table. */
async function freshTable(): Promise<string> {
  const prefix = `${local.tablePrefix}${created.length}-`;
  const names = await createTables(local.dynamoDbClient, [RULES_TABLE], prefix);
  const name = names[RULES_TABLE.id] as string;
  created.push(name);
  return name;
}

ruleRepositoryContract(
  'RuleStore on DynamoDB Local',
  async () => new RuleStore(local.dynamoDbClient, await freshTable()),
);

/**
 * A client whose next `count` transactions are cancelled as DynamoDB cancels one that met another
 * transaction on the same item: the set's row (the second part of every change) in conflict.
 */
function withConflicts(count: number): { client: DynamoDBClient; attempts: () => number } {
  const client = createLocalDynamoDbClient(local.endpoints.dynamodb);
  let left = count;
  let attempts = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'TransactWriteItemsCommand') return next(args);
      attempts += 1;
      if (left <= 0) return next(args);
      left -= 1;
      throw new TransactionCanceledException({
        message:
          'Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]',
        $metadata: { httpStatusCode: 400 },
        CancellationReasons: [
          { Code: 'None' },
          { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' },
        ],
      });
    },
    { step: 'initialize', name: 'transactionConflicts' },
  );
  return { client, attempts: () => attempts };
}

const boost = ruleDefinition({
  name: 'Sale boost',
  kind: 'boost',
  placements: ['home'],
  condition: { tags: ['sale'] },
  factor: 2,
});

describe('a change whose transaction met another one on the set row', () => {
  it('is tried again: a create, a replacement and a delete each land once', async () => {
    const table = await freshTable();
    const conflicted = withConflicts(2);
    const store = new RuleStore(conflicted.client, table);
    const rule = await store.create(boost, 1);
    expect(conflicted.attempts()).toBe(3);

    const replacing = withConflicts(2);
    const updated = await new RuleStore(replacing.client, table).update(rule.ruleId, boost, 1, 2);
    expect(updated.version).toBe(2);
    expect(replacing.attempts()).toBe(3);

    const deleting = withConflicts(1);
    await new RuleStore(deleting.client, table).delete(rule.ruleId, 2, 3);
    expect(deleting.attempts()).toBe(2);

    // Each change counted once in the set's version.
    expect(await new RuleStore(local.dynamoDbClient, table).read()).toEqual({ version: 3, rules: [] });
  });

  it('fails after a few tries, having changed nothing', async () => {
    const table = await freshTable();
    const conflicted = withConflicts(100);
    await expect(new RuleStore(conflicted.client, table).create(boost, 1)).rejects.toBeInstanceOf(
      TransactionCanceledException,
    );
    expect(conflicted.attempts()).toBeGreaterThan(1);
    expect(conflicted.attempts()).toBeLessThan(10);
    expect(await new RuleStore(local.dynamoDbClient, table).read()).toEqual({ version: 0, rules: [] });
  });
});

/**
 * Creates the tables of functions/contract/storage.ts on DynamoDB Local, the way the CDK stack creates them in
 * AWS: on-demand billing, the same keys, GSIs and projections, streams and TTL.
 */
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type KeySchemaElement,
  type Projection,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  waitUntilTableNotExists,
} from '@aws-sdk/client-dynamodb';
import type { GlobalIndexDefinition, KeyAttribute, TableDefinition } from '../../functions/contract/storage';

export function tableName(definition: TableDefinition, prefix: string): string {
  return `${prefix}${definition.id}`;
}

/** The CreateTable request for one definition; pure, so a unit test can compare it with the CDK template. */
export function createTableInput(definition: TableDefinition, name: string): CreateTableCommandInput {
  const attributes = new Map<string, AttributeDefinition>();
  const keySchema = (partitionKey: KeyAttribute, sortKey?: KeyAttribute): KeySchemaElement[] => {
    const keys: KeySchemaElement[] = [];
    for (const [key, keyType] of [
      [partitionKey, 'HASH'],
      [sortKey, 'RANGE'],
    ] as const) {
      if (!key) continue;
      attributes.set(key.name, { AttributeName: key.name, AttributeType: key.type });
      keys.push({ AttributeName: key.name, KeyType: keyType });
    }
    return keys;
  };
  const input: CreateTableCommandInput = {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: keySchema(definition.partitionKey, definition.sortKey),
  };
  if (definition.globalIndexes?.length) {
    input.GlobalSecondaryIndexes = definition.globalIndexes.map((index) => ({
      IndexName: index.indexName,
      KeySchema: keySchema(index.partitionKey, index.sortKey),
      Projection: projection(index),
    }));
  }
  if (definition.stream) {
    input.StreamSpecification = { StreamEnabled: true, StreamViewType: definition.stream };
  }
  input.AttributeDefinitions = [...attributes.values()];
  return input;
}

function projection(index: GlobalIndexDefinition): Projection {
  if (index.projection === 'ALL' || index.projection === 'KEYS_ONLY')
    return { ProjectionType: index.projection };
  return { ProjectionType: 'INCLUDE', NonKeyAttributes: [...index.projection] };
}

/**
 * Creates every table named `${prefix}${id}` (an existing table is kept, so a persistent local
 * database survives restarts), waits until each is ACTIVE and enables TTL where defined.
 * Returns table names by definition id.
 */
export async function createTables(
  client: DynamoDBClient,
  tables: readonly TableDefinition[],
  prefix: string,
): Promise<Record<string, string>> {
  const names: Record<string, string> = {};
  await Promise.all(
    tables.map(async (definition) => {
      const name = tableName(definition, prefix);
      names[definition.id] = name;
      try {
        await client.send(new CreateTableCommand(createTableInput(definition, name)));
      } catch (error) {
        if (!(error instanceof ResourceInUseException)) throw error;
      }
      await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 1 }, { TableName: name });
      if (definition.timeToLiveAttribute)
        await enableTimeToLive(client, name, definition.timeToLiveAttribute);
    }),
  );
  return names;
}

async function enableTimeToLive(client: DynamoDBClient, name: string, attribute: string): Promise<void> {
  const current = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));
  const description = current.TimeToLiveDescription;
  // UpdateTimeToLive rejects a request that changes nothing.
  if (description?.TimeToLiveStatus === 'ENABLED' && description.AttributeName === attribute) return;
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: name,
      TimeToLiveSpecification: { Enabled: true, AttributeName: attribute },
    }),
  );
}

/** Deletes the tables (missing ones are ignored) and waits until they are gone. */
export async function deleteTables(client: DynamoDBClient, names: Iterable<string>): Promise<void> {
  await Promise.all(
    [...names].map(async (name) => {
      try {
        await client.send(new DeleteTableCommand({ TableName: name }));
      } catch (error) {
        if (error instanceof ResourceNotFoundException) return;
        throw error;
      }
      await waitUntilTableNotExists({ client, maxWaitTime: 30, minDelay: 1 }, { TableName: name });
    }),
  );
}

import type { KeysAndAttributes } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** BatchGetItem's limit of keys per request. */
const KEYS_PER_REQUEST = 100;

/**
 * The rows of `table` for `keys` (rows that do not exist are simply absent): `batchGetTables` for one
 * table. `options` are the request's projection, attribute names and consistency.
 */
export async function batchGetAll<Row>(
  documents: DynamoDBDocumentClient,
  table: string,
  keys: Array<Record<string, unknown>>,
  options: Omit<KeysAndAttributes, 'Keys'> = {},
): Promise<Row[]> {
  const rows = await batchGetTables(documents, [{ ...options, table, keys }]);
  return (rows.get(table) ?? []) as Row[];
}

/** The keys to read of one table, with that table's projection and consistency. */
export interface TableKeys extends Omit<KeysAndAttributes, 'Keys'> {
  table: string;
  keys: Array<Record<string, unknown>>;
}

/**
 * The rows of several tables at once, by table: BatchGetItem takes keys of several tables in one
 * request, so reads that do not depend on each other cost one round trip when they hold at most 100
 * keys. More keys are split into requests of 100 sent together; keys DynamoDB left unprocessed are
 * asked for again (only then does a read take more than one round trip).
 */
export async function batchGetTables(
  documents: DynamoDBDocumentClient,
  reads: TableKeys[],
): Promise<Map<string, Array<Record<string, unknown>>>> {
  const all = reads.flatMap(({ table, keys, ...options }) => keys.map((key) => ({ table, key, options })));
  const rows = new Map<string, Array<Record<string, unknown>>>(reads.map(({ table }) => [table, []]));
  const requests: Array<Record<string, KeysAndAttributes>> = [];
  for (let i = 0; i < all.length; i += KEYS_PER_REQUEST) {
    const request: Record<string, KeysAndAttributes> = {};
    for (const { table, key, options } of all.slice(i, i + KEYS_PER_REQUEST)) {
      const entry = request[table] ?? { ...options, Keys: [] };
      entry.Keys?.push(key as never);
      request[table] = entry;
    }
    requests.push(request);
  }
  await Promise.all(
    requests.map(async (request) => {
      let pending: Record<string, KeysAndAttributes> | undefined = request;
      while (pending && Object.keys(pending).length > 0) {
        const result = await documents.send(new BatchGetCommand({ RequestItems: pending as never }));
        for (const [table, found] of Object.entries(result.Responses ?? {}))
          rows.get(table)?.push(...(found as Array<Record<string, unknown>>));
        pending = result.UnprocessedKeys as Record<string, KeysAndAttributes> | undefined;
      }
    }),
  );
  return rows;
}

import type { KeysAndAttributes } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** BatchGetItem's limit of keys per request. */
const KEYS_PER_REQUEST = 100;

/**
 * The rows of `table` for `keys` (rows that do not exist are simply absent), 100 keys a request, and
 * the keys DynamoDB left unprocessed asked for again until none remain. `options` are the request's
 * projection, attribute names and consistency.
 */
export async function batchGetAll<Row>(
  documents: DynamoDBDocumentClient,
  table: string,
  keys: Array<Record<string, unknown>>,
  options: Omit<KeysAndAttributes, 'Keys'> = {},
): Promise<Row[]> {
  const rows: Row[] = [];
  for (let i = 0; i < keys.length; i += KEYS_PER_REQUEST) {
    let pending: Array<Record<string, unknown>> | undefined = keys.slice(i, i + KEYS_PER_REQUEST);
    while (pending && pending.length > 0) {
      const result = await documents.send(
        new BatchGetCommand({ RequestItems: { [table]: { ...options, Keys: pending } } }),
      );
      rows.push(...((result.Responses?.[table] ?? []) as Row[]));
      pending = result.UnprocessedKeys?.[table]?.Keys as Array<Record<string, unknown>> | undefined;
    }
  }
  return rows;
}

import { BatchWriteCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';

/** BatchWriteItem's limit of requests per call. */
const BATCH_WRITE_LIMIT = 25;
/** Calls per batch before deletes DynamoDB keeps leaving unprocessed are given up on. */
const MAX_UNPROCESSED_ATTEMPTS = 8;

/**
 * Deletes every row of one partition (a table keyed `pk`, `sk`): the partition read with strong
 * consistency (a row written just before is seen), deleted 25 rows a BatchWriteItem, unprocessed
 * deletes retried with backoff. Returns the rows deleted; `what` names them in the error thrown when
 * deletes stay unprocessed (erase again to finish).
 */
export async function erasePartition(
  documents: DynamoDBDocumentClient,
  table: string,
  pk: string,
  what: string,
): Promise<number> {
  let deleted = 0;
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await documents.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ProjectionExpression: 'pk, sk',
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    const keys = (page.Items ?? []) as Array<{ pk: string; sk: string }>;
    for (let i = 0; i < keys.length; i += BATCH_WRITE_LIMIT)
      await deleteAll(documents, table, keys.slice(i, i + BATCH_WRITE_LIMIT), what);
    deleted += keys.length;
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return deleted;
}

async function deleteAll(
  documents: DynamoDBDocumentClient,
  table: string,
  keys: Array<{ pk: string; sk: string }>,
  what: string,
): Promise<void> {
  let requests = keys.map((key) => ({ DeleteRequest: { Key: { pk: key.pk, sk: key.sk } } }));
  for (let attempt = 1; requests.length > 0; attempt++) {
    if (attempt > MAX_UNPROCESSED_ATTEMPTS)
      throw new Error(`${requests.length} ${what} deletes stayed unprocessed; erase again to finish`);
    if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** attempt * Math.random()));
    const { UnprocessedItems } = await documents.send(
      new BatchWriteCommand({ RequestItems: { [table]: requests } }),
    );
    requests = (UnprocessedItems?.[table] ?? []) as typeof requests;
  }
}

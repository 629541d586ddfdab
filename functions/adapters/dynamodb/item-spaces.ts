import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import type { CatalogueCoverage, SpaceCoverageCounts } from '../../app/rollout';
import type { ItemRow } from './item-table';

/**
 * The Items table seen per vector space: how many ready items hold each model's vector. One scan of
 * the table (the vectors are read, since DynamoDB cannot project a map's keys alone): an operator's
 * command, never on a request path.
 */
export class ItemSpaces implements CatalogueCoverage {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    dynamo: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.documents = DynamoDBDocumentClient.from(dynamo);
  }

  async coverage(): Promise<SpaceCoverageCounts> {
    const counts: SpaceCoverageCounts = { ready: 0, withVector: new Map() };
    for await (const page of paginateScan(
      { client: this.documents },
      {
        TableName: this.tableName,
        ProjectionExpression: '#status, #vectors',
        ExpressionAttributeNames: { '#status': 'status', '#vectors': 'vectors' },
      },
    )) {
      for (const row of (page.Items ?? []) as Array<Pick<ItemRow, 'status' | 'vectors'>>) {
        if (row.status !== 'ready') continue;
        counts.ready++;
        for (const space of Object.keys(row.vectors ?? {}))
          counts.withVector.set(space, (counts.withVector.get(space) ?? 0) + 1);
      }
    }
    return counts;
  }
}

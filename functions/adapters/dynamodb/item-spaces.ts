import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, paginateScan, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { CatalogueSample, ReadyItemSampler, SampleBounds } from '../../app/model-guard';
import type { ReadyItemVector } from '../../app/ports';
import type { SpaceCoverageCounts, SpaceVectors } from '../../app/rollout';
import { bytesToVector, type ItemRow, indexedVector, itemProjection, rowVector } from './item-table';

/**
 * The Items table seen per vector space: how many ready items hold each model's vector. One scan of
 * the table (the vectors are read, since DynamoDB cannot project a map's keys alone): an operator's
 * command, never on a request path.
 */
export class ItemSpaces implements SpaceVectors, ReadyItemSampler {
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

  /**
   * The first ready items of a scan and the spaces they hold vectors in, reading at most
   * `bounds.maxRows` rows (each page's Limit caps the rows DynamoDB reads, so the cost is bounded
   * whatever the table's size): the deploy-time model guard's view of the catalogue.
   */
  async sample(bounds: SampleBounds): Promise<CatalogueSample> {
    const sample: CatalogueSample = { ready: 0, withVector: new Map(), complete: false, read: 0 };
    let start: Record<string, unknown> | undefined;
    while (sample.read < bounds.maxRows && sample.ready < bounds.readyItems) {
      const page = await this.documents.send(
        new ScanCommand({
          TableName: this.tableName,
          Limit: Math.min(bounds.maxRows - sample.read, 250),
          ProjectionExpression: '#status, #vectors',
          ExpressionAttributeNames: { '#status': 'status', '#vectors': 'vectors' },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const row of (page.Items ?? []) as Array<Pick<ItemRow, 'status' | 'vectors'>>) {
        sample.read++;
        if (row.status !== 'ready' || sample.ready >= bounds.readyItems) continue;
        sample.ready++;
        for (const space of Object.keys(row.vectors ?? {}))
          sample.withVector.set(space, (sample.withVector.get(space) ?? 0) + 1);
      }
      start = page.LastEvaluatedKey;
      if (!start) {
        sample.complete = true;
        break;
      }
    }
    return sample;
  }

  /**
   * Removes one model's vector from every row holding one, each a conditional update (a row deleted
   * meanwhile is not recreated). The change feed is not stamped: no index serves a retired space.
   */
  async removeVectors(space: string): Promise<number> {
    const names = { '#vectors': 'vectors', '#space': space };
    let removed = 0;
    for await (const page of paginateScan(
      { client: this.documents },
      {
        TableName: this.tableName,
        ProjectionExpression: 'itemId',
        FilterExpression: 'attribute_exists(#vectors.#space)',
        ExpressionAttributeNames: names,
      },
    )) {
      for (const row of page.Items ?? []) {
        try {
          await this.documents.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: { itemId: row.itemId },
              UpdateExpression: 'REMOVE #vectors.#space',
              ConditionExpression: 'attribute_exists(#vectors.#space)',
              ExpressionAttributeNames: names,
            }),
          );
          removed++;
        } catch (error) {
          // Replaced meanwhile by a write without that vector: nothing left to remove.
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
        }
      }
    }
    return removed;
  }

  /**
   * Writes each ready item's `space` vector into the vector index's attribute, conditional on the
   * row still holding that very vector (a row replaced meanwhile was written by the embed function).
   */
  async indexVectors(space: string, attribute: string): Promise<number> {
    const names = { '#vectors': 'vectors', '#space': space, '#status': 'status' };
    let indexed = 0;
    for await (const page of paginateScan(
      { client: this.documents },
      {
        TableName: this.tableName,
        ProjectionExpression: 'itemId, #vectors.#space',
        FilterExpression: '#status = :ready AND attribute_exists(#vectors.#space)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ':ready': 'ready' },
      },
    )) {
      for (const row of (page.Items ?? []) as Array<Pick<ItemRow, 'itemId' | 'vectors'>>) {
        const bytes = row.vectors?.[space];
        if (!bytes) continue;
        try {
          await this.documents.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: { itemId: row.itemId },
              UpdateExpression: 'SET #attribute = :vector',
              ConditionExpression: '#vectors.#space = :bytes',
              ExpressionAttributeNames: { '#vectors': 'vectors', '#space': space, '#attribute': attribute },
              ExpressionAttributeValues: { ':vector': indexedVector(bytesToVector(bytes)), ':bytes': bytes },
            }),
          );
          indexed++;
        } catch (error) {
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
        }
      }
    }
    return indexed;
  }

  /**
   * Every ready item holding a `space` vector, with the source it was embedded from: a strongly
   * consistent scan, so a row written before the scan started is seen (what a promotion's
   * re-projection relies on).
   */
  async *readyVectors(space: string): AsyncIterable<ReadyItemVector> {
    const projection = itemProjection(['itemId', 'status', 'source'], space);
    for await (const page of paginateScan(
      { client: this.documents },
      {
        TableName: this.tableName,
        ConsistentRead: true,
        ...projection,
        FilterExpression: '#status = :ready AND attribute_exists(#vectors.#model)',
        ExpressionAttributeValues: { ':ready': 'ready' },
      },
    )) {
      for (const row of (page.Items ?? []) as Array<Pick<ItemRow, 'itemId' | 'source' | 'vectors'>>) {
        const vector = rowVector(row, space);
        if (vector) yield { itemId: row.itemId, source: row.source, vector };
      }
    }
  }
}

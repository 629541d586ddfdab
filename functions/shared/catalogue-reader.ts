import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BatchGetCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { type CatalogueItem, CatalogueRepository } from './catalogue-repository';

/** What the API shows of an item. */
export interface ItemView {
  itemId: string;
  title?: string;
  category?: string;
  price?: number;
  tags?: string[];
  available: boolean;
  imageUrl?: string;
}

interface ViewRow {
  itemId: string;
  title?: string;
  category?: string;
  price?: number;
  tags?: string[];
  available?: boolean;
  status: string;
  source?: { bucket: string; key: string; versionId?: string };
}

/** Reads items for responses, with short-lived presigned image URLs. */
export class CatalogueReader {
  private readonly documents: DynamoDBDocumentClient;
  readonly repository: CatalogueRepository;

  constructor(
    dynamo: DynamoDBClient,
    private readonly s3: S3Client,
    private readonly itemsTable: string,
    private readonly urlTtlSeconds = 900,
  ) {
    this.documents = DynamoDBDocumentClient.from(dynamo);
    this.repository = new CatalogueRepository(dynamo, itemsTable);
  }

  async get(itemId: string): Promise<CatalogueItem | undefined> {
    return this.repository.get(itemId, false);
  }

  async imageUrl(source: { bucket: string; key: string }): Promise<string> {
    return getSignedUrl(this.s3, new GetObjectCommand({ Bucket: source.bucket, Key: source.key }), {
      expiresIn: this.urlTtlSeconds,
    });
  }

  /** Views of many items, in one round trip per 100; missing or deleted items are absent. */
  async views(itemIds: string[]): Promise<Map<string, ItemView>> {
    const rows: ViewRow[] = [];
    const unique = [...new Set(itemIds)];
    for (let i = 0; i < unique.length; i += 100) {
      let keys: Record<string, unknown>[] | undefined = unique
        .slice(i, i + 100)
        .map((itemId) => ({ itemId }));
      while (keys && keys.length > 0) {
        const result = await this.documents.send(
          new BatchGetCommand({
            RequestItems: {
              [this.itemsTable]: {
                Keys: keys,
                ProjectionExpression: 'itemId, title, category, price, tags, available, #status, #source',
                ExpressionAttributeNames: { '#status': 'status', '#source': 'source' },
              },
            },
          }),
        );
        rows.push(...((result.Responses?.[this.itemsTable] ?? []) as ViewRow[]));
        keys = result.UnprocessedKeys?.[this.itemsTable]?.Keys as Record<string, unknown>[] | undefined;
      }
    }
    const views = new Map<string, ItemView>();
    await Promise.all(
      rows
        .filter((row) => row.status !== 'deleted')
        .map(async (row) => {
          views.set(row.itemId, {
            itemId: row.itemId,
            ...(row.title ? { title: row.title } : {}),
            ...(row.category ? { category: row.category } : {}),
            ...(row.price !== undefined ? { price: row.price } : {}),
            ...(row.tags ? { tags: row.tags } : {}),
            available: row.available !== false,
            ...(row.source ? { imageUrl: await this.imageUrl(row.source) } : {}),
          });
        }),
    );
    return views;
  }
}

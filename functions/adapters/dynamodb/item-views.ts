import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { LRUCache } from 'lru-cache';
import type { ItemView, ItemViews } from '../../app/ports';
import type { CatalogueItem } from '../../domain/catalogue-item';
import { jitteredTtl } from './aggregate-cache';
import { batchGetAll } from './batch-get';
import { CatalogueRepository } from './item-store';
import { type ItemRow, itemProjection } from './item-table';

/** The attributes of an item row a view is made from. */
export const VIEW_ATTRIBUTES = [
  'itemId',
  'title',
  'category',
  'price',
  'tags',
  'available',
  'status',
  'source',
] as const;

export type ViewRow = Pick<ItemRow, 'itemId'> &
  Partial<Pick<ItemRow, Exclude<(typeof VIEW_ATTRIBUTES)[number], 'itemId'>>>;

export interface CatalogueReaderOptions {
  /** How long a presigned image URL is valid. @default 900 s */
  urlTtlSeconds?: number;
  /**
   * How long an item's view (title, price, image URL...) is reused; 0 reads every time. Whether an
   * item may be served at all is never cached here: the index decides that on every request. A URL is
   * reused for at most a third of its validity, so a client always gets two thirds of it. @default 30 s
   */
  viewCacheMs?: number;
  /** Views kept at most (least recently used go first). @default 20000 */
  maxCachedViews?: number;
}

/** Reads items for responses, with short-lived presigned image URLs. */
export class CatalogueReader implements ItemViews {
  private readonly documents: DynamoDBDocumentClient;
  readonly repository: CatalogueRepository;
  private readonly urlTtlSeconds: number;
  /** Views by item id (a missing or deleted item is read again next time). */
  private readonly cache: LRUCache<string, ItemView> | undefined;
  private readonly viewTtl: number;

  constructor(
    dynamo: DynamoDBClient,
    private readonly s3: S3Client,
    private readonly itemsTable: string,
    options: CatalogueReaderOptions = {},
  ) {
    this.documents = DynamoDBDocumentClient.from(dynamo);
    this.repository = new CatalogueRepository(dynamo, itemsTable);
    this.urlTtlSeconds = options.urlTtlSeconds ?? 900;
    const ttl = Math.min(options.viewCacheMs ?? 30_000, (this.urlTtlSeconds * 1000) / 3);
    this.viewTtl = Math.floor(ttl);
    this.cache =
      ttl >= 1 ? new LRUCache({ max: options.maxCachedViews ?? 20_000, ttl: Math.floor(ttl) }) : undefined;
  }

  async get(itemId: string): Promise<CatalogueItem | undefined> {
    return this.repository.get(itemId, false);
  }

  async imageUrl(source: { bucket: string; key: string }): Promise<string> {
    return getSignedUrl(this.s3, new GetObjectCommand({ Bucket: source.bucket, Key: source.key }), {
      expiresIn: this.urlTtlSeconds,
    });
  }

  /** Drops cached views of items that changed (the exact index calls this as it applies changes). */
  forget(itemIds: Iterable<string>): void {
    if (!this.cache) return;
    for (const itemId of itemIds) this.cache.delete(itemId);
  }

  /**
   * Views of many items (missing or deleted ones are absent): cached ones from memory, the rest in
   * one round trip per 100.
   */
  async views(itemIds: string[]): Promise<Map<string, ItemView>> {
    const views = new Map<string, ItemView>();
    const toRead: string[] = [];
    for (const itemId of new Set(itemIds)) {
      const cached = this.cache?.get(itemId);
      if (cached === undefined) toRead.push(itemId);
      else views.set(itemId, cached);
    }
    if (toRead.length === 0) return views;
    const read = await this.readViews(toRead);
    for (const itemId of toRead) {
      const view = read.get(itemId);
      if (!view) continue;
      // Between half the TTL and the TTL: views read together do not all expire together.
      this.cache?.set(itemId, view, { ttl: jitteredTtl(this.viewTtl) });
      views.set(itemId, view);
    }
    return views;
  }

  private async readViews(itemIds: string[]): Promise<Map<string, ItemView>> {
    const rows = await batchGetAll<ViewRow>(
      this.documents,
      this.itemsTable,
      itemIds.map((itemId) => ({ itemId })),
      itemProjection(VIEW_ATTRIBUTES),
    );
    const live = rows.filter((row) => row.status !== 'deleted');
    const views = await Promise.all(live.map((row) => this.toView(row)));
    return new Map(views.map((view) => [view.itemId, view]));
  }

  /** What the API shows of a stored row, with a freshly presigned image URL. */
  async toView(row: ViewRow): Promise<ItemView> {
    return {
      itemId: row.itemId,
      ...(row.title ? { title: row.title } : {}),
      ...(row.category ? { category: row.category } : {}),
      ...(row.price !== undefined ? { price: row.price } : {}),
      ...(row.tags ? { tags: row.tags } : {}),
      available: row.available !== false,
      ...(row.source ? { imageUrl: await this.imageUrl(row.source) } : {}),
    };
  }
}

/**
 * An in-memory ItemViews (functions/app/ports.ts) that behaves like the DynamoDB adapter
 * (CatalogueReader): views of live items only, items in full whatever their status, an image URL per
 * object. test/support/contracts/item-views.ts is the suite both pass.
 */
import type { ItemView, ItemViews, StoredItem } from '../../../functions/app/ports';

export class InMemoryItemViews implements ItemViews {
  private readonly items = new Map<string, StoredItem>();

  /** Adds or replaces an item (ingestion's job in production). */
  putItem(item: StoredItem): void {
    this.items.set(item.itemId, structuredClone(item));
  }

  async get(itemId: string): Promise<StoredItem | undefined> {
    const item = this.items.get(itemId);
    return item ? structuredClone(item) : undefined;
  }

  async imageUrl(source: { bucket: string; key: string }): Promise<string> {
    return `https://images.test/${encodeURIComponent(source.bucket)}/${source.key.split('/').map(encodeURIComponent).join('/')}`;
  }

  async views(itemIds: string[]): Promise<Map<string, ItemView>> {
    const views = new Map<string, ItemView>();
    for (const itemId of new Set(itemIds)) {
      const item = this.items.get(itemId);
      if (!item || item.status === 'deleted') continue;
      views.set(itemId, {
        itemId,
        ...(item.title ? { title: item.title } : {}),
        ...(item.category ? { category: item.category } : {}),
        ...(item.price !== undefined ? { price: item.price } : {}),
        ...(item.tags ? { tags: [...item.tags] } : {}),
        available: item.available !== false,
        imageUrl: await this.imageUrl(item.source),
      });
    }
    return views;
  }
}

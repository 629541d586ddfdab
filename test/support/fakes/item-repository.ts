/**
 * An in-memory ItemRepository that behaves like the DynamoDB adapter
 * (functions/adapters/dynamodb/item-store.ts): every write is conditional on the same ordering rule,
 * and a write that loses changes nothing. test/support/contracts/item-repository.ts is the suite both
 * pass, so the two cannot drift apart.
 */
import type { ItemRepository } from '../../../functions/app/ports';
import type { CatalogueItem, ItemSource, ItemUpdateError } from '../../../functions/domain/catalogue-item';
import type { ItemAttributes } from '../../../functions/domain/item-metadata';

/** What DynamoDB would hand back: a copy, without attributes that were undefined when written. */
function copyOf<T extends object>(value: T): T {
  return structuredClone(
    Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)),
  ) as T;
}

/** The stored state is older than the event: the condition of every ordered write. */
function newerThanStored(stored: CatalogueItem | undefined, incoming: ItemSource): boolean {
  if (!stored) return true;
  if (stored.source.key === incoming.key) return stored.source.sequencer < incoming.sequencer;
  return stored.source.eventAt < incoming.eventAt;
}

const sameImage = (a: ItemSource, b: ItemSource) => a.key === b.key && a.sequencer === b.sequencer;

export class InMemoryItemRepository implements ItemRepository {
  private readonly items = new Map<string, CatalogueItem>();
  /** Writes tried and writes applied, for tests that check a use case never writes blindly. */
  readonly writes = { tried: 0, applied: 0 };

  async get(itemId: string): Promise<CatalogueItem | undefined> {
    const item = this.items.get(itemId);
    return item ? copyOf(item) : undefined;
  }

  async putIfNewer(item: CatalogueItem): Promise<boolean> {
    return this.write(item.itemId, (stored) => (newerThanStored(stored, item.source) ? item : undefined));
  }

  async updateAttributesIfNewer(
    itemId: string,
    attributes: ItemAttributes,
    warnings: string[],
    source: ItemSource,
    now: number,
    clearUpdateError = false,
  ): Promise<boolean> {
    return this.write(itemId, (stored) => {
      if (!stored || !newerThanStored(stored, source) || stored.source.etag !== source.etag) return undefined;
      const { title, category, price, tags, available } = attributes;
      return {
        ...stored,
        title,
        category,
        price,
        tags,
        available,
        metadataWarnings: warnings.length ? warnings : undefined,
        ...(clearUpdateError ? { lastUpdateError: undefined } : {}),
        source,
        updatedAt: now,
      };
    });
  }

  async tombstoneIfUnchanged(
    itemId: string,
    source: ItemSource,
    expected: ItemSource | undefined,
    now: number,
  ): Promise<boolean> {
    return this.write(itemId, (stored) => {
      if (expected ? !stored || !sameImage(stored.source, expected) : stored) return undefined;
      return {
        itemId,
        available: true,
        createdAt: now,
        ...stored,
        status: 'deleted',
        source,
        vectors: {},
        rejection: undefined,
        lastUpdateError: undefined,
        deletedAt: now,
        updatedAt: now,
      };
    });
  }

  async recordUpdateErrorIfCurrent(
    itemId: string,
    error: ItemUpdateError,
    expected: ItemSource,
    now: number,
  ): Promise<boolean> {
    return this.write(itemId, (stored) => {
      if (stored?.status !== 'ready' || !sameImage(stored.source, expected)) return undefined;
      const recorded = stored.lastUpdateError;
      const newer =
        !recorded ||
        (recorded.key === error.key
          ? recorded.sequencer < error.sequencer
          : recorded.eventAt < error.eventAt);
      return newer ? { ...stored, lastUpdateError: error, updatedAt: now } : undefined;
    });
  }

  async clearUpdateErrorIfDeleted(itemId: string, deleted: ItemSource): Promise<boolean> {
    return this.write(itemId, (stored) => {
      const recorded = stored?.lastUpdateError;
      if (!stored || recorded?.key !== deleted.key || !(recorded.sequencer < deleted.sequencer))
        return undefined;
      return { ...stored, lastUpdateError: undefined };
    });
  }

  async *itemSources(): AsyncIterable<Pick<CatalogueItem, 'itemId' | 'status' | 'source'>> {
    for (const { itemId, status, source } of [...this.items.values()])
      yield copyOf({ itemId, status, source });
  }

  async addVectorIfCurrent(
    itemId: string,
    modelId: string,
    vector: Float32Array,
    expected: ItemSource,
    now: number,
  ): Promise<boolean> {
    return this.write(itemId, (stored) => {
      // DynamoDB's `attribute_exists(vectors)`: an item stored without any vector has no map to add to.
      if (stored?.status !== 'ready' || !sameImage(stored.source, expected)) return undefined;
      if (Object.keys(stored.vectors).length === 0) return undefined;
      return { ...stored, vectors: { ...stored.vectors, [modelId]: vector }, updatedAt: now };
    });
  }

  /** Applies `next` to the stored item atomically; undefined means the condition failed. */
  private write(
    itemId: string,
    next: (stored: CatalogueItem | undefined) => CatalogueItem | undefined,
  ): boolean {
    this.writes.tried++;
    const stored = this.items.get(itemId);
    const written = next(stored ? copyOf(stored) : undefined);
    if (!written) return false;
    this.items.set(itemId, copyOf(written));
    this.writes.applied++;
    return true;
  }
}

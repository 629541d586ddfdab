/**
 * The Items table's row: the one place that knows how a catalogue item is stored (attribute names,
 * the vector codec, the change feed, the DynamoDB vector index attribute). Every reader and writer of
 * the table (the item store, the views, the snapshot index, the profile store, the vector retriever,
 * the local twin's demo routes) goes through it. Table and index names live in functions/contract.
 */
import type { CatalogueItem } from '../../domain/catalogue-item';
import { type ItemAttributes, MAX_LABEL_LENGTH, MAX_TAGS } from '../../vector-index';

/** The single row format; `changeFeed` + `changedAt` feed the incremental index refresh. */
export interface ItemRow extends Omit<CatalogueItem, 'vectors'> {
  /** Each model's vector as little-endian float32 bytes. */
  vectors?: Record<string, Uint8Array>;
  changeFeed: typeof CHANGE_FEED;
  changedAt: number;
  /** The active model's vector as a list of numbers, when a DynamoDB vector index serves. */
  [vectorIndexAttribute: string]: unknown;
}

/** The attributes of a row, by name. */
export type ItemAttribute = keyof CatalogueItem | 'changeFeed' | 'changedAt';

/** The partition of the change index every write puts its row in. */
export const CHANGE_FEED = 'items';

/** Where a DynamoDB vector index reads the active model's vector (the `dynamodb-vector` backend). */
export interface VectorIndexTarget {
  /** The model whose vector the index holds. */
  modelId: string;
  /** The top-level attribute the index is defined on. */
  attribute: string;
  dim: number;
}

export function vectorToBytes(vector: Float32Array): Uint8Array {
  // A copy: DocumentClient cannot marshal Float32Array, and views would share memory.
  return new Uint8Array(vector.buffer.slice(vector.byteOffset, vector.byteOffset + vector.byteLength));
}

export function bytesToVector(bytes: Uint8Array): Float32Array {
  return new Float32Array(bytes.slice().buffer);
}

/** The row an item is written as; `now` stamps the change feed. */
export function toRow(item: CatalogueItem, now: number, vectorIndex?: VectorIndexTarget): ItemRow {
  const row: ItemRow = {
    ...item,
    vectors: Object.fromEntries(Object.entries(item.vectors).map(([model, v]) => [model, vectorToBytes(v)])),
    changeFeed: CHANGE_FEED,
    changedAt: now,
  };
  if (Object.keys(item.vectors).length === 0) delete row.vectors;
  const indexed = vectorIndex && item.vectors[vectorIndex.modelId];
  if (vectorIndex && indexed) {
    if (indexed.length !== vectorIndex.dim) {
      throw new Error(`vector index wants ${vectorIndex.dim} dimensions; model gives ${indexed.length}`);
    }
    row[vectorIndex.attribute] = indexedVector(indexed);
  }
  return row;
}

/** The item a row holds. */
export function fromRow(row: ItemRow, vectorIndexAttribute?: string): CatalogueItem {
  const { vectors, changeFeed: _feed, changedAt: _changed, ...rest } = row;
  if (vectorIndexAttribute) delete rest[vectorIndexAttribute];
  const item = rest as unknown as CatalogueItem;
  item.vectors = Object.fromEntries(
    Object.entries(vectors ?? {}).map(([model, bytes]) => [model, bytesToVector(bytes)]),
  );
  return item;
}

/** The value of the vector index attribute for a vector. */
export const indexedVector = (vector: Float32Array): number[] => Array.from(vector);

/**
 * What the vector index keeps of an item row besides its vector (see ItemAttributes). Only values
 * the index accepts pass: a malformed row loses the attribute rather than failing the whole refresh.
 */
export function indexAttributes(
  row: Pick<ItemRow, 'available' | 'category' | 'publishedAt' | 'createdAt' | 'tags' | 'price'>,
): ItemAttributes {
  const since = row.publishedAt ?? row.createdAt;
  const tags = indexTags(row.tags);
  const price = row.price;
  return {
    available: row.available !== false,
    ...(row.category ? { category: row.category } : {}),
    ...(Number.isInteger(since) && since >= 0 ? { publishedAt: since } : {}),
    ...(tags.length > 0 ? { tags } : {}),
    ...(typeof price === 'number' && Number.isFinite(price) && price >= 0 ? { price } : {}),
  };
}

/** The row attributes indexAttributes reads. */
export const INDEX_ATTRIBUTES = [
  'available',
  'category',
  'publishedAt',
  'createdAt',
  'tags',
  'price',
] as const;

/**
 * A row's tags as the index takes them: distinct non-empty strings, at most MAX_TAGS. The item store
 * writes a list; a string set (a hand-edited row) reads as a Set.
 */
function indexTags(tags: unknown): string[] {
  if (!(Array.isArray(tags) || tags instanceof Set)) return [];
  const kept = new Set<string>();
  for (const tag of tags) {
    if (typeof tag === 'string' && tag.length > 0 && tag.length <= MAX_LABEL_LENGTH) kept.add(tag);
    if (kept.size === MAX_TAGS) break;
  }
  return [...kept];
}

/** One model's vector of a row read with {@link itemProjection}, if it has one. */
export function rowVector(row: Pick<ItemRow, 'vectors'>, modelId: string): Float32Array | undefined {
  const bytes = row.vectors?.[modelId];
  return bytes ? bytesToVector(bytes) : undefined;
}

/**
 * A projection of some attributes of a row (each through an attribute name, so reserved words are
 * safe), plus one model's vector when `vectorOf` names it.
 */
export function itemProjection(
  attributes: readonly ItemAttribute[],
  vectorOf?: string,
): { ProjectionExpression: string; ExpressionAttributeNames: Record<string, string> } {
  const names: Record<string, string> = {};
  const paths = attributes.map((attribute) => {
    names[`#${attribute}`] = attribute;
    return `#${attribute}`;
  });
  if (vectorOf !== undefined) {
    names['#vectors'] = 'vectors';
    names['#model'] = vectorOf;
    paths.push('#vectors.#model');
  }
  return { ProjectionExpression: paths.join(', '), ExpressionAttributeNames: names };
}

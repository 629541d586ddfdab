import type { ItemAttributes } from '../vector-index';

/**
 * What a list's items must be, besides available and not excluded: the attribute filters of a list
 * request (several categories, tags, a price range). They run inside retrieval (the index's accept
 * function), so a narrow filter still returns `limit` items when that many exist.
 */
export interface ListFilter {
  /** Items of any of these categories. */
  categories?: readonly string[];
  /** Items with any (`tagMatch: 'any'`, the default) or all of these tags. */
  tags?: readonly string[];
  tagMatch?: 'any' | 'all';
  /** Inclusive price bounds; an item without a price never passes a price bound. */
  minPrice?: number;
  maxPrice?: number;
}

/** The most categories and tags one request may filter on. */
export const MAX_FILTER_VALUES = 20;
/** `excludeIds`: at most this many ids, of at most this many UTF-8 bytes together. */
export const MAX_EXCLUDED_IDS = 50;
export const MAX_EXCLUDED_BYTES = 4096;

/** Whether the filter narrows anything (an empty filter accepts every item). */
export function isFiltering(filter: ListFilter | undefined): filter is ListFilter {
  if (!filter) return false;
  return (
    (filter.categories?.length ?? 0) > 0 ||
    (filter.tags?.length ?? 0) > 0 ||
    filter.minPrice !== undefined ||
    filter.maxPrice !== undefined
  );
}

/** A predicate over item attributes for this filter; built once per request, called per item scanned. */
export function filterPredicate(filter: ListFilter | undefined): (attributes: ItemAttributes) => boolean {
  if (!isFiltering(filter)) return () => true;
  const categories = filter.categories?.length ? new Set(filter.categories) : undefined;
  const tags = filter.tags?.length ? filter.tags : undefined;
  const all = filter.tagMatch === 'all';
  const { minPrice, maxPrice } = filter;
  const priced = minPrice !== undefined || maxPrice !== undefined;
  return (attributes) => {
    if (categories && (attributes.category === undefined || !categories.has(attributes.category)))
      return false;
    if (tags) {
      const own = attributes.tags;
      if (!own || own.length === 0) return false;
      if (all ? !tags.every((t) => own.includes(t)) : !tags.some((t) => own.includes(t))) return false;
    }
    if (priced) {
      const { price } = attributes;
      if (price === undefined) return false;
      if (minPrice !== undefined && price < minPrice) return false;
      if (maxPrice !== undefined && price > maxPrice) return false;
    }
    return true;
  };
}

/**
 * The filter in one canonical form (sorted values, defaults spelled out, no empty parts): equal for
 * two requests that filter alike however they spelled it. Paging tokens are bound to it.
 */
export function canonicalFilter(filter: ListFilter | undefined): string {
  if (!isFiltering(filter)) return '{}';
  const sorted = (values: readonly string[] | undefined) =>
    values && values.length > 0 ? [...new Set(values)].sort() : undefined;
  return JSON.stringify({
    categories: sorted(filter.categories),
    tags: sorted(filter.tags),
    tagMatch: filter.tags?.length ? (filter.tagMatch ?? 'any') : undefined,
    minPrice: filter.minPrice,
    maxPrice: filter.maxPrice,
  });
}

/**
 * "Like this, but cheaper": the filter with its upper price bound at `ratio` times the reference
 * item's price (or the filter's own bound, if lower).
 */
export function withRelativePrice(filter: ListFilter | undefined, ratio: number, price: number): ListFilter {
  const bound = ratio * price;
  return { ...filter, maxPrice: filter?.maxPrice === undefined ? bound : Math.min(filter.maxPrice, bound) };
}

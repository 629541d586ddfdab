import { truncateWellFormed } from './unicode';

/** Item attributes that catalogue tools set as S3 user metadata (x-amz-meta-*). */
export interface ItemAttributes {
  title?: string;
  category?: string;
  price?: number;
  tags?: string[];
  /**
   * When the item went on sale (ms), from `published-at`: what exploration counts an item's age from
   * (else from its first upload). A shop importing its existing catalogue dates it here, so that only
   * new arrivals count as new.
   */
  publishedAt?: number;
  /** false keeps the item out of recommendations. */
  available: boolean;
}

export interface ParsedMetadata {
  attributes: ItemAttributes;
  /** Values that were present but unusable; kept on the item so catalogue owners can see them. */
  warnings: string[];
}

const MAX_TEXT = 256;
const MAX_TAGS = 32;

const text = (value: string | undefined): string | undefined => {
  const trimmed = value?.trim();
  return trimmed ? truncateWellFormed(trimmed, MAX_TEXT) : undefined;
};

/** S3 lower-cases user metadata keys; values are strings. */
export function parseItemMetadata(
  metadata: Record<string, string | undefined> = {},
  folderCategory?: string,
): ParsedMetadata {
  const warnings: string[] = [];
  const attributes: ItemAttributes = { available: true };
  const title = text(metadata.title);
  if (title) attributes.title = title;
  const category = text(metadata.category) ?? folderCategory;
  if (category) attributes.category = category;
  if (metadata.price !== undefined && metadata.price.trim() !== '') {
    const price = Number(metadata.price.trim());
    if (Number.isFinite(price) && price >= 0) attributes.price = price;
    else warnings.push(`price: "${metadata.price.slice(0, 40)}" is not a non-negative number`);
  }
  if (metadata.tags !== undefined) {
    const tags = [
      ...new Set(
        metadata.tags
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean),
      ),
    ].map((t) => truncateWellFormed(t, 64));
    if (tags.length > MAX_TAGS) warnings.push(`tags: only the first ${MAX_TAGS} of ${tags.length} are kept`);
    if (tags.length > 0) attributes.tags = tags.slice(0, MAX_TAGS);
  }
  if (metadata['published-at'] !== undefined && metadata['published-at'].trim() !== '') {
    const publishedAt = parseInstant(metadata['published-at'].trim());
    if (publishedAt !== undefined) attributes.publishedAt = publishedAt;
    else
      warnings.push(
        `published-at: "${metadata['published-at'].slice(0, 40)}" is not an ISO 8601 date or time (2026-11-30, 2026-11-30T09:00:00Z)`,
      );
  }
  if (metadata.available !== undefined) {
    const available = metadata.available.trim().toLowerCase();
    if (available === 'false' || available === '0' || available === 'no') attributes.available = false;
    else if (!['true', '1', 'yes', ''].includes(available))
      warnings.push(`available: "${available.slice(0, 20)}" is not true/false`);
  }
  return { attributes, warnings };
}

// A calendar date, or a date and time with a zone (Z or an offset): never a local time, whose meaning
// would depend on where the catalogue tool ran.
const INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;
const EARLIEST = Date.UTC(1970, 0, 1);
const LATEST = Date.UTC(2100, 0, 1);

/** An ISO 8601 date (midnight UTC) or zoned date-time as ms, or undefined when it is not one. */
function parseInstant(value: string): number | undefined {
  if (!INSTANT.test(value)) return undefined;
  // Date.parse would roll 2026-02-31 over to March: a day that does not exist is refused, not moved.
  const [year, month, day] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  const at = Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value);
  if (!Number.isFinite(at) || at < EARLIEST || at >= LATEST) return undefined;
  return at;
}

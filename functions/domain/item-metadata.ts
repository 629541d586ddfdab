import { truncateWellFormed } from './unicode';

/** Item attributes that catalogue tools set as S3 user metadata (x-amz-meta-*). */
export interface ItemAttributes {
  title?: string;
  category?: string;
  price?: number;
  tags?: string[];
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
  if (metadata.available !== undefined) {
    const available = metadata.available.trim().toLowerCase();
    if (available === 'false' || available === '0' || available === 'no') attributes.available = false;
    else if (!['true', '1', 'yes', ''].includes(available))
      warnings.push(`available: "${available.slice(0, 20)}" is not true/false`);
  }
  return { attributes, warnings };
}

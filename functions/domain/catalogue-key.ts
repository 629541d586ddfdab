import { CATALOGUE_PREFIX, IMAGE_EXTENSIONS } from '../contract/storage';
import { isWellFormedUnicode } from './unicode';

/** Where an object sits in the catalogue, derived from its key alone. */
export interface CatalogueObject {
  /** The decoded S3 key. */
  key: string;
  /** The file name without its extension: a SKU, say. Unique across the catalogue. */
  itemId: string;
  /** The first folder level under the prefix, if any. */
  folderCategory?: string;
}

const IMAGE_EXTENSION = new RegExp(`\\.(${IMAGE_EXTENSIONS.join('|')})$`, 'i');
export const MAX_ITEM_ID_BYTES = 512;

/** Undefined when the key is not an item: outside the prefix, not an image, or a folder marker. */
export function catalogueObjectFromKey(key: string, prefix = CATALOGUE_PREFIX): CatalogueObject | undefined {
  const classified = classifyCatalogueKey(key, prefix);
  return 'ignored' in classified ? undefined : classified;
}

/** The item a key names, or why it names none (logged with the ignored notification). */
export function classifyCatalogueKey(
  key: string,
  prefix = CATALOGUE_PREFIX,
): CatalogueObject | { ignored: string } {
  if (!key.startsWith(prefix)) return { ignored: `outside ${prefix}` };
  // S3 keys are UTF-8, so a lone surrogate can only come from elsewhere (a local tool); its item id
  // would be stored with U+FFFD in its place and collide with others.
  if (!isWellFormedUnicode(key)) return { ignored: 'the key is not well-formed Unicode (a lone surrogate)' };
  const path = key.slice(prefix.length);
  const segments = path.split('/');
  const fileName = segments[segments.length - 1] ?? '';
  const match = IMAGE_EXTENSION.exec(fileName);
  if (!match) return { ignored: `the file name has no image extension (${IMAGE_EXTENSIONS.join(', ')})` };
  const itemId = fileName.slice(0, match.index);
  if (itemId.trim() === '') return { ignored: 'the file name is only an extension' };
  if (Buffer.byteLength(itemId) > MAX_ITEM_ID_BYTES)
    return {
      ignored: `the item id is ${Buffer.byteLength(itemId)} bytes; the limit is ${MAX_ITEM_ID_BYTES}`,
    };
  const folderCategory = segments.length > 1 && segments[0] !== '' ? segments[0] : undefined;
  return { key, itemId, ...(folderCategory ? { folderCategory } : {}) };
}

const SEQUENCER_LENGTH = 64;

/** Left-pads S3's hex sequencer so that string order is event order for one key (and DynamoDB can compare). */
export function normaliseSequencer(sequencer: string): string {
  const hex = sequencer.trim().toUpperCase();
  if (!/^[0-9A-F]{1,64}$/.test(hex)) throw new Error(`not a sequencer: ${sequencer}`);
  return hex.padStart(SEQUENCER_LENGTH, '0');
}

/**
 * The sequencer of a state a reconcile read from the bucket instead of from an event: right after
 * `applied` (the newest one the item holds for the key) and before every real event newer than that.
 * A suffix does it: a longer string sorts after its prefix, and a real sequencer that is greater than
 * `applied` differs from it within the first 64 characters. The time keeps later reconciles ordered.
 */
export function reconciledSequencer(applied: string, at: number): string {
  return `${applied.slice(0, SEQUENCER_LENGTH)}.${Math.max(0, Math.floor(at)).toString(16).padStart(12, '0')}`;
}

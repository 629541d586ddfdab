import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CATALOGUE_PREFIX } from '../../functions/contract/storage';

/** One image of the demo catalogue, uploaded as a catalogue tool would. */
export interface DemoImage {
  key: string;
  file: string;
  metadata: Record<string, string>;
}

interface EmojiEntry {
  name?: string | null;
  short_name: string;
  image: string;
  subcategory: string;
  sort_order: number;
  has_img_google?: boolean;
}

/** S3 user metadata travels as HTTP headers: plain ASCII only. */
const ascii = (text: string) =>
  text
    .normalize('NFKD')
    .replace(/[^\x20-\x7e]/g, '')
    .trim();

const titleCase = (text: string) => text.toLowerCase().replace(/\b[a-z]/g, (c) => c.toUpperCase());

/**
 * A few hundred Noto Emoji images (emoji-datasource-google, Apache-2.0) in ~20 categories: the
 * subcategories with the most images, up to 15 each, in Unicode order.
 */
/** When the demo catalogue's older items went on sale. */
export const DEMO_CATALOGUE_SINCE = '2026-01-01';

export function demoCatalogue(perCategory = 15, categories = 20): DemoImage[] {
  const root = join(require.resolve('emoji-datasource-google/package.json'), '..');
  const entries = (JSON.parse(readFileSync(join(root, 'emoji.json'), 'utf8')) as EmojiEntry[])
    .filter((e) => e.has_img_google && e.subcategory !== 'country-flag')
    .sort((a, b) => a.sort_order - b.sort_order);
  const bySubcategory = new Map<string, EmojiEntry[]>();
  for (const entry of entries)
    bySubcategory.set(entry.subcategory, [...(bySubcategory.get(entry.subcategory) ?? []), entry]);
  const chosen = [...bySubcategory]
    .filter(([, list]) => list.length >= 12)
    .sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))
    .slice(0, categories);
  return chosen.flatMap(([subcategory, list]) =>
    list.slice(0, perCategory).map((entry, i) => ({
      key: `${CATALOGUE_PREFIX}${subcategory}/${entry.short_name}.png`,
      file: join(root, 'img', 'google', '64', entry.image),
      metadata: {
        title: ascii(titleCase(entry.name ?? entry.short_name.replace(/_/g, ' '))) || entry.short_name,
        category: subcategory,
        tags: ascii(entry.short_name.replace(/_/g, ' ')),
        // A shop's catalogue is mostly on sale already: all but the last two of each category are
        // dated, so those two are the new arrivals that exploration shows ("new in").
        ...(i < perCategory - 2 ? { 'published-at': DEMO_CATALOGUE_SINCE } : {}),
      },
    })),
  );
}

/** Uploads `images` four at a time, as a catalogue tool would; ingestion runs for real behind it. */
export async function uploadDemoImages(
  s3: S3Client,
  bucket: string,
  images: readonly DemoImage[],
  onUploaded: () => void = () => {},
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let image = images[next++]; image; image = images[next++]) {
        await s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: image.key,
            Body: readFileSync(image.file),
            ContentType: 'image/png',
            Metadata: image.metadata,
          }),
        );
        onUploaded();
      }
    }),
  );
}

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Labelled images for measuring descriptors: emoji artwork from two npm packages that draw the
 * same emoji in different styles. The subcategory (e.g. "animal-mammal") is the label.
 */
export type EmojiPackage = 'google' | 'twitter';

export interface EmojiImage {
  emojiPackage: EmojiPackage;
  image: string;
  subcategory: string;
  sortOrder: number;
  path: string;
}

interface EmojiEntry {
  image: string;
  subcategory: string;
  sort_order: number;
  has_img_google: boolean;
  has_img_twitter: boolean;
}

export const IMAGES_PER_SUBCATEGORY = 25;

function packageRoot(emojiPackage: EmojiPackage): string {
  return dirname(require.resolve(`emoji-datasource-${emojiPackage}/emoji.json`));
}

export function emojiPackageVersion(emojiPackage: EmojiPackage): string {
  return (
    JSON.parse(readFileSync(join(packageRoot(emojiPackage), 'package.json'), 'utf8')) as { version: string }
  ).version;
}

function catalogue(emojiPackage: EmojiPackage): EmojiImage[] {
  const root = packageRoot(emojiPackage);
  const entries = require(`emoji-datasource-${emojiPackage}/emoji.json`) as EmojiEntry[];
  return entries
    .filter((entry) => entry[`has_img_${emojiPackage}`])
    .map((entry) => ({
      emojiPackage,
      image: entry.image,
      subcategory: entry.subcategory,
      sortOrder: entry.sort_order,
      path: join(root, 'img', emojiPackage, '64', entry.image),
    }))
    .sort((a, b) => a.sortOrder - b.sortOrder || (a.image < b.image ? -1 : a.image > b.image ? 1 : 0));
}

/**
 * The evaluation set: every subcategory with at least 25 images, the first 25 of each by
 * sort_order; ordered by subcategory name, then sort_order.
 */
export function evaluationSet(emojiPackage: EmojiPackage): EmojiImage[] {
  const bySubcategory = new Map<string, EmojiImage[]>();
  for (const image of catalogue(emojiPackage)) {
    bySubcategory.set(image.subcategory, [...(bySubcategory.get(image.subcategory) ?? []), image]);
  }
  return [...bySubcategory.entries()]
    .filter(([, images]) => images.length >= IMAGES_PER_SUBCATEGORY)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .flatMap(([, images]) => images.slice(0, IMAGES_PER_SUBCATEGORY));
}

/** Every how-many-th eligible emoji goes into the fitting set: half of them keeps fits and builds fast. */
export const FITTING_STRIDE = 2;

/**
 * Images for fitting a transform (centring, PCA): every second emoji, by sort_order, of those in
 * neither package's evaluation set, so a fit never sees an evaluated emoji in any style.
 */
export function fittingSet(emojiPackage: EmojiPackage): EmojiImage[] {
  const evaluated = new Set(
    [...evaluationSet('google'), ...evaluationSet('twitter')].map((image) => image.image),
  );
  return catalogue(emojiPackage)
    .filter((image) => !evaluated.has(image.image))
    .filter((_, index) => index % FITTING_STRIDE === 0);
}

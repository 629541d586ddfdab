import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { type EmojiPackage, evaluationSet } from '../../layers/model/emoji-dataset';
import { SeededRandom } from './prng';

export type { EmojiPackage };

const DAY_MS = 86_400_000;

/** Everything a simulated user does, fixed so that runs can be compared (docs/evaluation.md lists it). */
export const SIMULATION = {
  /** Per taste: distinct items of the taste's subcategory the user likes or purchases. */
  likesPerTaste: 4,
  purchasesPerTaste: 2,
  /** Per taste: further items of the taste, never shown to the system; what Recall@10 looks for. */
  heldOutPerTaste: 3,
  /** Views of single items from other subcategories (one each, distinct subcategories): noise. */
  noiseViews: 3,
  /** A dislike of an item from another subcategory. */
  dislikes: 1,
  /** Event times are uniform over this many days before the replay, interleaved across tastes. */
  historyDays: 14,
  /** Share of users with two tastes; the rest have one. */
  twoTasteShare: 0.5,
} as const;

export const POSITIVES_PER_TASTE = SIMULATION.likesPerTaste + SIMULATION.purchasesPerTaste;

export interface Preset {
  users: number;
  /** How many subcategories make the catalogue (all of the package's evaluation set when larger). */
  subcategories: number;
  /** Items of each subcategory in the catalogue from the start. */
  warmPerSubcategory: number;
  /** Items of each subcategory uploaded only after the events: the cold-start test. */
  coldPerSubcategory: number;
}

export const PRESETS = {
  full: { users: 200, subcategories: 23, warmPerSubcategory: 16, coldPerSubcategory: 2 },
  ci: { users: 60, subcategories: 10, warmPerSubcategory: 12, coldPerSubcategory: 2 },
} as const satisfies Record<string, Preset>;
export type PresetName = keyof typeof PRESETS;

export interface CatalogueImage {
  itemId: string;
  /** The label: the user's taste is a subcategory. Never sent to the system. */
  subcategory: string;
  file: string;
}

export interface Catalogue {
  subcategories: string[];
  warm: CatalogueImage[];
  cold: CatalogueImage[];
}

/**
 * A labelled catalogue from the images docs/descriptors.md evaluates on (subcategories with at least
 * 25 emoji, the first 25 of each), which the model's PCA was never fitted on, in either style.
 */
export function buildCatalogue(emojiPackage: EmojiPackage, preset: Preset, seed: number): Catalogue {
  const random = new SeededRandom(seed, 1);
  const bySubcategory = new Map<string, CatalogueImage[]>();
  for (const image of evaluationSet(emojiPackage)) {
    const list = bySubcategory.get(image.subcategory) ?? [];
    list.push({ itemId: basename(image.image, '.png'), subcategory: image.subcategory, file: image.path });
    bySubcategory.set(image.subcategory, list);
  }
  const perSubcategory = preset.warmPerSubcategory + preset.coldPerSubcategory;
  const eligible = [...bySubcategory.keys()]
    .filter((s) => (bySubcategory.get(s)?.length ?? 0) >= perSubcategory)
    .sort();
  const subcategories =
    preset.subcategories >= eligible.length ? eligible : random.sample(eligible, preset.subcategories).sort();
  const warm: CatalogueImage[] = [];
  const cold: CatalogueImage[] = [];
  for (const subcategory of subcategories) {
    const images = (bySubcategory.get(subcategory) ?? []).slice(0, perSubcategory);
    const coldIds = new Set(random.sample(images, preset.coldPerSubcategory).map((image) => image.itemId));
    for (const image of images) (coldIds.has(image.itemId) ? cold : warm).push(image);
  }
  return { subcategories, warm, cold };
}

export type SimulatedEventType = 'like' | 'purchase' | 'view' | 'dislike';

export interface SimulatedEvent {
  eventId: string;
  itemId: string;
  type: SimulatedEventType;
  /** Milliseconds after the start of the history window (historyDays before the replay). */
  offsetMs: number;
}

export interface SimulatedUser {
  userId: string;
  tastes: string[];
  /** Training events in time order. */
  events: SimulatedEvent[];
  heldOut: string[];
}

/** Users with one or two tastes, their time-ordered training events and their held-out items. */
export function simulateUsers(catalogue: Catalogue, userCount: number, seed: number): SimulatedUser[] {
  const random = new SeededRandom(seed, 2);
  const warmBySubcategory = new Map<string, string[]>();
  for (const image of catalogue.warm) {
    warmBySubcategory.set(image.subcategory, [
      ...(warmBySubcategory.get(image.subcategory) ?? []),
      image.itemId,
    ]);
  }
  const itemsOf = (subcategory: string) => warmBySubcategory.get(subcategory) ?? [];
  const twoTasteUsers = Math.round(userCount * SIMULATION.twoTasteShare);
  const historyMs = SIMULATION.historyDays * DAY_MS;
  const users: SimulatedUser[] = [];
  for (let u = 0; u < userCount; u++) {
    const userId = `eval-${seed}-u${String(u).padStart(4, '0')}`;
    const tasteCount = u < userCount - twoTasteUsers ? 1 : 2;
    const tastes = random.sample(catalogue.subcategories, tasteCount);
    const others = catalogue.subcategories.filter((s) => !tastes.includes(s));
    const unordered: Array<Omit<SimulatedEvent, 'eventId' | 'offsetMs'>> = [];
    const heldOut: string[] = [];
    for (const taste of tastes) {
      const chosen = random.sample(itemsOf(taste), POSITIVES_PER_TASTE + SIMULATION.heldOutPerTaste);
      const types = random.shuffle([
        ...Array<SimulatedEventType>(SIMULATION.likesPerTaste).fill('like'),
        ...Array<SimulatedEventType>(SIMULATION.purchasesPerTaste).fill('purchase'),
      ]);
      chosen.slice(0, POSITIVES_PER_TASTE).forEach((itemId, i) => {
        unordered.push({ itemId, type: types[i] as SimulatedEventType });
      });
      heldOut.push(...chosen.slice(POSITIVES_PER_TASTE));
    }
    const viewed = random.sample(others, SIMULATION.noiseViews).map((s) => random.pick(itemsOf(s)));
    for (const itemId of viewed) unordered.push({ itemId, type: 'view' });
    for (let d = 0; d < SIMULATION.dislikes; d++) {
      const candidates = itemsOf(random.pick(others)).filter((id) => !viewed.includes(id));
      unordered.push({ itemId: random.pick(candidates), type: 'dislike' });
    }
    // Random order, then sorted random times: the tastes and the noise interleave.
    const offsets = unordered
      .map(() => Math.floor(random.next() * (historyMs - DAY_MS / 24)))
      .sort((a, b) => a - b);
    for (let i = 1; i < offsets.length; i++)
      offsets[i] = Math.max(offsets[i] as number, (offsets[i - 1] as number) + 1);
    const events = random.shuffle(unordered).map((event, i) => ({
      ...event,
      eventId: `${userId}-e${String(i).padStart(2, '0')}`,
      offsetMs: offsets[i] as number,
    }));
    users.push({ userId, tastes, events, heldOut });
  }
  return users;
}

/**
 * SHA-256 (16 hex digits) of the catalogue split, the users, their events and held-out items: two
 * runs with the same digest replayed the same users. Item ids and labels, not file paths, so the
 * digest is the same in any checkout.
 */
export function simulationDigest(catalogue: Catalogue, users: readonly SimulatedUser[]): string {
  const split = (images: readonly CatalogueImage[]) => images.map((i) => [i.itemId, i.subcategory]);
  const simulated = { ...catalogue, warm: split(catalogue.warm), cold: split(catalogue.cold), users };
  return createHash('sha256').update(JSON.stringify(simulated)).digest('hex').slice(0, 16);
}

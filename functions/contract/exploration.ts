/**
 * Exploration settings: shared by the recommend function (which reads them from EXPLORATION), the
 * stack (its `exploration` prop, checked at synth) and the local twin.
 */
import * as z from 'zod';
import { PLACEMENT_NAME } from './placements';

/**
 * Exploration: a share of each list's slots goes to new items that have been shown little, chosen
 * by how much they look like what the list is about (the user's tastes, the item shown). Known items
 * keep the other slots; a new item good enough to win an ordinary slot takes one as usual.
 */
export interface ExplorationSettings {
  /** Share of a list's slots (rounded to the nearest slot) reserved for new items; 0 turns it off. */
  share: number;
  /** Items published (or first uploaded) less than this many days ago are new. */
  maxAgeDays: number;
  /** New items shown more than this often (impressions decayed to now) compete like any other. */
  maxImpressions: number;
  /**
   * Least relevance an exploration pick needs, on the scale of the list's own scores (1 = as good as
   * the best candidate): a new item that looks like nothing the user likes is not shown to them.
   */
  minRelevance: number;
  /**
   * What `minRelevance` is a share of: `best`, the list's best score; `displaced`, the score of the
   * organic item the pick would push out of the list (the best pick against the last organic item,
   * the next against the one before it), so a new item is shown when it is nearly as good as what it
   * replaces.
   */
  floor: ExplorationFloor;
}

export type ExplorationFloor = 'best' | 'displaced';

/**
 * Chosen on the evaluation's tuning run (docs/evaluation.md, "Tuning"): of the settings whose
 * cold-item hit rate reaches the mean vector's, the one that costs known items the least recall.
 */
export const DEFAULT_EXPLORATION: ExplorationSettings = {
  share: 0.1,
  maxAgeDays: 14,
  maxImpressions: 1000,
  minRelevance: 0.825,
  floor: 'displaced',
};

const settingsShape = {
  share: z.number().min(0).max(1),
  maxAgeDays: z.number().positive().max(3650),
  maxImpressions: z.number().min(0),
  minRelevance: z.number().min(0).max(1),
  floor: z.enum(['best', 'displaced']),
};

/**
 * The EXPLORATION variable and the stack prop: defaults for every list, and per placement (a
 * placement's settings start from the defaults). `{ "share": 0 }` turns exploration off.
 */
export const ExplorationConfigSchema = z
  .strictObject({
    ...z.strictObject(settingsShape).partial().shape,
    placements: z
      .record(
        z.string().regex(PLACEMENT_NAME, 'placement names are lower-case letters, digits, - and _'),
        z.strictObject(settingsShape).partial(),
      )
      .optional(),
  })
  .transform(({ placements, ...defaults }): ExplorationConfig => {
    const base = { ...DEFAULT_EXPLORATION, ...defaults };
    return {
      default: base,
      ...(placements
        ? {
            placements: Object.fromEntries(
              Object.entries(placements).map(([name, settings]) => [name, { ...base, ...settings }]),
            ),
          }
        : {}),
    };
  });

export type ExplorationConfigInput = z.input<typeof ExplorationConfigSchema>;

export interface ExplorationConfig {
  default: ExplorationSettings;
  placements?: Readonly<Record<string, ExplorationSettings>>;
}

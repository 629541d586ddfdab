/**
 * Named placements: where on the site a list is shown. Shared by the recommend function (which reads
 * them from PLACEMENTS), the stack (its `placements` prop, checked at synth) and the local twin.
 */
import * as z from 'zod';

/** A placement's name: lower-case letters, digits, `-` and `_`, at most 64. */
export const PLACEMENT_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** A placement's own defaults for the lists shown there; a request's parameters override them. */
export interface PlacementDefaults {
  /** Items per list when the request gives no `limit`. @default 10 */
  limit?: number;
  /** MMR's relevance-diversity trade-off on the placement's personal lists (1: relevance only). */
  mmrLambda?: number;
  /**
   * Whether filters are strict when the request does not say (`strict`): false fills a list with
   * fewer matching items than its limit from the best others, each labelled. @default true
   */
  strict?: boolean;
}

export type PlacementsConfig = Readonly<Record<string, PlacementDefaults>>;

/** The placements a stack accepts unless its `placements` prop names others. */
export const DEFAULT_PLACEMENTS: PlacementsConfig = {
  home: {},
  product: {},
  category: {},
  cart: {},
  checkout: {},
  account: {},
  search: {},
  email: {},
};

/** Items per list when neither the request nor its placement says. */
export const DEFAULT_LIST_LIMIT = 10;

/** The PLACEMENTS variable and the stack prop: every accepted placement, with its defaults. */
export const PlacementsConfigSchema = z
  .record(
    z
      .string()
      .regex(
        PLACEMENT_NAME,
        'placement names are 1..64 of a-z, 0-9, - and _, starting with a letter or digit',
      ),
    z.strictObject({
      limit: z.number().int().min(1).max(100).optional(),
      mmrLambda: z.number().min(0).max(1).optional(),
      strict: z.boolean().optional(),
    }),
  )
  .refine((placements) => Object.keys(placements).length > 0, 'name at least one placement')
  .refine((placements) => Object.keys(placements).length <= 100, 'at most 100 placements');

export type PlacementsConfigInput = z.input<typeof PlacementsConfigSchema>;

/** Placements an exploration config names that the placements config does not accept. */
export function unknownPlacements(named: Iterable<string>, placements: PlacementsConfig): string[] {
  return [...named].filter((name) => !Object.hasOwn(placements, name));
}

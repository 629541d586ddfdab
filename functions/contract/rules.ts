/**
 * Merchandising rules (issue 20): what an admin may ask of the lists without a deploy. Shared by the
 * track function (which stores them through `/rules`), the recommend function (which applies them),
 * the OpenAPI document and the demo page's admin panel.
 */
import * as z from 'zod';
import { PLACEMENT_NAME } from './placements';

// No lone surrogate: DynamoDB stores U+FFFD in its place (see functions/domain/unicode.ts).
const wellFormed = (value: string) => !/[\uD800-\uDFFF]/u.test(value);

/** Rules a stack keeps at most (active, scheduled and ended alike): every list reads them all. */
export const MAX_RULES = 100;
/** The largest factor a boost multiplies a score by, or a bury divides it by (all rules together too). */
export const MAX_RULE_FACTOR = 10;
/** The largest share of a list's slots one promotion may take; all active promotions together take at most this. */
export const MAX_PROMOTION_SHARE = 0.5;
/** The deepest position a pin may name (1-based): five pages of 20. */
export const MAX_PIN_POSITION = 100;
/** Item ids one condition may name. */
export const MAX_CONDITION_ITEMS = 50;
/** A rule's JSON body at most: 100 rules stay well under Lambda's 6 MB response (GET /rules) and one read. */
export const MAX_RULE_BODY_BYTES = 32 * 1024;
/** An item id's UTF-8 bytes at most, as catalogue keys allow (functions/domain/catalogue-key.ts). */
const MAX_ITEM_ID_BYTES = 512;
/** How long an instance reuses the rules it read before checking the rule set's version. */
export const DEFAULT_RULES_CACHE_MS = 4000;
/** A rule change must be served everywhere within this; the stack refuses a cache TTL above it. */
export const RULES_FRESHNESS_MS = 5000;

/** The lists a rule may apply to: personal (a user with tastes), popular (one without), similar. */
export const RULE_LISTS = ['personal', 'popular', 'similar'] as const;
export type RuleList = (typeof RULE_LISTS)[number];

const label = (max: number) => z.string().min(1).max(max).refine(wellFormed, 'must be well-formed Unicode');

const itemId = z
  .string()
  .min(1)
  .max(MAX_ITEM_ID_BYTES)
  .refine(wellFormed, 'must be well-formed Unicode')
  .refine(
    (value) => Buffer.byteLength(value) <= MAX_ITEM_ID_BYTES,
    `at most ${MAX_ITEM_ID_BYTES} UTF-8 bytes`,
  );

const placementName = z
  .string()
  .regex(PLACEMENT_NAME, 'must be 1..64 of a-z, 0-9, _ and -, starting with a letter or digit');

/** Which items a boost, bury or promotion is about: every part given must hold (values within a part: any). */
export const RuleConditionSchema = z
  .strictObject({
    itemIds: z.array(itemId).min(1).max(MAX_CONDITION_ITEMS).optional(),
    categories: z.array(label(128)).min(1).max(20).optional(),
    tags: z.array(label(64)).min(1).max(20).optional(),
    minPrice: z.number().min(0).max(1e12).optional(),
    maxPrice: z.number().min(0).max(1e12).optional(),
    /** Items published (first uploaded) within this many days. */
    newerThanDays: z.number().positive().max(3650).optional(),
  })
  .refine(
    (c) => Object.values(c).some((value) => value !== undefined),
    'name at least one of itemIds, categories, tags, minPrice, maxPrice, newerThanDays',
  )
  .refine(
    (c) => c.minPrice === undefined || c.maxPrice === undefined || c.minPrice <= c.maxPrice,
    'minPrice is above maxPrice',
  );
export type RuleCondition = z.output<typeof RuleConditionSchema>;

const isoTime = z.iso.datetime({ offset: true });

const common = {
  /** What the merchant calls it (shown in the admin panel). */
  name: label(200),
  /** The placements it applies to; `*` is every placement, and lists that name none. */
  placements: z
    .array(z.union([placementName, z.literal('*')]))
    .min(1)
    .max(100),
  /** The lists it applies to. @default ['personal', 'popular'] (similar only when named) */
  lists: z.array(z.enum(RULE_LISTS)).min(1).max(3).optional(),
  /** In effect from (ISO 8601); absent: from now. */
  startsAt: isoTime.optional(),
  /** In effect until, exclusive (ISO 8601); absent: until deleted or ended. */
  endsAt: isoTime.optional(),
};

const factor = z.number().gt(1).max(MAX_RULE_FACTOR);

/** The four kinds of rule, each with `extra` fields (the version an update replaces). */
export const ruleSchemaWith = <E extends z.ZodRawShape>(extra: E) =>
  z
    .discriminatedUnion('kind', [
      z.strictObject({
        ...common,
        ...extra,
        /** Multiplies matching items' scores by `factor` (a negative score is divided by it). */
        kind: z.literal('boost'),
        condition: RuleConditionSchema,
        factor,
      }),
      z.strictObject({
        ...common,
        ...extra,
        /** Divides matching items' scores by `factor` (a negative score is multiplied by it). */
        kind: z.literal('bury'),
        condition: RuleConditionSchema,
        factor,
      }),
      z.strictObject({
        ...common,
        ...extra,
        /** Puts `itemId` at `position` (1-based) of the whole list (pages continue it), and nowhere else. */
        kind: z.literal('pin'),
        itemId,
        position: z.number().int().min(1).max(MAX_PIN_POSITION),
      }),
      z.strictObject({
        ...common,
        ...extra,
        /** Gives `share` of the slots to the best items, for this user, that match `condition`. */
        kind: z.literal('promote'),
        condition: RuleConditionSchema,
        share: z.number().gt(0).max(MAX_PROMOTION_SHARE),
      }),
    ])
    .refine(
      (parsed) => {
        const { startsAt, endsAt } = parsed as { startsAt?: string; endsAt?: string };
        return !startsAt || !endsAt || Date.parse(startsAt) < Date.parse(endsAt);
      },
      { message: 'endsAt must be after startsAt', path: ['endsAt'] },
    );

/** A rule as an admin writes it (POST /rules). */
export const RuleDefinitionSchema = ruleSchemaWith({});
export type RuleDefinition = z.output<typeof RuleDefinitionSchema>;

/** PUT /rules/{ruleId}: the whole new definition and the version it replaces (else 409 version_conflict). */
export const RuleUpdateSchema = ruleSchemaWith({ version: z.number().int().min(1) });

/** A stored rule: its definition, id and version (1 when created, +1 per update). */
export type Rule = RuleDefinition & {
  ruleId: string;
  version: number;
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
};

/** The rule ids the API hands out (and accepts in paths): `r-` and 22 base64url characters. */
export const RULE_ID = /^r-[A-Za-z0-9_-]{22}$/;

/** Whether a rule is in effect at `now` (epoch ms). */
export function ruleStatus(
  rule: Pick<Rule, 'startsAt' | 'endsAt'>,
  now: number,
): 'active' | 'scheduled' | 'ended' {
  if (rule.startsAt !== undefined && now < Date.parse(rule.startsAt)) return 'scheduled';
  if (rule.endsAt !== undefined && now >= Date.parse(rule.endsAt)) return 'ended';
  return 'active';
}

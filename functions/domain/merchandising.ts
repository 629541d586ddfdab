/**
 * Merchandising rules applied to a list (issue 20): boosts and buries scale matching items' scores,
 * promotions take a share of the slots for the best matching items, and pins put an item at a
 * position of the whole list. The rules are data (functions/contract/rules.ts); this is what they do.
 */
import {
  MAX_PROMOTION_SHARE,
  MAX_RULE_FACTOR,
  type Rule,
  type RuleCondition,
  type RuleList,
} from '../contract/rules';
import type { ItemAttributes, VectorIndex } from '../vector-index';

const DAY_MS = 86_400_000;
/** `newerThanDays` is read to the minute: a rule's matching items are computed once a minute at most. */
const MATCH_BUCKET_MS = 60_000;

/** Whether an item matches a rule's condition: every part given holds (any value within a part). */
export type ItemMatcher = (itemId: string, attributes: ItemAttributes) => boolean;

export interface ScoreRule {
  ruleId: string;
  kind: 'boost' | 'bury';
  factor: number;
  matches: ItemMatcher;
}

export interface PinRule {
  ruleId: string;
  itemId: string;
  /** 0-based. */
  slot: number;
}

export interface PromotionRule {
  ruleId: string;
  /** The rule at its version and the day it was compiled on: what `matchingItems` caches under. */
  key: string;
  share: number;
  matches: ItemMatcher;
}

/** The rules in effect for one list, compiled. */
export interface ListRules {
  scores: ScoreRule[];
  /** By slot, then by age (the older rule keeps a contested slot; the younger takes the next free one). */
  pins: PinRule[];
  promotions: PromotionRule[];
}

/** Where a list is served: the rules that name its placement (or `*`) and its kind apply. */
export interface ListContext {
  placement: string;
  list: RuleList;
  now: number;
}

export function conditionMatcher(condition: RuleCondition, now: number): ItemMatcher {
  const ids = condition.itemIds ? new Set(condition.itemIds) : undefined;
  const categories = condition.categories ? new Set(condition.categories) : undefined;
  const tags = condition.tags;
  const { minPrice, maxPrice } = condition;
  const newerThan =
    condition.newerThanDays === undefined ? undefined : now - condition.newerThanDays * DAY_MS;
  return (itemId, attributes) => {
    if (ids && !ids.has(itemId)) return false;
    if (categories && (attributes.category === undefined || !categories.has(attributes.category)))
      return false;
    if (tags && !tags.some((tag) => attributes.tags?.includes(tag))) return false;
    if (minPrice !== undefined && !(attributes.price !== undefined && attributes.price >= minPrice))
      return false;
    if (maxPrice !== undefined && !(attributes.price !== undefined && attributes.price <= maxPrice))
      return false;
    if (
      newerThan !== undefined &&
      !(attributes.publishedAt !== undefined && attributes.publishedAt > newerThan)
    )
      return false;
    return true;
  };
}

const DEFAULT_LISTS: readonly RuleList[] = ['personal', 'popular'];

/** Whether a rule is in effect for this list now: its window, its placements and its lists. */
export function appliesTo(rule: Rule, context: ListContext): boolean {
  if (rule.startsAt !== undefined && context.now < Date.parse(rule.startsAt)) return false;
  if (rule.endsAt !== undefined && context.now >= Date.parse(rule.endsAt)) return false;
  if (!rule.placements.includes('*') && !rule.placements.includes(context.placement)) return false;
  return (rule.lists ?? DEFAULT_LISTS).includes(context.list);
}

/** The rules in effect for this list, compiled; undefined when none is. */
export function listRules(rules: readonly Rule[], context: ListContext): ListRules | undefined {
  const active = rules.filter((rule) => appliesTo(rule, context));
  if (active.length === 0) return undefined;
  const compiled: ListRules = { scores: [], pins: [], promotions: [] };
  // Oldest first: an older rule keeps a contested slot, and promotions are placed in this order.
  const ordered = [...active].sort((a, b) => a.createdAt - b.createdAt || (a.ruleId < b.ruleId ? -1 : 1));
  let promoted = 0;
  for (const rule of ordered) {
    switch (rule.kind) {
      case 'boost':
      case 'bury':
        compiled.scores.push({
          ruleId: rule.ruleId,
          kind: rule.kind,
          factor: rule.factor,
          matches: conditionMatcher(rule.condition, context.now),
        });
        break;
      case 'pin':
        compiled.pins.push({ ruleId: rule.ruleId, itemId: rule.itemId, slot: rule.position - 1 });
        break;
      case 'promote': {
        // Promotions together take at most MAX_PROMOTION_SHARE of a list: a younger one gets what is left.
        const share = Math.min(rule.share, MAX_PROMOTION_SHARE - promoted);
        if (share <= 1e-9) break;
        promoted += share;
        compiled.promotions.push({
          ruleId: rule.ruleId,
          key: `${rule.ruleId}@${rule.version}/${Math.floor(context.now / MATCH_BUCKET_MS)}`,
          share,
          matches: conditionMatcher(rule.condition, context.now),
        });
        break;
      }
    }
  }
  compiled.pins.sort((a, b) => a.slot - b.slot);
  return compiled;
}

/** What the boosts and buries do to one item: the factor (within 1/10..10 together) and the rules. */
export interface ScoreAdjustment {
  factor: number;
  ruleIds: string[];
}

export function scoreAdjustment(
  rules: ListRules | undefined,
  itemId: string,
  attributes: ItemAttributes | undefined,
): ScoreAdjustment | undefined {
  if (!rules || rules.scores.length === 0 || !attributes) return undefined;
  let factor = 1;
  const ruleIds: string[] = [];
  for (const rule of rules.scores) {
    if (!rule.matches(itemId, attributes)) continue;
    factor = rule.kind === 'boost' ? factor * rule.factor : factor / rule.factor;
    ruleIds.push(rule.ruleId);
  }
  if (ruleIds.length === 0) return undefined;
  return { factor: Math.min(MAX_RULE_FACTOR, Math.max(1 / MAX_RULE_FACTOR, factor)), ruleIds };
}

/** A score scaled by a factor: a boost (factor > 1) always raises it, a bury always lowers it, whatever its sign. */
export const scaledScore = (score: number, factor: number): number =>
  score >= 0 ? score * factor : score / factor;

/** Whether any boost (not bury) rule is in effect: boosted items may need fetching beyond the usual candidates. */
export function boostMatcher(rules: ListRules | undefined): ItemMatcher | undefined {
  const boosts = rules?.scores.filter((rule) => rule.kind === 'boost') ?? [];
  if (boosts.length === 0) return undefined;
  return (itemId, attributes) => boosts.some((rule) => rule.matches(itemId, attributes));
}

/**
 * The list with its pinned items at their slots: each pinned item that may be shown (`eligible`) is
 * taken out of wherever the ranking put it and placed at its slot (a slot already taken by an older
 * pin: the next free one). The list is `depth` long at most; where it has fewer items than a pin's
 * slot, the pin closes it. Nothing depends on `depth` but where the list stops, so a list is the
 * start of any longer one, and pages continue it.
 */
export function applyPins<T extends { itemId: string }>(
  ranked: readonly T[],
  pins: readonly PinRule[],
  eligible: (itemId: string) => boolean,
  pinned: (pin: PinRule) => T,
  depth: number,
): T[] {
  const bySlot = new Map<number, PinRule>();
  const pinnedIds = new Set<string>();
  for (const pin of pins) {
    if (pinnedIds.has(pin.itemId) || !eligible(pin.itemId)) continue;
    let slot = pin.slot;
    while (bySlot.has(slot)) slot++;
    bySlot.set(slot, pin);
    pinnedIds.add(pin.itemId);
  }
  if (bySlot.size === 0) return ranked.slice(0, depth);
  const rest = ranked.filter((item) => !pinnedIds.has(item.itemId));
  const list: T[] = [];
  let next = 0;
  for (let slot = 0; list.length < depth; slot++) {
    const pin = bySlot.get(slot);
    if (pin) {
      list.push(pinned(pin));
      bySlot.delete(slot);
    } else if (next < rest.length) list.push(rest[next++] as T);
    else break;
  }
  // The ranking ran out before these pins' slots: they close the list, in slot order.
  for (const slot of [...bySlot.keys()].sort((a, b) => a - b)) {
    if (list.length >= depth) break;
    list.push(pinned(bySlot.get(slot) as PinRule));
  }
  return list;
}

/** The most matching items `matchingItems` keeps per rule: a broader rule is searched for instead. */
export const MAX_CACHED_MATCHES = 1000;

/** A rule's matching items and their vectors, packed (row i of `vectors` is `itemIds[i]`'s). */
export interface MatchingItems {
  itemIds: string[];
  vectors: Float32Array;
}

interface Matches {
  generation: number;
  byKey: Map<string, MatchingItems | undefined>;
}
const matchesByIndex = new WeakMap<VectorIndex, Matches>();

/**
 * The items of `index` a rule matches, with their vectors (its `key` names the rule, its version and
 * the minute), or undefined when more than MAX_CACHED_MATCHES do. Computed once per index generation
 * and key, so a narrow promotion costs each request a look at its own items, not a pass over the
 * catalogue.
 */
export function matchingItems(
  index: VectorIndex,
  key: string,
  matches: ItemMatcher,
): MatchingItems | undefined {
  let cached = matchesByIndex.get(index);
  if (!cached || cached.generation !== index.generation) {
    cached = { generation: index.generation, byKey: new Map() };
    matchesByIndex.set(index, cached);
  }
  if (cached.byKey.has(key)) return cached.byKey.get(key);
  const itemIds: string[] = [];
  for (const itemId of index.ids()) {
    const attributes = index.attributes(itemId);
    if (!attributes || !matches(itemId, attributes)) continue;
    itemIds.push(itemId);
    if (itemIds.length > MAX_CACHED_MATCHES) break;
  }
  let result: MatchingItems | undefined;
  if (itemIds.length <= MAX_CACHED_MATCHES) {
    const vectors = new Float32Array(itemIds.length * index.dim);
    itemIds.forEach((itemId, i) => {
      vectors.set(index.vector(itemId) as Float32Array, i * index.dim);
    });
    result = { itemIds, vectors };
  }
  // Old keys (rule versions, minutes) leave with the next generation; bound them meanwhile.
  if (cached.byKey.size > 1000) cached.byKey.clear();
  cached.byKey.set(key, result);
  return result;
}

import type { EventType } from './interest-profile';
import type { RankedItem } from './ranking';

/**
 * "Goes with this" (issue 22): items bought or put in a cart together with an item. Both events
 * count as a basket: an add_to_cart says as much about what goes together as the purchase after it.
 */
export const BASKET_TYPES: ReadonlySet<EventType> = new Set(['add_to_cart', 'purchase']);

/** Above this cosine to the item shown, an item is a near-duplicate (a recolour, a reshoot): never a complement. */
export const NEAR_DUPLICATE_COSINE = 0.95;

export interface BasketPolicy {
  /** How far back a user's earlier basket events pair with a new one. */
  windowMs: number;
  /** The most earlier basket items one basket event pairs with (each pair costs six counter updates). */
  fanout: number;
}

export const DEFAULT_BASKET_POLICY: BasketPolicy = { windowMs: 30 * 86_400_000, fanout: 5 };

/** A user's basket event as the Events table holds it (see StoredEvent). */
export interface BasketEvent {
  eventId: string;
  itemId: string;
  at: number;
  epoch?: number;
  category?: string;
}

/** Strictly before in the user's history: by time, then by event id, so two events never both pair with each other. */
const before = (a: BasketEvent, b: BasketEvent) => a.at < b.at || (a.at === b.at && a.eventId < b.eventId);

/**
 * The earlier basket items `event` pairs with: the user's basket events of the same epoch (an erasure
 * starts a new one) strictly before it and within the window, most recent first, one per item, never
 * its own item. Each pair is thus formed once, by the later of its two events, whichever order the
 * stream delivers them in.
 */
export function basketPartners(
  event: BasketEvent,
  history: readonly BasketEvent[],
  policy: BasketPolicy = DEFAULT_BASKET_POLICY,
): BasketEvent[] {
  const epoch = event.epoch ?? 0;
  const earlier = history
    .filter(
      (other) =>
        (other.epoch ?? 0) === epoch &&
        before(other, event) &&
        event.at - other.at <= policy.windowMs &&
        other.itemId !== event.itemId,
    )
    .sort((a, b) => b.at - a.at || (a.eventId < b.eventId ? 1 : -1));
  const partners = new Map<string, BasketEvent>();
  for (const other of earlier) {
    if (partners.size === policy.fanout) break;
    if (!partners.has(other.itemId)) partners.set(other.itemId, other);
  }
  return [...partners.values()];
}

/** A category bought with the item's, and its best items near what those buyers chose in it. */
export interface CategoryFallback {
  category: string;
  /**
   * Best first; `score` is how close each is to the items of that category bought with the item's
   * category (the sharpened cosine to each, weighted by how often it was chosen).
   */
  items: ReadonlyArray<{ itemId: string; score: number }>;
}

/**
 * The complements of `itemId`, best first, at most `limit`: the items co-purchased with it (by their
 * decayed counts; `score` is each one's share of them), then, to fill the list, the fallback's
 * categories taken in turn (most bought with the item's category first). `eligible` keeps the item
 * itself, its near-duplicates, unavailable items and (by default) its own category out.
 */
export function complementList(
  itemId: string,
  coPurchased: ReadonlyMap<string, number>,
  fallback: readonly CategoryFallback[],
  limit: number,
  eligible: (candidate: string) => boolean,
): RankedItem[] {
  const listed = new Set<string>([itemId]);
  const ranked: RankedItem[] = [];
  const kept = [...coPurchased]
    .filter(([candidate, weight]) => weight > 0 && !listed.has(candidate) && eligible(candidate))
    .sort(([a, wa], [b, wb]) => wb - wa || (a < b ? -1 : 1));
  const total = kept.reduce((sum, [, weight]) => sum + weight, 0);
  for (const [candidate, weight] of kept) {
    if (ranked.length === limit) return ranked;
    listed.add(candidate);
    ranked.push({ itemId: candidate, score: weight / total, reason: { kind: 'co_purchased', itemId } });
  }
  const queues = fallback.map(({ category, items }) => ({ category, items: [...items] }));
  while (ranked.length < limit && queues.some((queue) => queue.items.length > 0)) {
    for (const queue of queues) {
      if (ranked.length === limit) break;
      let next = queue.items.shift();
      while (next && (listed.has(next.itemId) || !eligible(next.itemId))) next = queue.items.shift();
      if (!next) continue;
      listed.add(next.itemId);
      ranked.push({
        itemId: next.itemId,
        score: next.score,
        reason: { kind: 'bought_with_category', category: queue.category },
      });
    }
  }
  return ranked;
}

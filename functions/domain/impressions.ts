import { randomBytes } from 'node:crypto';
import { IMPRESSION_DAY_SHARDS } from '../contract/storage';
import type { StoredPage } from './paging';

/**
 * Impressions (issue 21): what was shown to whom, one record per list served. Recommendation ids are
 * UUIDv7 (RFC 9562): their first 48 bits are the time in ms, so ids sort by when they were made.
 */

/** The strategies a list is served by. */
export const STRATEGIES = [
  'personal',
  'popular',
  'similar_item',
  'similar_image',
  'complements',
  'trending',
] as const;
export type Strategy = (typeof STRATEGIES)[number];

/**
 * Why an item is in a list: ranked (`organic`), given an exploration slot, or placed by a
 * merchandising rule (a pin, a promotion's slot): attribution reports each source apart.
 */
export type ImpressionSource = 'organic' | 'exploration' | 'pinned' | 'promoted';

/** The reason kind that marks an exploration slot (see functions/domain/ranking.ts). */
export const EXPLORATION_REASON = 'exploration';

export interface ImpressionItem {
  itemId: string;
  /** 1-based. */
  position: number;
  source: ImpressionSource;
  /** The merchandising rules that placed the item (pin, promotion) or scaled its score (boost, bury). */
  rules?: string[];
}

export interface Impression {
  recommendationId: string;
  /** Undefined for a list served without a user (an IAM caller's similar or search). */
  userId?: string;
  placement: string;
  strategy: Strategy;
  modelId: string;
  /** ms */
  servedAt: number;
  items: ImpressionItem[];
  /** When the list has a next page: what its `nextToken` is checked against (see functions/domain/paging.ts). */
  paging?: StoredPage;
}

/** Days an impression is kept unless configured (IMPRESSION_TTL_DAYS, the stack's `impressionTtlDays`). */
export const DEFAULT_IMPRESSION_TTL_DAYS = 30;

/** The items of a list as recorded, positions from 1, in the order served. */
export function impressionItems(
  items: ReadonlyArray<{
    itemId: string;
    reason: { kind: string; ruleId?: string; rules?: readonly string[] };
  }>,
  /** Items shown on earlier pages of the same list: positions continue from there. */
  offset = 0,
): ImpressionItem[] {
  return items.map((item, i) => {
    const { kind, ruleId, rules } = item.reason;
    const source: ImpressionSource =
      kind === EXPLORATION_REASON
        ? 'exploration'
        : kind === 'pinned' || kind === 'promoted'
          ? kind
          : 'organic';
    const ruleIds = [...(ruleId ? [ruleId] : []), ...(rules ?? [])];
    return {
      itemId: item.itemId,
      position: offset + i + 1,
      source,
      ...(ruleIds.length > 0 ? { rules: ruleIds } : {}),
    };
  });
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export const isUuidV7 = (id: string): boolean => UUID_V7.test(id);

/** The time (ms) a UUIDv7 was made at. */
export const uuidV7Time = (id: string): number => Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

/**
 * UUIDv7 generator, monotonic within a process: ids made in the same millisecond take the next
 * value of a 12-bit counter (RFC 9562, method 1) that starts at a random point below 2048, and a
 * clock that goes back keeps the last time, so each id sorts after the one before it.
 */
export function uuidV7Generator(random: (bytes: number) => Uint8Array = randomBytes) {
  let lastMs = -1;
  let counter = 0;
  const hex = (value: number, digits: number) => value.toString(16).padStart(digits, '0');
  return (now: number = Date.now()): string => {
    const bytes = random(10);
    const byte = (i: number) => bytes[i] ?? 0;
    let ms = Math.max(Math.floor(now), lastMs);
    if (ms === lastMs) counter += 1;
    if (ms !== lastMs || counter > 0xfff) {
      if (counter > 0xfff) ms += 1;
      counter = ((byte(0) << 8) | byte(1)) & 0x7ff;
    }
    lastMs = ms;
    const time = hex(ms, 12);
    const variant = hex(0x8000 | (((byte(2) << 8) | byte(3)) & 0x3fff), 4);
    const tail = Buffer.from(bytes.subarray(4, 10)).toString('hex');
    return `${time.slice(0, 8)}-${time.slice(8)}-7${hex(counter, 3)}-${variant}-${tail}`;
  };
}

/** The process's generator of recommendation ids. */
export const newRecommendationId = uuidV7Generator();

/**
 * The `byDay` index key of a list: its UTC day and a shard from the id's last hex digit (random
 * bits), so one day's lists spread over IMPRESSION_DAY_SHARDS partitions.
 */
export function impressionDayKey(recommendationId: string, servedAt: number): string {
  const shard = Number.parseInt(recommendationId.slice(-1), 16) % IMPRESSION_DAY_SHARDS;
  return `${new Date(servedAt).toISOString().slice(0, 10)}#${shard}`;
}

/** The partition of a list served without a user: its own, so anonymous traffic spreads. */
export const anonymousImpressionKey = (recommendationId: string) => `anonymous#${recommendationId}`;

/**
 * Half-life of an impression's weight in the per-item counts, in days: popularity's default. Counts
 * are kept in the frame popularity uses (weight 2^((servedAt - epoch) / half-life)); a reader
 * multiplies by `impressionDecay` to get impressions decayed to now. The SDK writes numbers only up
 * to 2^53 (Number.MAX_SAFE_INTEGER): frame weights reach it 53 half-lives after the epoch (with the
 * default epoch, 2025-01-01, in May 2029, when popularity's do too), by when the epoch must move. A
 * 7-day half-life would have reached it in January 2026.
 */
export const IMPRESSION_HALF_LIFE_DAYS = 30;

const DAY_MS = 86_400_000;

/** One impression's weight in the counters' frame. */
export const impressionFrameWeight = (servedAt: number, epoch: number): number =>
  2 ** ((servedAt - epoch) / (IMPRESSION_HALF_LIFE_DAYS * DAY_MS));

/** What turns frame weights into impressions decayed to `now`. */
export const impressionDecay = (epoch: number, now: number): number =>
  2 ** ((epoch - now) / (IMPRESSION_HALF_LIFE_DAYS * DAY_MS));

import { LRUCache } from 'lru-cache';
import type { Aggregates } from '../../app/ports';
import type { RecentWeight } from '../../domain/trending';
import { type PopularityCounters, type ProfileStoreReader, sumCoEngagement } from './profile-store';

export interface AggregateCacheOptions {
  /** How long popularity, impressions and co-engagement rows are reused. @default 30 s */
  ttlMs?: number;
  /** Source items whose co-engagement rows are kept at most. @default 10000 */
  maxSources?: number;
}

type CoEngagementRows = Array<{ itemId: string; weight: number }>;

/**
 * Popularity (long- and short-term), impressions and co-engagement for the recommender, reused for a few seconds per process. All are
 * aggregates over every user (never one user's data), move slowly, and are read on every request:
 * without this, a personal list would cost one query per recent item. Concurrent misses for the same
 * key share one read.
 */
export class AggregateCache implements Aggregates {
  private readonly coEngagementRows: LRUCache<string, CoEngagementRows>;
  // Both popularity counters come from one read of the same rows.
  private readonly popularityCache: LRUCache<'all', PopularityCounters>;
  private readonly impressionsCache: LRUCache<'all', Map<string, number>>;
  private readonly ttl: number;

  constructor(
    store: Pick<ProfileStoreReader, 'popularityCounters' | 'impressions' | 'coEngagementFrom'>,
    options: AggregateCacheOptions = {},
  ) {
    const ttl = Math.max(1, options.ttlMs ?? 30_000);
    this.ttl = ttl;
    this.coEngagementRows = new LRUCache({
      max: options.maxSources ?? 10_000,
      ttl,
      fetchMethod: (itemId) => store.coEngagementFrom(itemId),
    });
    this.popularityCache = new LRUCache({ max: 1, ttl, fetchMethod: () => store.popularityCounters() });
    this.impressionsCache = new LRUCache({ max: 1, ttl, fetchMethod: () => store.impressions() });
  }

  /** Frame-weighted impressions of every item shown (not yet decayed to now): one read per TTL. */
  async impressions(): Promise<Map<string, number>> {
    return (await this.impressionsCache.fetch('all')) ?? new Map();
  }

  /** Frame-weighted popularity of every item with any (not yet decayed to now). */
  async popularity(): Promise<Map<string, number>> {
    return (await this.popularityCache.fetch('all'))?.popularity ?? new Map();
  }

  /** Short-term popularity by frame (not yet decayed to now), from the same read as `popularity`. */
  async recentPopularity(): Promise<Map<string, RecentWeight[]>> {
    return (await this.popularityCache.fetch('all'))?.recent ?? new Map();
  }

  /**
   * Co-engagement from `itemIds` to other items, summed per target (see ProfileStoreReader.coEngagement).
   * Each source's rows live between half the TTL and the TTL, at random: rows read together (a
   * warm-up, a burst of users) do not all expire in the same instant and stall the requests then.
   */
  async coEngagement(itemIds: string[]): Promise<Map<string, number>> {
    const sources = [...new Set(itemIds)];
    const rows = await Promise.all(
      sources.map(
        async (itemId) => (await this.coEngagementRows.fetch(itemId, { ttl: jitteredTtl(this.ttl) })) ?? [],
      ),
    );
    return sumCoEngagement(sources, rows);
  }
}

/** Somewhere between half of `ttl` and all of it (at least 1 ms). */
export function jitteredTtl(ttl: number): number {
  return Math.max(1, Math.round(ttl * (0.5 + 0.5 * Math.random())));
}

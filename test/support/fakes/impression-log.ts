/**
 * The ImpressionLog and ImpressionEraser ports in memory: the lists recorded, by user (or the
 * anonymous key), as the Impressions table holds them. `failWith` makes every write fail.
 */
import type { ImpressionEraser, ImpressionHistory, ImpressionLog } from '../../../functions/app/ports';
import { anonymousImpressionKey, type Impression } from '../../../functions/domain/impressions';
import type { StoredPage } from '../../../functions/domain/paging';

export class InMemoryImpressionLog implements ImpressionLog, ImpressionEraser, ImpressionHistory {
  readonly recorded: Impression[] = [];
  failWith: Error | undefined;

  async record(impression: Impression): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.recorded.push(structuredClone(impression));
  }

  async page(viewer: string | undefined, recommendationId: string): Promise<StoredPage | undefined> {
    const found = this.recorded.find(
      (impression) => impression.recommendationId === recommendationId && impression.userId === viewer,
    );
    return found?.paging && structuredClone(found.paging);
  }

  async recentItems(userId: string, lists: number): Promise<Set<string>> {
    // Newest first by id (UUIDv7 ids sort by time), as the table's sort key orders them.
    const latest = this.recorded
      .filter((impression) => impression.userId === userId)
      .sort((a, b) => (a.recommendationId < b.recommendationId ? 1 : -1))
      .slice(0, Math.max(0, lists));
    return new Set(latest.flatMap((impression) => impression.items.map((item) => item.itemId)));
  }

  async eraseUser(userId: string): Promise<number> {
    const before = this.recorded.length;
    const kept = this.recorded.filter((impression) => impression.userId !== userId);
    this.recorded.splice(0, this.recorded.length, ...kept);
    return before - kept.length;
  }

  /** The partition key the adapter files an impression under. */
  static partitionOf(impression: Impression): string {
    return impression.userId ?? anonymousImpressionKey(impression.recommendationId);
  }
}

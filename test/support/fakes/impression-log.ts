/**
 * The ImpressionLog and ImpressionEraser ports in memory: the lists recorded, by user (or the
 * anonymous key), as the Impressions table holds them. `failWith` makes every write fail.
 */
import type { ImpressionEraser, ImpressionLog } from '../../../functions/app/ports';
import { anonymousImpressionKey, type Impression } from '../../../functions/domain/impressions';

export class InMemoryImpressionLog implements ImpressionLog, ImpressionEraser {
  readonly recorded: Impression[] = [];
  failWith: Error | undefined;

  async record(impression: Impression): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.recorded.push(structuredClone(impression));
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

/**
 * The DailyMetrics port in memory: attribution's daily rows, as the Stats table holds them, and the
 * days each read asked for (so a test sees that the route reads daily rows, one day at a time).
 */
import type { DailyMetricRow, DailyMetrics } from '../../../functions/app/ports';

export class InMemoryDailyMetrics implements DailyMetrics {
  readonly rows: DailyMetricRow[] = [];
  readonly reads: string[][] = [];

  async dailyRows(days: readonly string[]): Promise<DailyMetricRow[]> {
    this.reads.push([...days]);
    const wanted = new Set(days);
    return structuredClone(this.rows.filter((row) => wanted.has(row.day)));
  }
}

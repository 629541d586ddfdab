import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { CellCounts, CellKey } from '../domain/attribution';

/** What a batch of attribution counted (see AttributionCounters), as the metrics see it. */
export interface AttributionCounted {
  cells: Array<{ cell: Omit<CellKey, 'day'>; counts: Partial<CellCounts> }>;
  organic: number;
  unattributed: number;
}

const METRIC_OF: Record<keyof CellCounts, string> = {
  impressions: 'attributed_impressions',
  clicks: 'attributed_clicks',
  carts: 'attributed_add_to_carts',
  purchases: 'attributed_purchases',
  revenue: 'attributed_revenue',
};

/**
 * Attribution's CloudWatch metrics (EMF, issue 25): per placement, strategy and source, a metric
 * set each. The dimensions are bounded: placements are the stack's (recommend refuses others before
 * a list is recorded), strategies and sources are the domain's enumerations. Organic and
 * unattributed events are counted without dimensions.
 */
export function publishAttribution(counted: AttributionCounted, metrics: Metrics): void {
  const merged = new Map<string, { cell: Omit<CellKey, 'day'>; counts: CellCounts }>();
  for (const { cell, counts } of counted.cells) {
    const key = `${cell.placement}#${cell.strategy}#${cell.source}`;
    const entry = merged.get(key) ?? {
      cell,
      counts: { impressions: 0, clicks: 0, carts: 0, purchases: 0, revenue: 0 },
    };
    for (const name of Object.keys(entry.counts) as Array<keyof CellCounts>)
      entry.counts[name] += counts[name] ?? 0;
    merged.set(key, entry);
  }
  for (const { cell, counts } of merged.values())
    for (const name of Object.keys(counts) as Array<keyof CellCounts>) {
      if (!(counts[name] > 0)) continue;
      // A single metric is published (and its dimensions cleared) by its addMetric: one per metric.
      metrics
        .singleMetric()
        .addDimensions({ placement: cell.placement, strategy: cell.strategy, source: cell.source })
        .addMetric(METRIC_OF[name], name === 'revenue' ? MetricUnit.NoUnit : MetricUnit.Count, counts[name]);
    }
  if (counted.organic > 0) metrics.addMetric('organic_events', MetricUnit.Count, counted.organic);
  if (counted.unattributed > 0)
    metrics.addMetric('unattributed_events', MetricUnit.Count, counted.unattributed);
}

import { AttributionCounters } from '../adapters/dynamodb/attribution-counters';
import { ImpressionCounters } from '../adapters/dynamodb/impression-counts';
import { DEFAULT_TRACKING_POLICY } from '../app/track-events';
import { publishAttribution } from '../platform/attribution-metrics';
import { dynamoClient } from '../platform/clients';
import { counterStreamHandler } from '../platform/stream-counters';
import { functionConfig } from '../wiring/environment';

/**
 * The Impressions table's stream consumer: adds each list's items to the per-item impression
 * counts, merged per counter, and to its user's attribution cells (issue 25), each record exactly
 * once in each (see ImpressionCounters, AttributionCounters). Records whose transaction still fails
 * after a few conflicts are reported (partial batch response); the stream mapping retries from the
 * first and, after its retries, sends it to the DLQ.
 */
const { statsTable } = functionConfig('impression-counts');
const counters = new ImpressionCounters(
  dynamoClient(),
  statsTable,
  // Counts are weighed in popularity's frame, so ranking decays both from the same epoch.
  DEFAULT_TRACKING_POLICY.popularityEpoch,
);
const attribution = new AttributionCounters(dynamoClient(), statsTable);

export const handler = counterStreamHandler({
  service: 'impression-counts',
  count: async (records) => {
    const [counted, attributed] = await Promise.all([
      counters.countBatch(records),
      attribution.countImpressions(records),
    ]);
    return {
      impressions: counted.impressions,
      tally: attributed.tally,
      failed: [...new Set([...counted.failed, ...attributed.failed])],
      errors: [...counted.errors, ...attributed.errors],
    };
  },
  counted: ({ impressions }) => ({ metric: 'impressions_counted', value: impressions }),
  publish: ({ tally }, metrics) => publishAttribution(tally, metrics),
  failureMetric: 'impression_count_failure',
  failureMessage: 'impression count or attribution update failed; the records will be retried',
});

import { ImpressionCounters } from '../adapters/dynamodb/impression-counts';
import { DEFAULT_TRACKING_POLICY } from '../app/track-events';
import { dynamoClient } from '../platform/clients';
import { counterStreamHandler } from '../platform/stream-counters';
import { functionConfig } from '../wiring/environment';

/**
 * The Impressions table's stream consumer: adds each list's items to the per-item impression
 * counts, merged per counter, each record exactly once (see ImpressionCounters). Records whose
 * transaction still fails after a few conflicts are reported (partial batch response); the stream
 * mapping retries from the first and, after its retries, sends it to the DLQ.
 */
const counters = new ImpressionCounters(
  dynamoClient(),
  functionConfig('impression-counts').statsTable,
  // Counts are weighed in popularity's frame, so ranking decays both from the same epoch.
  DEFAULT_TRACKING_POLICY.popularityEpoch,
);

export const handler = counterStreamHandler({
  service: 'impression-counts',
  count: (records) => counters.countBatch(records),
  counted: ({ impressions }) => ({ metric: 'impressions_counted', value: impressions }),
  failureMetric: 'impression_count_failure',
  failureMessage: 'impression count update failed; the records will be retried',
});

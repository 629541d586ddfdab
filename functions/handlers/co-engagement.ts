import { AttributionCounters } from '../adapters/dynamodb/attribution-counters';
import { CoEngagementCounters, countBatch } from '../adapters/dynamodb/co-engagement-counters';
import { BasketHistory } from '../adapters/dynamodb/co-purchases';
import { publishAttribution } from '../platform/attribution-metrics';
import { dynamoClient } from '../platform/clients';
import { counterStreamHandler } from '../platform/stream-counters';
import { functionConfig } from '../wiring/environment';

/**
 * The Events table's stream consumer: adds the batch's co-engagement pairs and basket events'
 * co-purchases (issue 22) to the counters, merged per counter, and joins the events that name a
 * list to it for attribution (issue 25), each record exactly once in each (see countBatch and
 * AttributionCounters: a marker per record and consumer). Records whose transaction still fails
 * after a few conflicts are reported (partial batch response); the stream mapping retries from the
 * first and, after its retries, sends it to the DLQ.
 */
const config = functionConfig('co-engagement');
const counters = new CoEngagementCounters(
  dynamoClient(),
  config.statsTable,
  new BasketHistory(dynamoClient(), config.eventsTable),
);
const attribution = new AttributionCounters(dynamoClient(), config.statsTable, config.impressionsTable);

export const handler = counterStreamHandler({
  service: 'co-engagement',
  count: async (records) => {
    const [pairs, attributed] = await Promise.all([
      countBatch(counters, records),
      attribution.countEvents(records),
    ]);
    return {
      pairs: pairs.pairs,
      tally: attributed.tally,
      failed: [...new Set([...pairs.failed, ...attributed.failed])],
      errors: [...pairs.errors, ...attributed.errors],
    };
  },
  counted: ({ pairs }) => ({ metric: 'co_engagement_pairs', value: pairs }),
  publish: ({ tally }, metrics) => publishAttribution(tally, metrics),
  failureMetric: 'co_engagement_failure',
  failureMessage: 'co-engagement or attribution update failed; the records will be retried',
});

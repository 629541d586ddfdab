import { CoEngagementCounters, countBatch } from '../adapters/dynamodb/co-engagement-counters';
import { BasketHistory } from '../adapters/dynamodb/co-purchases';
import { dynamoClient } from '../platform/clients';
import { counterStreamHandler } from '../platform/stream-counters';
import { functionConfig } from '../wiring/environment';

/**
 * The Events table's stream consumer: adds the batch's co-engagement pairs and basket events'
 * co-purchases (issue 22) to the counters, merged
 * per counter, each record exactly once (see countBatch). Records whose transaction still fails after
 * a few conflicts are reported (partial batch response); the stream mapping retries from the first
 * and, after its retries, sends it to the DLQ.
 */
const config = functionConfig('co-engagement');
const counters = new CoEngagementCounters(
  dynamoClient(),
  config.statsTable,
  new BasketHistory(dynamoClient(), config.eventsTable),
);

export const handler = counterStreamHandler({
  service: 'co-engagement',
  count: (records) => countBatch(counters, records),
  counted: ({ pairs }) => ({ metric: 'co_engagement_pairs', value: pairs }),
  failureMetric: 'co_engagement_failure',
  failureMessage: 'co-engagement update failed; the records will be retried',
});

/**
 * `npm run bench:hot-keys` (issue 24): the hot-key simulation (test/support/hot-keys.ts) at full
 * size: 1,000 events/s for 120 s, Zipf(1.1) over 100k items, users in bursty sessions, a flash sale
 * (one item takes 40% of the events for a minute), through the real events path and the real
 * Events-stream consumer on an in-memory DynamoDB that counts every written key per second. Prints
 * the most writes one key and one partition key took in one second, per key family, now and in the
 * layout before issue 24 (one popularity row and one co-engagement partition key per item), with
 * the busiest of each; the last stdout line is a JSON summary. HOT_KEYS_SECONDS, HOT_KEYS_RATE and HOT_KEYS_ITEMS override.
 */
import { CO_ENGAGEMENT_SHARDS } from '../../functions/adapters/dynamodb/co-engagement-counters';
import { DEFAULT_HOT_KEY_OPTIONS, formatHotKeys, simulateHotKeys } from '../support/hot-keys';

const options = {
  ...DEFAULT_HOT_KEY_OPTIONS,
  seconds: Number(process.env.HOT_KEYS_SECONDS) || DEFAULT_HOT_KEY_OPTIONS.seconds,
  eventsPerSecond: Number(process.env.HOT_KEYS_RATE) || DEFAULT_HOT_KEY_OPTIONS.eventsPerSecond,
  items: Number(process.env.HOT_KEYS_ITEMS) || DEFAULT_HOT_KEY_OPTIONS.items,
};
const log = (line: string) => process.stderr.write(`[hot-keys] ${line}\n`);

async function main(): Promise<void> {
  const started = performance.now();
  const result = await simulateHotKeys(options, log);
  log(`simulated in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  process.stdout.write(
    `hot keys: ${result.events} events (${result.accepted} accepted), ${options.eventsPerSecond}/s for ${options.seconds} s, ` +
      `Zipf(${options.zipf}) over ${options.items} items, flash sale ${options.flash.share * 100}% for ${options.flash.seconds} s, ` +
      `${result.streamBatches} stream batches\n${formatHotKeys(result)}\n` +
      `per-key maximum: ${result.keyMax} writes/s, per-partition-key maximum: ${result.partitionMax} writes/s (bound 300)\n` +
      `popularity read back: ${result.popularityCheck.items} items, ` +
      `largest relative error ${result.popularityCheck.largestRelativeError.toExponential(2)}, ` +
      `${result.popularityRows} popularity rows\n` +
      `co-engagement read back (${CO_ENGAGEMENT_SHARDS} queries an item): ${result.coEngagementCheck.items} items, ` +
      `${result.coEngagementCheck.pairs} pairs, largest relative error ${result.coEngagementCheck.largestRelativeError.toExponential(2)}\n`,
  );
  process.stdout.write(
    `${JSON.stringify({ keyMax: result.keyMax, partitionMax: result.partitionMax, popularityRows: result.popularityRows, items: result.popularityCheck.items, coEngagementCheck: result.coEngagementCheck, families: result.families.map(({ family, keyMax, partitionMax, unshardedKeyMax, unshardedPartitionMax }) => ({ family, keyMax, partitionMax, unshardedKeyMax, unshardedPartitionMax })) })}\n`,
  );
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : error}\n`);
  process.exitCode = 1;
});

/**
 * How the co-engagement consumer groups a stream batch into transactions (transactionsOf): at most
 * 100 actions each (a marker per record plus one update per distinct counter), records in stream
 * order and never split, records without pairs left out.
 */
import {
  type CoEngagementPair,
  type RecordPairs,
  transactionsOf,
} from '../../functions/adapters/dynamodb/co-engagement-counters';

const pairsAmong = (items: string[]): CoEngagementPair[] =>
  items.flatMap((from) => items.filter((to) => to !== from).map((to) => ({ from, to, weight: 1 })));

const actions = (group: RecordPairs[]) =>
  group.length + new Set(group.flatMap((r) => r.pairs.map((p) => `${p.from}>${p.to}`))).size;

it('merges records that share counters into one transaction', () => {
  const records = Array.from({ length: 30 }, (_, i) => ({
    recordId: `r${i}`,
    pairs: pairsAmong(['a', 'b', 'c']),
  }));
  const groups = transactionsOf(records);
  expect(groups).toHaveLength(1);
  expect(actions(groups[0] as RecordPairs[])).toBe(36);
});

it('keeps every transaction within 100 actions, in order, without splitting or dropping a record with pairs', () => {
  // Each record: 8 items of its own, 56 distinct counters; the 49-partner maximum (98 pairs) too.
  const records: RecordPairs[] = [
    ...Array.from({ length: 7 }, (_, i) => ({
      recordId: `r${i}`,
      pairs: pairsAmong(Array.from({ length: 8 }, (__, k) => `i${i}-${k}`)),
    })),
    { recordId: 'empty', pairs: [] },
    {
      recordId: 'widest',
      pairs: Array.from({ length: 49 }, (_, k) => [
        { from: 'hub', to: `p${k}`, weight: 1 },
        { from: `p${k}`, to: 'hub', weight: 1 },
      ]).flat(),
    },
  ];
  const groups = transactionsOf(records);
  for (const group of groups) expect(actions(group)).toBeLessThanOrEqual(100);
  expect(groups.flat().map((r) => r.recordId)).toEqual(
    [...records.map((r) => r.recordId)].filter((id) => id !== 'empty'),
  );
  expect(groups.length).toBe(8);
});

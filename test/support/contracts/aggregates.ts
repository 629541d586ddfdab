/**
 * The contract of the recommender's Aggregates port (functions/app/ports.ts): popularity,
 * impressions and co-engagement summed over everything added. Run against the in-memory fake (test/unit/) and, on
 * DynamoDB Local (test/integration/), ProfileStoreReader and the AggregateCache over it.
 */
import { randomBytes } from 'node:crypto';
import type { Aggregates } from '../../../functions/app/ports';

export interface AggregatesFixture {
  aggregates: Aggregates;
  /** Adds popularity as the event write path's commits do. */
  addPopularity(weights: Array<{ itemId: string; weight: number }>): Promise<void>;
  /** Adds impressions of items, as the Impressions stream's consumer does. */
  addImpressions(weights: Array<{ itemId: string; weight: number }>): Promise<void>;
  /** Adds co-engagement from one item to another, as the Events stream's consumer does. */
  addCoEngagement(pairs: Array<{ from: string; to: string; weight: number }>): Promise<void>;
}

export function aggregatesContract(
  name: string,
  setUp: () => AggregatesFixture | Promise<AggregatesFixture>,
): void {
  describe(`${name}: Aggregates contract`, () => {
    let fixture: AggregatesFixture;
    /** Ids unique to one test: the adapter's tables are shared by the whole file. */
    let prefix: string;
    const id = (name: string) => `${prefix}${name}`;
    const ours = (weights: Map<string, number>) =>
      new Map([...weights].filter(([itemId]) => itemId.startsWith(prefix)));

    beforeEach(async () => {
      fixture = await setUp();
      prefix = `contract-${randomBytes(4).toString('hex')}-`;
    });

    it('sums the popularity added for each item, and has none for an item without any', async () => {
      const [a, b] = [id('a'), id('b')];
      await fixture.addPopularity([
        { itemId: a, weight: 1.5 },
        { itemId: b, weight: 0.25 },
      ]);
      await fixture.addPopularity([{ itemId: a, weight: 2 }]);

      const popularity = await fixture.aggregates.popularity();

      expect(ours(popularity)).toEqual(
        new Map([
          [a, 3.5],
          [b, 0.25],
        ]),
      );
      expect(popularity.has(id('never'))).toBe(false);
    });

    it('sums the impressions added for each item, apart from popularity, and has none for an item never shown', async () => {
      const [a, b] = [id('shown-a'), id('shown-b')];
      await fixture.addImpressions([
        { itemId: a, weight: 1 },
        { itemId: b, weight: 0.5 },
      ]);
      await fixture.addImpressions([{ itemId: a, weight: 2.25 }]);

      const impressions = await fixture.aggregates.impressions();

      expect(ours(impressions)).toEqual(
        new Map([
          [a, 3.25],
          [b, 0.5],
        ]),
      );
      expect(impressions.has(id('never'))).toBe(false);
      expect(ours(await fixture.aggregates.popularity()).has(a)).toBe(false);
    });

    it('sums co-engagement from the sources per target, leaving the sources out', async () => {
      const [shoe, boot, hat, scarf, sock] = ['shoe', 'boot', 'hat', 'scarf', 'sock'].map(id) as [
        string,
        string,
        string,
        string,
        string,
      ];
      await fixture.addCoEngagement([
        { from: shoe, to: hat, weight: 2 },
        { from: shoe, to: boot, weight: 1 },
        { from: boot, to: hat, weight: 0.5 },
        { from: boot, to: scarf, weight: 3 },
        { from: sock, to: shoe, weight: 9 },
      ]);
      await fixture.addCoEngagement([{ from: shoe, to: hat, weight: 1 }]);

      expect(await fixture.aggregates.coEngagement([shoe])).toEqual(
        new Map([
          [hat, 3],
          [boot, 1],
        ]),
      );
      expect(await fixture.aggregates.coEngagement([shoe, boot, shoe])).toEqual(
        new Map([
          [hat, 3.5],
          [scarf, 3],
        ]),
      );
      expect((await fixture.aggregates.coEngagement([id('alone')])).size).toBe(0);
      expect((await fixture.aggregates.coEngagement([])).size).toBe(0);
    });
  });
}

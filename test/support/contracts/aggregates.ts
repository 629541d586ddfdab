/**
 * The contract of the recommender's Aggregates port (functions/app/ports.ts): popularity,
 * impressions and co-engagement summed over everything added. Run against the in-memory fake (test/unit/) and, on
 * DynamoDB Local (test/integration/), ProfileStoreReader and the AggregateCache over it.
 */
import { randomBytes } from 'node:crypto';
import type { Aggregates, PopularityIncrement } from '../../../functions/app/ports';

export interface AggregatesFixture {
  aggregates: Aggregates;
  /** Adds popularity (and short-term popularity) as the event write path's commits do. */
  addPopularity(weights: PopularityIncrement[]): Promise<void>;
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

    it('sums short-term popularity per frame beside the long-term weight, and drops the frame two back', async () => {
      const [a, b, c] = [id('a'), id('b'), id('c')];
      const frame = 1_000_000;
      const at = (frameStart: number, weight: number) => ({
        frameStart,
        weight,
        staleFrameStart: frameStart - 2 * frame,
      });
      await fixture.addPopularity([
        { itemId: a, weight: 1, recent: at(frame, 2) },
        { itemId: a, weight: 1, recent: at(2 * frame, 4) },
        { itemId: b, weight: 0.5 },
      ]);
      await fixture.addPopularity([
        { itemId: a, weight: 1, recent: at(2 * frame, 1) },
        { itemId: c, weight: 1, recent: at(frame, 8) },
      ]);
      await fixture.addPopularity([{ itemId: c, weight: 1, recent: at(3 * frame, 1) }]);

      const recent = await fixture.aggregates.recentPopularity();

      expect(ours(await fixture.aggregates.popularity())).toEqual(
        new Map([
          [a, 3],
          [b, 0.5],
          [c, 2],
        ]),
      );
      expect(recent.get(a)).toEqual([
        { frameStart: frame, weight: 2 },
        { frameStart: 2 * frame, weight: 5 },
      ]);
      expect(recent.has(b)).toBe(false);
      // c's frame at 1x is two back from 3x: dropped.
      expect(recent.get(c)).toEqual([{ frameStart: 3 * frame, weight: 1 }]);
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

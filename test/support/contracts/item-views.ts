/**
 * The contract of the recommender's ItemViews port (functions/app/ports.ts): one suite, run against
 * the in-memory fake (test/unit/) and CatalogueReader on DynamoDB Local and the S3 stand-in
 * (test/integration/), so the fake the recommend unit tests rely on cannot drift from production.
 */
import { randomBytes } from 'node:crypto';
import type { ItemViews, StoredItem } from '../../../functions/app/ports';

export interface ItemViewsFixture {
  items: ItemViews;
  /** Stores an item where the port reads it (ingestion's job in production). */
  putItem(item: StoredItem): Promise<void>;
}

const MODEL_ID = 'contract-model';
const T0 = Date.UTC(2026, 0, 1);

export function itemViewsContract(
  name: string,
  setUp: () => ItemViewsFixture | Promise<ItemViewsFixture>,
): void {
  describe(`${name}: ItemViews contract`, () => {
    let fixture: ItemViewsFixture;
    /** Ids unique to one test: the adapter's table is shared by the whole file. */
    let prefix: string;
    const id = (name: string) => `${prefix}${name}`;

    beforeEach(async () => {
      fixture = await setUp();
      prefix = `contract-${randomBytes(4).toString('hex')}-`;
    });

    const itemOf = (itemId: string, overrides: Partial<StoredItem> = {}): StoredItem => ({
      itemId,
      status: 'ready',
      source: {
        bucket: 'lookalike-test',
        key: `catalogue/${itemId}.jpg`,
        sequencer: '0000000000000001',
        eventAt: T0,
      },
      vectors: { [MODEL_ID]: Float32Array.of(0.6, 0.8, 0, 0) },
      title: `Item ${itemId}`,
      category: 'shoes',
      price: 12.5,
      tags: ['red', 'leather'],
      available: true,
      createdAt: T0,
      updatedAt: T0 + 1000,
      ...overrides,
    });

    it('shows live items with their attributes and an image URL, and leaves out missing and deleted ones', async () => {
      const [shown, bare, hidden, deleted] = [id('shown'), id('bare'), id('hidden'), id('deleted')];
      await fixture.putItem(itemOf(shown));
      await fixture.putItem({
        itemId: bare,
        status: 'ready',
        source: {
          bucket: 'lookalike-test',
          key: `catalogue/${bare}.png`,
          sequencer: '0000000000000001',
          eventAt: T0,
        },
        vectors: {},
        available: true,
        createdAt: T0,
        updatedAt: T0,
      });
      await fixture.putItem(itemOf(hidden, { available: false }));
      await fixture.putItem(itemOf(deleted, { status: 'deleted', vectors: {} }));

      const views = await fixture.items.views([shown, bare, hidden, deleted, id('missing'), shown]);

      expect([...views.keys()].sort()).toEqual([bare, hidden, shown].sort());
      expect(views.get(shown)).toEqual({
        itemId: shown,
        title: `Item ${shown}`,
        category: 'shoes',
        price: 12.5,
        tags: ['red', 'leather'],
        available: true,
        imageUrl: expect.any(String),
      });
      expect(views.get(bare)).toEqual({ itemId: bare, available: true, imageUrl: expect.any(String) });
      expect(views.get(hidden)?.available).toBe(false);
      expect(decodeURIComponent(views.get(shown)?.imageUrl ?? '')).toContain(`catalogue/${shown}.jpg`);
    });

    it('returns nothing for no ids', async () => {
      expect((await fixture.items.views([])).size).toBe(0);
    });

    it('reads one item in full, deleted or not, and nothing for an unknown id', async () => {
      const [ready, rejected, deleted] = [id('ready'), id('rejected'), id('deleted')];
      const readyItem = itemOf(ready, {
        metadataWarnings: ['price: not a number'],
        lastUpdateError: {
          code: 'not_an_image',
          message: 'no',
          key: `catalogue/${ready}.jpg`,
          at: T0 + 5,
          sequencer: '0000000000000002',
          eventAt: T0 + 5,
        },
      });
      const rejectedItem = itemOf(rejected, {
        status: 'rejected',
        vectors: {},
        rejection: { code: 'not_an_image', message: 'the bytes are not an image' },
      });
      const deletedItem = itemOf(deleted, { status: 'deleted', vectors: {} });
      for (const item of [readyItem, rejectedItem, deletedItem]) await fixture.putItem(item);

      expect(await fixture.items.get(ready)).toMatchObject(readyItem);
      expect((await fixture.items.get(ready))?.vectors[MODEL_ID]).toEqual(Float32Array.of(0.6, 0.8, 0, 0));
      expect(await fixture.items.get(rejected)).toMatchObject(rejectedItem);
      expect(await fixture.items.get(deleted)).toMatchObject({ itemId: deleted, status: 'deleted' });
      expect(await fixture.items.get(id('missing'))).toBeUndefined();
    });

    it('gives a URL for an item image that names its object', async () => {
      const key = `catalogue/${id('photo')}.webp`;
      const url = await fixture.items.imageUrl({ bucket: 'lookalike-test', key });
      expect(new URL(url).protocol).toMatch(/^https?:$/);
      expect(decodeURIComponent(url)).toContain(key);
    });
  });
}

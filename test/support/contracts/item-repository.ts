/**
 * The contract of ingestion's item repository port (functions/app/ports.ts): one suite, run against
 * the in-memory fake (test/unit/) and the DynamoDB adapter on DynamoDB Local (test/integration/), so
 * the fake the ingest tests rely on cannot drift from what production does.
 */
import { randomBytes } from 'node:crypto';
import type { ItemRepository } from '../../../functions/app/ports';
import type { CatalogueItem, ItemSource, ItemUpdateError } from '../../../functions/domain/catalogue-item';
import { normaliseSequencer } from '../../../functions/domain/catalogue-key';

export interface ItemRepositoryFixture {
  repository: ItemRepository;
}

const T0 = Date.UTC(2026, 0, 1);
const DIM = 4;

export function itemRepositoryContract(
  name: string,
  setUp: () => ItemRepositoryFixture | Promise<ItemRepositoryFixture>,
): void {
  describe(`${name}: ItemRepository contract`, () => {
    let repository: ItemRepository;
    /** Ids unique to one test: the adapter's table is shared by the whole file. */
    let prefix: string;
    const id = (name: string) => `${prefix}${name}`;

    beforeEach(async () => {
      ({ repository } = await setUp());
      prefix = `contract-${randomBytes(4).toString('hex')}-`;
    });

    const source = (
      key: string,
      sequencer: number,
      eventAt = T0,
      etag = `etag-${key}-${sequencer}`,
    ): ItemSource => ({
      bucket: 'catalogue-bucket',
      key: `catalogue/${key}`,
      sequencer: normaliseSequencer(sequencer.toString(16)),
      eventAt,
      etag,
      size: 100 + sequencer,
    });
    const vector = (seed: number) =>
      Float32Array.from({ length: DIM }, (_, i) => Math.fround((i + 1) / (seed + 1)));

    function readyItem(
      itemId: string,
      from: ItemSource,
      overrides: Partial<CatalogueItem> = {},
    ): CatalogueItem {
      return {
        itemId,
        title: 'Red hat',
        category: 'hats',
        price: 12.5,
        tags: ['red', 'wool'],
        available: true,
        status: 'ready',
        source: from,
        vectors: { 'model-a': vector(1), 'model-b': vector(2) },
        dim: DIM,
        createdAt: T0,
        updatedAt: T0,
        ...overrides,
      };
    }

    const updateError = (from: ItemSource, at = T0): ItemUpdateError => ({
      code: 'corrupt_image',
      message: 'the replacement is corrupt',
      key: from.key,
      ...(from.etag ? { etag: from.etag } : {}),
      sequencer: from.sequencer,
      eventAt: from.eventAt,
      at,
    });

    it('gives undefined for an item it does not hold', async () => {
      expect(await repository.get(id('missing'))).toBeUndefined();
    });

    it('stores an item whole and gives it back, float32 vectors included', async () => {
      const item = readyItem(id('hat'), source('hats/hat.png', 1), {
        metadataWarnings: ['price: not a number'],
      });
      expect(await repository.putIfNewer(item, T0)).toBe(true);
      expect(await repository.get(item.itemId)).toEqual(item);
      expect((await repository.get(item.itemId, false))?.vectors['model-a']).toBeInstanceOf(Float32Array);
    });

    it('orders whole writes by sequencer for one key and by event time across keys', async () => {
      const itemId = id('ordered');
      expect(await repository.putIfNewer(readyItem(itemId, source('a.png', 5)), T0)).toBe(true);
      // Same key: an older or duplicate sequencer loses, a newer one wins.
      expect(await repository.putIfNewer(readyItem(itemId, source('a.png', 4), { title: 'older' }), T0)).toBe(
        false,
      );
      expect(await repository.putIfNewer(readyItem(itemId, source('a.png', 5), { title: 'again' }), T0)).toBe(
        false,
      );
      expect((await repository.get(itemId))?.title).toBe('Red hat');
      expect(await repository.putIfNewer(readyItem(itemId, source('a.png', 6), { title: 'newer' }), T0)).toBe(
        true,
      );
      // Another key of the same item: the event time decides, whatever its sequencer.
      const copy = source('b.png', 1, T0);
      expect(await repository.putIfNewer(readyItem(itemId, copy, { title: 'copy' }), T0)).toBe(false);
      const later = source('b.png', 1, T0 + 1);
      expect(await repository.putIfNewer(readyItem(itemId, later, { title: 'later copy' }), T0)).toBe(true);
      expect(await repository.get(itemId)).toMatchObject({ title: 'later copy', source: later });
    });

    it('updates attributes of the same content in order, keeping the vectors', async () => {
      const itemId = id('meta');
      const first = source('meta.png', 1);
      const item = readyItem(itemId, first);
      await repository.putIfNewer(item, T0);
      const next = { ...source('meta.png', 2), etag: first.etag };
      expect(
        await repository.updateAttributesIfNewer(
          itemId,
          { available: false, title: 'Blue hat' },
          ['tags: ignored'],
          next,
          T0 + 5,
        ),
      ).toBe(true);
      const updated = await repository.get(itemId);
      expect(updated).toMatchObject({
        title: 'Blue hat',
        available: false,
        metadataWarnings: ['tags: ignored'],
        source: next,
      });
      expect(updated?.updatedAt).toBe(T0 + 5);
      // Attributes the metadata no longer has are gone; the content and its vectors stay.
      expect(updated).not.toHaveProperty('price');
      expect(updated).not.toHaveProperty('category');
      expect(updated?.vectors).toEqual(item.vectors);
      // An older event, or another content (etag), changes nothing.
      const older = { ...source('meta.png', 1), etag: first.etag };
      expect(await repository.updateAttributesIfNewer(itemId, { available: true }, [], older, T0 + 6)).toBe(
        false,
      );
      const otherContent = { ...source('meta.png', 3), etag: 'another-etag' };
      expect(
        await repository.updateAttributesIfNewer(itemId, { available: true }, [], otherContent, T0 + 6),
      ).toBe(false);
      expect(await repository.get(itemId)).toMatchObject({ available: false, source: next });
      expect(await repository.updateAttributesIfNewer(id('absent'), { available: true }, [], next, T0)).toBe(
        false,
      );
      expect(await repository.get(id('absent'))).toBeUndefined();
    });

    it('tombstones only over exactly the state that was read, and an older create stays dead', async () => {
      const itemId = id('gone');
      const image = source('gone.png', 3);
      await repository.putIfNewer(readyItem(itemId, image, { rejection: undefined }), T0);
      const removal = source('gone.png', 4);
      // A stale read (another image, or no row) does not apply.
      expect(await repository.tombstoneIfUnchanged(itemId, removal, source('gone.png', 2), T0 + 1)).toBe(
        false,
      );
      expect(await repository.tombstoneIfUnchanged(itemId, removal, undefined, T0 + 1)).toBe(false);
      expect((await repository.get(itemId))?.status).toBe('ready');

      expect(await repository.tombstoneIfUnchanged(itemId, removal, image, T0 + 2)).toBe(true);
      const tombstone = await repository.get(itemId);
      expect(tombstone).toMatchObject({
        status: 'deleted',
        source: removal,
        deletedAt: T0 + 2,
        createdAt: T0,
      });
      expect(tombstone?.vectors).toEqual({});
      expect(await repository.putIfNewer(readyItem(itemId, source('gone.png', 3)), T0 + 3)).toBe(false);
      expect((await repository.get(itemId))?.status).toBe('deleted');
    });

    it('writes a tombstone where there is no row, so the late create of a deleted object stays dead', async () => {
      const itemId = id('early-delete');
      expect(await repository.tombstoneIfUnchanged(itemId, source('early.png', 9), undefined, T0 + 7)).toBe(
        true,
      );
      expect(await repository.get(itemId)).toMatchObject({
        itemId,
        status: 'deleted',
        available: true,
        createdAt: T0 + 7,
        deletedAt: T0 + 7,
      });
      expect(await repository.putIfNewer(readyItem(itemId, source('early.png', 8)), T0 + 8)).toBe(false);
    });

    it('records a failed replacement on a ready item, in order, and keeps its vectors', async () => {
      const itemId = id('replace');
      const image = source('replace.png', 1);
      const item = readyItem(itemId, image);
      await repository.putIfNewer(item, T0);
      const failed = updateError(source('replace.png', 3));
      expect(await repository.recordUpdateErrorIfCurrent(itemId, failed, image, T0 + 1)).toBe(true);
      expect(await repository.get(itemId)).toMatchObject({
        status: 'ready',
        lastUpdateError: failed,
        vectors: item.vectors,
      });
      // An older failure of the same key, or one recorded against another image, is refused.
      expect(
        await repository.recordUpdateErrorIfCurrent(
          itemId,
          updateError(source('replace.png', 2)),
          image,
          T0 + 2,
        ),
      ).toBe(false);
      expect(
        await repository.recordUpdateErrorIfCurrent(
          itemId,
          updateError(source('replace.png', 4)),
          source('replace.png', 0),
          T0 + 2,
        ),
      ).toBe(false);
      const newer = updateError(source('replace.png', 4));
      expect(await repository.recordUpdateErrorIfCurrent(itemId, newer, image, T0 + 2)).toBe(true);
      expect((await repository.get(itemId))?.lastUpdateError).toEqual(newer);

      // Only a delete of that object newer than the failure forgets it.
      expect(await repository.clearUpdateErrorIfDeleted(itemId, source('replace.png', 4))).toBe(false);
      expect(await repository.clearUpdateErrorIfDeleted(itemId, source('other.png', 9))).toBe(false);
      expect(await repository.clearUpdateErrorIfDeleted(itemId, source('replace.png', 5))).toBe(true);
      expect(await repository.get(itemId)).not.toHaveProperty('lastUpdateError');
    });

    it('records no failed replacement on a rejected item', async () => {
      const itemId = id('rejected');
      const image = source('rejected.png', 1);
      await repository.putIfNewer(
        readyItem(itemId, image, {
          status: 'rejected',
          vectors: {},
          rejection: { code: 'corrupt_image', message: 'corrupt' },
        }),
        T0,
      );
      expect(
        await repository.recordUpdateErrorIfCurrent(
          itemId,
          updateError(source('rejected.png', 2)),
          image,
          T0,
        ),
      ).toBe(false);
      expect(await repository.get(itemId)).toMatchObject({
        status: 'rejected',
        rejection: { code: 'corrupt_image' },
      });
    });

    it('adds a model vector only to a ready item that still holds the content it was embedded from', async () => {
      const itemId = id('backfilled');
      const image = source('backfilled.png', 1);
      await repository.putIfNewer(readyItem(itemId, image, { vectors: { 'model-a': vector(1) } }), T0);
      expect(
        await repository.addVectorIfCurrent(
          itemId,
          'model-b',
          vector(3),
          source('backfilled.png', 0),
          T0 + 1,
        ),
      ).toBe(false);
      expect(await repository.addVectorIfCurrent(itemId, 'model-b', vector(3), image, T0 + 1)).toBe(true);
      expect((await repository.get(itemId))?.vectors).toEqual({ 'model-a': vector(1), 'model-b': vector(3) });

      const rejectedId = id('backfill-rejected');
      const rejected = source('backfill-rejected.png', 1);
      await repository.putIfNewer(
        readyItem(rejectedId, rejected, {
          status: 'rejected',
          vectors: {},
          rejection: { code: 'corrupt_image', message: 'x' },
        }),
        T0,
      );
      expect(await repository.addVectorIfCurrent(rejectedId, 'model-b', vector(3), rejected, T0)).toBe(false);
      expect(await repository.addVectorIfCurrent(id('absent'), 'model-b', vector(3), rejected, T0)).toBe(
        false,
      );
      expect(await repository.get(id('absent'))).toBeUndefined();
    });

    it("lists every item's state and source", async () => {
      const live = readyItem(id('listed-live'), source('listed-live.png', 1));
      await repository.putIfNewer(live, T0);
      const removal = source('listed-gone.png', 2);
      await repository.tombstoneIfUnchanged(id('listed-gone'), removal, undefined, T0);
      const listed = [];
      for await (const entry of repository.itemSources())
        if (entry.itemId.startsWith(prefix)) listed.push(entry);
      expect(listed.sort((a, b) => a.itemId.localeCompare(b.itemId))).toEqual([
        { itemId: id('listed-gone'), status: 'deleted', source: removal },
        { itemId: id('listed-live'), status: 'ready', source: live.source },
      ]);
    });
  });
}

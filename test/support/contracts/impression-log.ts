/**
 * The contract of the ImpressionLog and ImpressionEraser ports (functions/app/ports.ts): what is
 * recorded for a user is what an erasure of that user deletes, all of it, and nothing of another
 * user's or of a list served without a user. Run against the in-memory fake (test/unit/) and
 * DynamoImpressionLog on DynamoDB Local (test/integration/).
 */
import { randomBytes } from 'node:crypto';
import type { ImpressionEraser, ImpressionHistory, ImpressionLog } from '../../../functions/app/ports';
import { type Impression, uuidV7Generator } from '../../../functions/domain/impressions';

export type ImpressionLogFixture = ImpressionLog & ImpressionEraser & ImpressionHistory;

export function impressionLogContract(
  name: string,
  setUp: () => ImpressionLogFixture | Promise<ImpressionLogFixture>,
): void {
  describe(`${name}: ImpressionLog contract`, () => {
    let log: ImpressionLogFixture;
    /** Ids unique to one test: the adapter's table is shared by the whole file. */
    let prefix: string;
    const nextId = uuidV7Generator();
    const listFor = (userId: string | undefined, k: number): Impression => ({
      recommendationId: nextId(Date.UTC(2026, 10, 30) + k),
      ...(userId !== undefined ? { userId } : {}),
      placement: 'home',
      strategy: 'personal',
      modelId: 'contract-model',
      servedAt: Date.UTC(2026, 10, 30) + k,
      items: [{ itemId: `item-${k}`, position: 1, source: 'organic' }],
    });

    beforeEach(async () => {
      log = await setUp();
      prefix = `contract-${randomBytes(4).toString('hex')}-`;
    });

    it("erases every list recorded for the user (more than one batch of deletes), and only the user's", async () => {
      const [ann, bob] = [`${prefix}ann`, `${prefix}bob`];
      for (let k = 0; k < 30; k++) await log.record(listFor(ann, k));
      await log.record(listFor(bob, 100));
      await log.record(listFor(undefined, 101));

      expect(await log.eraseUser(ann)).toBe(30);
      expect(await log.eraseUser(ann)).toBe(0);
      expect(await log.eraseUser(bob)).toBe(1);
    });

    it("gives the items of the user's latest lists, newest by id, and only the user's", async () => {
      const [ann, bob] = [`${prefix}ann`, `${prefix}bob`];
      // Served in order, recorded out of order: the newest lists are those with the latest ids.
      const served = [0, 1, 2, 3, 4].map((k) => listFor(ann, k));
      for (const k of [3, 0, 4, 1, 2]) await log.record(served[k] as Impression);
      await log.record(listFor(bob, 9));

      expect(await log.recentItems(ann, 2)).toEqual(new Set(['item-4', 'item-3']));
      expect(await log.recentItems(ann, 10)).toEqual(new Set([0, 1, 2, 3, 4].map((k) => `item-${k}`)));
      expect(await log.recentItems(ann, 0)).toEqual(new Set());
      expect(await log.recentItems(`${prefix}nobody`, 3)).toEqual(new Set());
    });

    it("reads a list's paging record back for its viewer only, and not after the viewer is erased", async () => {
      const [ann, bob] = [`${prefix}ann`, `${prefix}bob`];
      const paging = { nonce: 'ab'.repeat(16), key: 'cd'.repeat(16), shown: ['item-7', 'a,b', 'item-8'] };
      const paged = { ...listFor(ann, 7), paging };
      const anonymous = { ...listFor(undefined, 8), paging };
      await log.record(paged);
      await log.record(anonymous);
      const plain = listFor(ann, 9);
      await log.record(plain);

      expect(await log.page(ann, paged.recommendationId)).toEqual(paging);
      expect(await log.page(undefined, anonymous.recommendationId)).toEqual(paging);
      expect(await log.page(bob, paged.recommendationId)).toBeUndefined();
      expect(await log.page(undefined, paged.recommendationId)).toBeUndefined();
      expect(await log.page(ann, plain.recommendationId)).toBeUndefined();
      await log.eraseUser(ann);
      expect(await log.page(ann, paged.recommendationId)).toBeUndefined();
    });

    it('erases nothing for a user with no lists', async () => {
      expect(await log.eraseUser(`${prefix}nobody`)).toBe(0);
    });
  });
}

/**
 * A batch of listed objects (what the reembed function runs per Distributed Map batch), on the
 * in-memory ports: counts by outcome and by rejection code, transient failures counted and listed,
 * a second model added to items that miss it, and nothing written on a rerun.
 */
import { createHash } from 'node:crypto';
import { backfillBatch, type ListedObject } from '../../functions/app/backfill';
import type { IngestDeps } from '../../functions/app/ingest';
import { FakeImageEmbedder, imageBytes, invalidImageBytes } from '../support/fakes/image-embedder';
import { InMemoryItemRepository } from '../support/fakes/item-repository';
import { InMemoryObjectStore } from '../support/fakes/object-store';

const BUCKET = 'catalogue-bucket';

function catalogue(embedders = [new FakeImageEmbedder('m1')]) {
  const repository = new InMemoryItemRepository();
  const objects = new InMemoryObjectStore();
  let clock = 1_700_000_000_000;
  const deps: IngestDeps = { repository, objects, embedders, now: () => ++clock };
  const listed: ListedObject[] = [];
  const put = (key: string, bytes: Uint8Array) => {
    objects.put(BUCKET, key, bytes);
    listed.push({ key, etag: createHash('md5').update(bytes).digest('hex'), size: bytes.length });
  };
  return { deps, repository, objects, listed, put };
}

describe('backfillBatch', () => {
  it('counts each outcome and each rejection code', async () => {
    const { deps, listed, put } = catalogue();
    put('catalogue/a.png', imageBytes('a'));
    put('catalogue/b.png', imageBytes('b'));
    put('catalogue/c.png', invalidImageBytes('c'));
    put('catalogue/readme.txt', imageBytes('not an item'));

    const report = await backfillBatch(deps, BUCKET, listed, { concurrency: 2 });

    expect(report.listed).toBe(4);
    expect(report.counts).toEqual({
      embedded: 2,
      added_vectors: 0,
      skipped: 1,
      rejected: 1,
      updated: 0,
      failed: 0,
    });
    expect(report.outcomes).toEqual({ ready: 2, rejected: 1 });
    expect(report.rejectedByCode).toEqual({ corrupt_image: 1 });
    expect(report.failures).toEqual([]);
  });

  it('adds the vectors of a new model, then writes nothing on a rerun', async () => {
    const first = catalogue();
    first.put('catalogue/a.png', imageBytes('a'));
    first.put('catalogue/b.png', imageBytes('b'));
    await backfillBatch(first.deps, BUCKET, first.listed);

    const withNewModel = {
      ...first.deps,
      embedders: [new FakeImageEmbedder('m1'), new FakeImageEmbedder('m2')],
    };
    const added = await backfillBatch(withNewModel, BUCKET, first.listed);
    expect(added.counts).toMatchObject({ embedded: 0, added_vectors: 2, failed: 0 });
    expect(Object.keys((await first.repository.get('a'))?.vectors ?? {}).sort()).toEqual(['m1', 'm2']);

    const before = [await first.repository.get('a'), await first.repository.get('b')];
    const rerun = await backfillBatch(withNewModel, BUCKET, first.listed);
    expect(rerun.counts).toMatchObject({ embedded: 0, added_vectors: 0, skipped: 2 });
    expect([await first.repository.get('a'), await first.repository.get('b')]).toEqual(before);
  });

  it('counts and lists a key that fails for transient trouble, and goes on with the others', async () => {
    const { deps, listed, put, objects } = catalogue();
    put('catalogue/a.png', imageBytes('a'));
    put('catalogue/b.png', imageBytes('b'));
    const head = objects.head.bind(objects);
    jest.spyOn(objects, 'head').mockImplementation(async (bucket: string, key: string) => {
      if (key === 'catalogue/a.png') throw new Error('socket hang up');
      return head(bucket, key);
    });

    const report = await backfillBatch(deps, BUCKET, listed, { maxFailuresListed: 5 });

    expect(report.counts).toMatchObject({ embedded: 1, failed: 1 });
    expect(report.failures).toEqual([{ key: 'catalogue/a.png', error: 'Error: socket hang up' }]);
  });
});

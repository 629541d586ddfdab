/**
 * The ingest use case through in-memory fakes of its ports: ordering by sequencer, tombstones,
 * metadata-only updates, rejected images and replacements, several models. The same paths run on
 * DynamoDB Local and s3rver in test/integration/ (ingestion, catalogue-updates, versioned-deletes).
 */
import { createHash } from 'node:crypto';
import { type IngestDeps, ingest } from '../../functions/app/ingest';
import type { ObjectChange } from '../../functions/app/ports';
import { normaliseSequencer } from '../../functions/domain/catalogue-key';
import { FakeImageEmbedder, imageBytes, invalidImageBytes } from '../support/fakes/image-embedder';
import { InMemoryItemRepository } from '../support/fakes/item-repository';
import { InMemoryObjectStore } from '../support/fakes/object-store';

const BUCKET = 'catalogue-bucket';
const T0 = Date.UTC(2026, 2, 1);

interface World {
  deps: IngestDeps;
  repository: InMemoryItemRepository;
  objects: InMemoryObjectStore;
  embedder: FakeImageEmbedder;
  /** Puts an object and returns the notification S3 would send for it. */
  upload(key: string, bytes: Uint8Array, sequencer: number, metadata?: Record<string, string>): ObjectChange;
  /** Deletes an object and returns the notification S3 would send for it. */
  remove(key: string, sequencer: number): ObjectChange;
}

function world(embedders = [new FakeImageEmbedder()]): World {
  const repository = new InMemoryItemRepository();
  const objects = new InMemoryObjectStore();
  let clock = T0;
  const deps: IngestDeps = { repository, objects, embedders, now: () => ++clock };
  const change = (kind: ObjectChange['kind'], key: string, sequencer: number): ObjectChange => ({
    kind,
    bucket: BUCKET,
    key,
    sequencer: sequencer.toString(16).toUpperCase(),
    eventTime: T0 + sequencer * 1000,
  });
  return {
    deps,
    repository,
    objects,
    embedder: embedders[0] as FakeImageEmbedder,
    upload(key, bytes, sequencer, metadata) {
      objects.put(BUCKET, key, bytes, metadata);
      return {
        ...change('created', key, sequencer),
        etag: createHash('md5').update(bytes).digest('hex'),
        size: bytes.length,
      };
    },
    remove(key, sequencer) {
      objects.delete(BUCKET, key);
      return change('removed', key, sequencer);
    },
  };
}

describe('ingest', () => {
  it('embeds a new image into a ready item with its metadata and where it came from', async () => {
    const { deps, repository, embedder, upload } = world();
    const bytes = imageBytes('red hat');
    const created = upload('catalogue/hats/H-1.png', bytes, 0x10, { title: 'Red hat', price: '12.50' });

    expect(await ingest(deps, created)).toEqual({
      outcome: 'ready',
      itemId: 'H-1',
      modelIds: ['fake-model'],
    });
    const item = await repository.get('H-1');
    expect(item).toMatchObject({
      status: 'ready',
      title: 'Red hat',
      price: 12.5,
      category: 'hats',
      available: true,
      dim: embedder.dim,
      source: {
        bucket: BUCKET,
        key: 'catalogue/hats/H-1.png',
        sequencer: normaliseSequencer('10'),
        eventAt: T0 + 0x10 * 1000,
        etag: created.etag,
        size: bytes.length,
      },
    });
    expect(item?.vectors['fake-model']).toEqual(embedder.vectorOf(bytes));
  });

  it('ignores objects that are not catalogue images', async () => {
    const { deps, repository, upload } = world();
    expect(await ingest(deps, upload('uploads/H-1.png', imageBytes('x'), 1))).toMatchObject({
      outcome: 'ignored',
      key: 'uploads/H-1.png',
    });
    expect(await ingest(deps, upload('catalogue/readme.txt', imageBytes('x'), 1))).toMatchObject({
      outcome: 'ignored',
    });
    expect(repository.writes.tried).toBe(0);
  });

  describe('ordering by sequencer', () => {
    it('keeps the newest image when an older event arrives after a newer one', async () => {
      const { deps, repository, embedder, upload } = world();
      const key = 'catalogue/S-1.png';
      const older = upload(key, imageBytes('first'), 0x20);
      const newerBytes = imageBytes('second');
      const newer = upload(key, newerBytes, 0x21);

      expect((await ingest(deps, newer)).outcome).toBe('ready');
      expect(await ingest(deps, older)).toEqual({
        outcome: 'stale',
        itemId: 'S-1',
        reason: 'a newer event was applied',
      });
      const item = await repository.get('S-1');
      expect(item?.source.sequencer).toBe(normaliseSequencer('21'));
      expect(item?.vectors['fake-model']).toEqual(embedder.vectorOf(newerBytes));
      expect(embedder.embedded).toHaveLength(1);
    });

    it('applies a duplicate delivery once', async () => {
      const { deps, repository, embedder, upload } = world();
      const created = upload('catalogue/D-1.png', imageBytes('dup'), 0x30);
      expect((await ingest(deps, created)).outcome).toBe('ready');
      const stored = await repository.get('D-1');
      expect((await ingest(deps, created)).outcome).toBe('stale');
      expect((await ingest(deps, { ...created })).outcome).toBe('stale');
      expect(await repository.get('D-1')).toEqual(stored);
      expect(embedder.embedded).toHaveLength(1);
    });

    it('orders events of different keys of one item by event time', async () => {
      const { deps, repository, upload } = world();
      const later = upload('catalogue/shoes/K-1.jpg', imageBytes('shoe in shoes'), 0x50);
      const earlier = { ...upload('catalogue/K-1.png', imageBytes('shoe at the top'), 0x90), eventTime: T0 };
      expect((await ingest(deps, later)).outcome).toBe('ready');
      expect((await ingest(deps, earlier)).outcome).toBe('stale');
      expect((await repository.get('K-1'))?.source.key).toBe('catalogue/shoes/K-1.jpg');
    });
  });

  describe('deletes', () => {
    it('leaves a tombstone that an older create cannot resurrect', async () => {
      const { deps, repository, upload, remove } = world();
      const key = 'catalogue/T-1.png';
      const created = upload(key, imageBytes('tomb'), 0x40);
      expect((await ingest(deps, created)).outcome).toBe('ready');
      expect(await ingest(deps, remove(key, 0x41))).toEqual({ outcome: 'deleted', itemId: 'T-1' });
      const tombstone = await repository.get('T-1');
      expect(tombstone).toMatchObject({ status: 'deleted', vectors: {} });
      expect(tombstone?.source.sequencer).toBe(normaliseSequencer('41'));

      // The create, delivered again late (and the object put back since): the tombstone is newer.
      upload(key, imageBytes('tomb'), 0x40);
      expect((await ingest(deps, created)).outcome).toBe('stale');
      expect((await repository.get('T-1'))?.status).toBe('deleted');
    });

    it('tombstones a delete that arrives before its create, and the create stays dead', async () => {
      const { deps, repository, upload, remove } = world();
      const key = 'catalogue/T-2.png';
      const created = upload(key, imageBytes('early'), 0x60);
      const removed = remove(key, 0x61);
      expect((await ingest(deps, removed)).outcome).toBe('deleted');
      expect((await ingest(deps, created)).outcome).toBe('stale');
      expect((await repository.get('T-2'))?.status).toBe('deleted');
    });

    it('leaves the item alone when a copy that is not its current image is deleted', async () => {
      const { deps, repository, upload, remove } = world();
      const current = upload('catalogue/bags/C-1.png', imageBytes('bag'), 0x70);
      expect((await ingest(deps, current)).outcome).toBe('ready');
      upload('catalogue/C-1.png', imageBytes('old bag'), 0x10);
      expect(await ingest(deps, remove('catalogue/C-1.png', 0x11))).toMatchObject({
        outcome: 'stale',
        itemId: 'C-1',
      });
      expect((await repository.get('C-1'))?.status).toBe('ready');
    });

    it('keeps the item when one version is removed and the key still has a current one', async () => {
      const { deps, repository, upload } = world();
      const key = 'catalogue/V-1.png';
      expect((await ingest(deps, upload(key, imageBytes('v1'), 0x80))).outcome).toBe('ready');
      const versionRemoved: ObjectChange = {
        kind: 'removed',
        bucket: BUCKET,
        key,
        sequencer: '81',
        versionId: 'an-older-version',
        versionRemoved: true,
        eventTime: T0 + 0x81 * 1000,
      };
      expect((await ingest(deps, versionRemoved)).outcome).toBe('metadata_updated');
      expect((await repository.get('V-1'))?.status).toBe('ready');
    });
  });

  it('updates only the metadata when the content is unchanged', async () => {
    const { deps, repository, embedder, upload } = world();
    const key = 'catalogue/M-1.png';
    const bytes = imageBytes('same');
    expect((await ingest(deps, upload(key, bytes, 0x10, { title: 'Old title', price: '5' }))).outcome).toBe(
      'ready',
    );
    const before = await repository.get('M-1');

    const updated = upload(key, bytes, 0x11, { title: 'New title', available: 'no' });
    expect(await ingest(deps, updated)).toEqual({ outcome: 'metadata_updated', itemId: 'M-1' });
    const after = await repository.get('M-1');
    expect(after).toMatchObject({ title: 'New title', available: false, createdAt: before?.createdAt });
    expect(after).not.toHaveProperty('price');
    expect(after?.vectors).toEqual(before?.vectors);
    expect(after?.source.sequencer).toBe(normaliseSequencer('11'));
    expect(embedder.embedded).toHaveLength(1);
  });

  it('rejects an image the model cannot embed, with its code', async () => {
    const { deps, repository, upload } = world();
    const created = upload('catalogue/R-1.png', invalidImageBytes('garbage'), 0x10);
    expect(await ingest(deps, created)).toEqual({
      outcome: 'rejected',
      itemId: 'R-1',
      code: 'corrupt_image',
    });
    expect(await repository.get('R-1')).toMatchObject({
      status: 'rejected',
      vectors: {},
      rejection: { code: 'corrupt_image' },
    });
  });

  it('keeps the last good vector when a replacement is rejected (update_rejected), until a good one arrives', async () => {
    const { deps, repository, embedder, upload } = world();
    const key = 'catalogue/U-1.png';
    const good = imageBytes('good photo');
    expect((await ingest(deps, upload(key, good, 0x10))).outcome).toBe('ready');

    const broken = upload(key, invalidImageBytes('broken photo'), 0x11);
    expect(await ingest(deps, broken)).toEqual({
      outcome: 'update_rejected',
      itemId: 'U-1',
      code: 'corrupt_image',
    });
    const kept = await repository.get('U-1');
    expect(kept).toMatchObject({
      status: 'ready',
      source: { sequencer: normaliseSequencer('10') },
      lastUpdateError: { code: 'corrupt_image', key, etag: broken.etag, sequencer: normaliseSequencer('11') },
    });
    expect(kept?.vectors['fake-model']).toEqual(embedder.vectorOf(good));
    // The failed event counts as applied: its duplicate is not processed again.
    expect((await ingest(deps, broken)).outcome).toBe('stale');

    const fixed = imageBytes('fixed photo');
    expect((await ingest(deps, upload(key, fixed, 0x12))).outcome).toBe('ready');
    const replaced = await repository.get('U-1');
    expect(replaced?.vectors['fake-model']).toEqual(embedder.vectorOf(fixed));
    expect(replaced).not.toHaveProperty('lastUpdateError');
  });

  it('embeds with every model, and embeds again when a model is added', async () => {
    const active = new FakeImageEmbedder('model-active', 8);
    const next = new FakeImageEmbedder('model-next', 4);
    const { deps, repository, upload } = world([active, next]);
    const key = 'catalogue/N-1.png';
    const bytes = imageBytes('two models');
    expect(await ingest(deps, upload(key, bytes, 0x10))).toEqual({
      outcome: 'ready',
      itemId: 'N-1',
      modelIds: ['model-active', 'model-next'],
    });
    const item = await repository.get('N-1');
    expect(item?.dim).toBe(8);
    expect(item?.vectors).toEqual({
      'model-active': active.vectorOf(bytes),
      'model-next': next.vectorOf(bytes),
    });

    // Same content, every model present: only the metadata is written.
    expect((await ingest(deps, upload(key, bytes, 0x11, { title: 'x' }))).outcome).toBe('metadata_updated');
    // A third model rolled out: the same content is embedded again, for all three.
    const third = new FakeImageEmbedder('model-third', 6);
    const withThird = { ...deps, embedders: [active, next, third] };
    expect(await ingest(withThird, upload(key, bytes, 0x12))).toMatchObject({
      outcome: 'ready',
      modelIds: ['model-active', 'model-next', 'model-third'],
    });
    expect(Object.keys((await repository.get('N-1'))?.vectors ?? {}).sort()).toEqual([
      'model-active',
      'model-next',
      'model-third',
    ]);
  });
});

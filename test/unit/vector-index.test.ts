import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ExactIndex,
  exactSearchReference,
  type ItemAttributes,
  type SearchRequest,
  type SnapshotLayout,
  snapshotLayout,
  VectorIndexError,
} from '../../functions/vector-index';
import {
  assembleKernel,
  KERNEL_WAT_PATH,
  renderKernelModule,
} from '../../functions/vector-index/build-kernel';
import { INT8_KERNEL_WASM_BASE64 } from '../../functions/vector-index/int8-kernel.wasm';
import { seededUniform } from '../support/seeded-random';

// Not a multiple of the kernel's 32-component step, so row and query padding is exercised.
const DIM = 200;

/**
 * The index's copy of `vector`: int8 times a per-item scale max|v| / 127, so every component within
 * half a step, max|v| / 254 (and the float32 rounding in the quantiser and of the product: 1e-4 of a
 * step; 1e-42 for a subnormal row, whose float32 scale has few significant bits).
 */
function expectHeldAs(held: Float32Array | undefined, vector: Float32Array): void {
  expect(held).toBeInstanceOf(Float32Array);
  const maxAbs = vector.reduce((max, v) => Math.max(max, Math.abs(v)), 0);
  (held as Float32Array).forEach((value, j) => {
    expect(Math.abs(value - (vector[j] as number))).toBeLessThanOrEqual((maxAbs / 254) * (1 + 1e-4) + 1e-42);
  });
}
const CATEGORIES = ['shoes', 'bags', 'hats', 'coats'];
/** A format-2 snapshot and what it holds: see test/fixtures/README.md (written at commit f910eb8). */
const V2_FIXTURE = join(__dirname, '../fixtures/snapshots/v2-small.lkvi');
const V2_FIXTURE_ITEMS: Array<[string, number[], ItemAttributes]> = [
  ['tee-01', [1, 0, 0, 0], { category: 'tops', available: true, publishedAt: 1_764_500_000_000 }],
  ['bag-02', [0.6, 0.8, 0, 0], { category: 'bags', available: true }],
  [
    'chapeau-ünï-🧢',
    [0.5, 0.5, 0.5, 0.5],
    { category: 'chapeaux-🎩', available: false, publishedAt: 86_400_000 },
  ],
  ['plain-04', [0, 0, -0.6, 0.8], { available: true }],
  ['tee-05', [-0.5, 0.5, -0.5, 0.5], { category: 'tops', available: true }],
];

function normalised(vector: Float32Array): Float32Array {
  const norm = Math.hypot(...vector);
  return vector.map((x) => x / norm);
}

/** Unit embeddings around a few hundred style centres, like a catalogue of lookalike products. */
function syntheticCatalogue(seed: number, itemCount: number, centreCount = 200) {
  const random = seededUniform(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const centres = Array.from({ length: centreCount }, () =>
    normalised(Float32Array.from({ length: DIM }, gaussian)),
  );
  const near = (spread: number) => {
    const centre = centres[Math.floor(random() * centreCount)] as Float32Array;
    return normalised(centre.map((x) => x + spread * gaussian()));
  };
  const items = Array.from({ length: itemCount }, (_, i) => ({
    itemId: `item-${i}`,
    embedding: near(0.08),
    attributes: { category: CATEGORIES[i % CATEGORIES.length], available: i % 7 !== 0 } as ItemAttributes,
  }));
  return { items, query: () => near(0.1) };
}

function indexOf(
  items: ReturnType<typeof syntheticCatalogue>['items'],
  initialCapacity?: number,
): ExactIndex {
  const index = new ExactIndex(DIM, { initialCapacity });
  for (const { itemId, embedding, attributes } of items) index.upsert(itemId, embedding, attributes);
  return index;
}

const catalogue = syntheticCatalogue(42, 10_000);
// Starting at capacity 1 makes the 10k upserts go through every doubling of the wasm memory.
const index = indexOf(catalogue.items, 1);
const queries = Array.from({ length: 60 }, catalogue.query);

describe('ExactIndex search', () => {
  it('finds at least 99% of the exact float32 top 10 on clustered data', () => {
    let found = 0;
    for (const query of queries) {
      const exact = new Set(
        exactSearchReference(index, { queries: [query], k: 10 }).map((hit) => hit.itemId),
      );
      found += index.search({ queries: [query], k: 10 }).filter((hit) => exact.has(hit.itemId)).length;
    }
    expect(found / (10 * queries.length)).toBeGreaterThanOrEqual(0.99);
  });

  it('returns exact float32 scores, best first', () => {
    const query = queries[0] as Float32Array;
    const hits = index.search({ queries: [query], k: 25 });
    expect(hits).toHaveLength(25);
    for (const { itemId, score } of hits) {
      const embedding = index.vector(itemId) as Float32Array;
      expect(score).toBeCloseTo(
        embedding.reduce((sum, x, j) => sum + x * (query[j] as number), 0),
        12,
      );
    }
    expect(hits.map((hit) => hit.score)).toEqual([...hits.map((hit) => hit.score)].sort((a, b) => b - a));
  });

  it('blends several interest queries exactly as the reference does', () => {
    const request: SearchRequest = { queries: queries.slice(1, 4), weights: [0.5, 0.3, 0.2], k: 20 };
    expect(index.search(request)).toEqual(exactSearchReference(index, request));
    const equalWeights: SearchRequest = { queries: queries.slice(4, 6), k: 10 };
    expect(index.search(equalWeights)).toEqual(exactSearchReference(index, equalWeights));
  });

  it('honours filters and still returns k items when the best candidates are filtered out', () => {
    const query = queries[6] as Float32Array;
    // Exclude more items than the 200 default candidates: every approximate favourite is rejected.
    const excluded = new Set(
      exactSearchReference(index, { queries: [query], k: 500 }).map((hit) => hit.itemId),
    );
    const request: SearchRequest = {
      queries: [query],
      k: 10,
      accept: (itemId, { category, available }) => available && category === 'bags' && !excluded.has(itemId),
    };
    const hits = index.search(request);
    expect(hits).toHaveLength(10);
    expect(hits).toEqual(exactSearchReference(index, request));
    for (const { itemId } of hits) {
      expect(excluded.has(itemId)).toBe(false);
      expect(index.attributes(itemId)).toEqual({ category: 'bags', available: true });
    }
  });

  it('returns every eligible item when fewer than k are eligible', () => {
    const few = new Set(['item-3', 'item-5000', 'item-9998']);
    const hits = index.search({
      queries: [queries[7] as Float32Array],
      k: 10,
      accept: (itemId) => few.has(itemId),
    });
    expect(new Set(hits.map((hit) => hit.itemId))).toEqual(few);
  });

  it('rejects malformed requests with stable codes', () => {
    const query = queries[0] as Float32Array;
    const codeOf = (request: SearchRequest) => {
      try {
        index.search(request);
      } catch (error) {
        return (error as VectorIndexError).code;
      }
      return 'accepted';
    };
    expect(codeOf({ queries: [new Float32Array(DIM + 1)], k: 10 })).toBe('dimension_mismatch');
    expect(codeOf({ queries: [query], k: 0 })).toBe('invalid_search');
    expect(codeOf({ queries: [query], k: 1001 })).toBe('invalid_search');
    expect(codeOf({ queries: [], k: 10 })).toBe('invalid_search');
    expect(codeOf({ queries: Array(9).fill(query), k: 10 })).toBe('invalid_search');
    expect(codeOf({ queries: [query, query], weights: [1], k: 10 })).toBe('invalid_search');
    expect(() => index.upsert('bad', new Float32Array(DIM).fill(Number.NaN), { available: true })).toThrow(
      VectorIndexError,
    );
  });
});

describe('ExactIndex updates', () => {
  const { items, query } = syntheticCatalogue(7, 3_000);

  it('replaces an item on upsert instead of adding it again', () => {
    const updated = indexOf(items);
    const probe = query();
    updated.upsert('item-10', probe, { category: 'hats', available: false });
    expect(updated.size).toBe(items.length);
    expectHeldAs(updated.vector('item-10'), probe);
    expect(updated.attributes('item-10')).toEqual({ category: 'hats', available: false });
    expect(updated.search({ queries: [probe], k: 1 })).toEqual([
      { itemId: 'item-10', score: expect.any(Number) },
    ]);
  });

  it('holds each vector as int8 with a per-item scale: within half a step of each component, and a fixed point', () => {
    const held = indexOf(items);
    for (const { itemId, embedding } of items.slice(0, 200)) {
      const vector = held.vector(itemId) as Float32Array;
      expectHeldAs(vector, embedding);
      // Upserting the vector the index holds changes nothing (a snapshot's round trip).
      held.upsert(itemId, vector, { available: true });
      expect(
        Buffer.from((held.vector(itemId) as Float32Array).buffer).equals(Buffer.from(vector.buffer)),
      ).toBe(true);
    }
    // Extremes: an all-zero row, a tiny one, one at the float32 range's top.
    for (const [id, vector] of [
      ['zero', new Float32Array(DIM)],
      ['tiny', Float32Array.from({ length: DIM }, (_, j) => (j % 2 ? 1 : -1) * 1e-40)],
      ['huge', Float32Array.from({ length: DIM }, (_, j) => (j - DIM / 2) * 1e36)],
    ] as const) {
      held.upsert(id, vector, { available: true });
      expectHeldAs(held.vector(id), vector);
    }
  });

  it('never returns a removed item, and the items moved into removed rows stay searchable', () => {
    const pruned = indexOf(items);
    const probe = query();
    const removed = new Set(pruned.search({ queries: [probe], k: 50 }).map((hit) => hit.itemId));
    for (let i = 0; i < items.length; i += 3) removed.add(`item-${i}`);
    for (const itemId of removed) expect(pruned.remove(itemId)).toBe(true);
    expect(pruned.remove('item-0')).toBe(false);
    expect(pruned.size).toBe(items.length - removed.size);
    for (const itemId of removed) expect(pruned.has(itemId)).toBe(false);

    for (const request of [
      { queries: [probe], k: 100 },
      { queries: [query()], k: 10, candidates: 20 },
    ]) {
      const hits = pruned.search(request);
      expect(hits.filter((hit) => removed.has(hit.itemId))).toEqual([]);
      expect(hits).toEqual(exactSearchReference(pruned, request));
    }
    // With no re-ranking slack the answer is the approximate ranking itself: rows moved by removals
    // must carry their int8 copy and scale along to match an index built from the survivors.
    const rebuilt = indexOf(items.filter(({ itemId }) => !removed.has(itemId)));
    for (let q = 0; q < 20; q++) {
      const request = { queries: [query()], k: 10, candidates: 10 };
      expect(pruned.search(request)).toEqual(rebuilt.search(request));
    }
    // Every survivor still answers a search for its own embedding, whichever row it now sits in.
    for (let i = 1; i < items.length; i += 97) {
      const { itemId, embedding } = items[i] as (typeof items)[number];
      if (!removed.has(itemId)) expect(pruned.search({ queries: [embedding], k: 1 })[0]?.itemId).toBe(itemId);
    }
  });
});

describe('ExactIndex snapshots', () => {
  const { items, query } = syntheticCatalogue(11, 2_000);
  const original = indexOf(items);
  original.upsert('no-category', query(), { available: true });
  original.upsert('ünïcödé-🧢', query(), { category: 'chapeaux-🎩', available: false });
  original.upsert('new-arrival', query(), {
    category: 'hats',
    available: true,
    publishedAt: 1_764_500_000_000,
  });
  original.upsert('dated', query(), { available: true, publishedAt: 86_400_000 });
  // Tags and prices on every third item, so the tag offsets and references span many rows.
  const TAG_POOL = ['red', 'wool', 'summer', 'ünï-🧵', 'sale', 'linen', 'kids'];
  items.forEach(({ itemId, embedding, attributes }, i) => {
    if (i % 3 !== 0) return;
    const tags = TAG_POOL.filter((_, t) => (i >> t) % 2 === 1);
    original.upsert(itemId, embedding, { ...attributes, tags, price: i / 100 });
  });
  original.upsert('tagged', query(), {
    category: 'coats',
    available: true,
    tags: ['wool', 'red', 'wool', '🧥 hiver'],
    price: 19.99,
  });
  original.upsert('free', query(), { available: true, price: 0 });
  original.upsert('tags-no-price', query(), { available: false, tags: ['summer'] });
  const snapshot = original.serialise();

  const format3 = original.serialise(3);

  it('round-trips ids, vectors, attributes and search results, in format 6 and format 3', () => {
    // An odd offset: the rows and scales are copied into wasm memory byte for byte either way.
    const unaligned = (bytes: Uint8Array) => {
      const shifted = new Uint8Array(bytes.length + 1).subarray(1);
      shifted.set(bytes);
      return shifted;
    };
    for (const bytes of [snapshot.slice(), unaligned(snapshot), format3.slice(), unaligned(format3)]) {
      const loaded = ExactIndex.deserialise(bytes);
      expect(loaded.dim).toBe(DIM);
      expect([...loaded.ids()]).toEqual([...original.ids()]);
      for (const itemId of original.ids()) {
        const [before, after] = [original.vector(itemId), loaded.vector(itemId)] as Float32Array[];
        // Byte equality: toEqual on 2000 Float32Arrays is slow, and bytes also catch -0 vs 0.
        expect(
          Buffer.from((after as Float32Array).buffer).equals(Buffer.from((before as Float32Array).buffer)),
        ).toBe(true);
        expect(loaded.attributes(itemId)).toEqual(original.attributes(itemId));
      }
      const request = { queries: [query(), query()], weights: [0.7, 0.3], k: 30 };
      expect(loaded.search(request)).toEqual(original.search(request));
      loaded.upsert('after-load', query(), { available: true });
      expect(loaded.size).toBe(original.size + 1);
    }
  });

  it('loads formats 3 and 6 into the same int8 rows (format 5 within a step): identical results on every search path', () => {
    const fromFormat3 = ExactIndex.deserialise(format3.slice());
    const fromFormat6 = ExactIndex.deserialise(snapshot.slice());
    // The float32 rows format 3 holds (the held vectors) quantise back to the int8 rows format 6 stored.
    expect(Buffer.from(fromFormat3.serialise()).equals(Buffer.from(snapshot))).toBe(true);
    // Format 5's int16 rows are within 2^-15 of them: quantised again, a component moves by a step at
    // most (a rounding tie that the int16 rounding tipped).
    const format5 = original.serialise(5);
    expect(Buffer.from(format5.buffer, format5.byteOffset, 6).readUInt16LE(4)).toBe(5);
    const fromFormat5 = ExactIndex.deserialise(format5);
    for (const itemId of original.ids()) {
      const [held, reloaded] = [fromFormat6.vector(itemId), fromFormat5.vector(itemId)] as Float32Array[];
      const step = (held as Float32Array).reduce((max, v) => Math.max(max, Math.abs(v)), 0) / 127;
      (reloaded as Float32Array).forEach((value, j) => {
        expect(Math.abs(value - ((held as Float32Array)[j] as number))).toBeLessThanOrEqual(step * 1.001);
      });
    }
    const hats = (_: string, attributes: ItemAttributes) => attributes.category === 'hats';
    for (let q = 0; q < 20; q++) {
      const queries = [query(), query()];
      // candidates below the item count: the int8 scan chooses what is re-ranked.
      const requests: SearchRequest[] = [
        { queries: [queries[0] as Float32Array], k: 10, candidates: 10 },
        { queries, weights: [0.6, 0.4], k: 25, candidates: 40 },
        { queries: [queries[1] as Float32Array], k: 10, candidates: 12, accept: hats },
      ];
      for (const request of requests) {
        const expected = fromFormat3.search(request);
        expect(expected).toHaveLength(request.k);
        expect(fromFormat6.search(request)).toEqual(expected);
      }
      const many = {
        queries,
        searches: [
          { k: 10, candidates: 10 },
          { k: 5, candidates: 8, accept: hats },
        ],
      };
      expect(fromFormat6.searchMany(many)).toEqual(fromFormat3.searchMany(many));
    }
  });

  it("keeps each item's attributes when removals move loaded rows", () => {
    const loaded = ExactIndex.deserialise(snapshot.slice());
    const removed = [...original.ids()].filter((_, i) => i % 5 === 1);
    for (const itemId of removed) expect(loaded.remove(itemId)).toBe(true);
    expect(loaded.size).toBe(original.size - removed.length);
    for (const itemId of loaded.ids()) expect(loaded.attributes(itemId)).toEqual(original.attributes(itemId));
    const written = ExactIndex.deserialise(loaded.serialise());
    for (const itemId of loaded.ids())
      expect(written.attributes(itemId)).toEqual(original.attributes(itemId));
  });

  it('reads ids in place after a load: removals, moves and re-added ids agree with an index built by upserts', () => {
    const built = new ExactIndex(DIM);
    const ids = ['ünï-0', ...Array.from({ length: 400 }, (_, i) => `id-${i}`), '🧢-cap', 'x'.repeat(1024)];
    const vectors = new Map(ids.map((id) => [id, query()]));
    for (const id of ids) built.upsert(id, vectors.get(id) as Float32Array, { available: true });
    const loaded = ExactIndex.deserialise(built.serialise());
    const replacement = query();
    const apply = (index: ExactIndex) => {
      for (let i = 0; i < 400; i += 9) expect(index.remove(`id-${i}`)).toBe(true);
      expect(index.remove('ünï-0')).toBe(true);
      expect(index.remove('ünï-0')).toBe(false);
      index.upsert('id-9', replacement, { available: false });
      index.upsert('id-18', vectors.get('id-18') as Float32Array, { available: true, category: 'back' });
      index.upsert('new-one', vectors.get('id-1') as Float32Array, { available: true });
      index.upsert('🧢-cap', vectors.get('🧢-cap') as Float32Array, { available: true, price: 3 });
    };
    const replayed = new ExactIndex(DIM);
    for (const id of ids) replayed.upsert(id, vectors.get(id) as Float32Array, { available: true });
    apply(replayed);
    apply(loaded);
    expect(new Set(loaded.ids())).toEqual(new Set(replayed.ids()));
    expect(loaded.size).toBe(replayed.size);
    for (const id of [...ids, 'new-one', 'never-there', 'id-', '']) {
      expect(loaded.has(id)).toBe(replayed.has(id));
      expect(loaded.attributes(id)).toEqual(replayed.attributes(id));
      expect(loaded.vector(id)).toEqual(replayed.vector(id));
    }
    for (let q = 0; q < 5; q++) {
      const request = { queries: [query()], k: 25, candidates: 60 };
      expect(loaded.search(request)).toEqual(replayed.search(request));
    }
    // Written again and loaded, it holds the same items.
    const again = ExactIndex.deserialise(loaded.serialise());
    expect([...again.ids()]).toEqual([...loaded.ids()]);
  });

  it('writes format 6 (3 and 4 on request), whose items keep their tags (in order, frozen) and exact prices', () => {
    const versionOf = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, 6).readUInt16LE(4);
    expect(versionOf(snapshot)).toBe(6);
    expect(versionOf(format3)).toBe(3);
    expect(versionOf(original.serialise(4))).toBe(4);
    // The int8 rows and scales only, no float32 rows: under 30% of format 4's bytes at 200-d.
    expect(snapshot.byteLength / original.serialise(4).byteLength).toBeLessThan(0.3);
    const loaded = ExactIndex.deserialise(snapshot.slice());
    expect(loaded.attributes('tagged')).toStrictEqual({
      category: 'coats',
      available: true,
      tags: ['wool', 'red', '🧥 hiver'],
      price: 19.99,
    });
    expect(loaded.attributes('tagged')?.price === 19.99).toBe(true);
    expect(loaded.attributes('free')).toStrictEqual({ available: true, price: 0 });
    expect(loaded.attributes('tags-no-price')).toStrictEqual({ available: false, tags: ['summer'] });
    expect(loaded.attributes('no-category')).toStrictEqual({ available: true });
    expect(loaded.attributes('item-6')).toStrictEqual({
      category: 'hats',
      available: true,
      tags: ['wool', 'summer'],
      price: 0.06,
    });
    expect(loaded.attributes('item-0')).toStrictEqual({ category: 'shoes', available: false, price: 0 });
    for (const itemId of loaded.ids()) {
      const attributes = loaded.attributes(itemId) as ItemAttributes;
      expect(Object.isFrozen(attributes)).toBe(true);
      if (attributes.tags) expect(Object.isFrozen(attributes.tags)).toBe(true);
    }
    // A loaded index writes the same bytes again, in any format.
    expect(Buffer.from(loaded.serialise()).equals(Buffer.from(snapshot))).toBe(true);
    expect(Buffer.from(loaded.serialise(3)).equals(Buffer.from(format3))).toBe(true);
    expect(Buffer.from(loaded.serialise(4)).equals(Buffer.from(original.serialise(4)))).toBe(true);
  });

  it('reads format 1 (no publishedAt section): the same items, none of them dated', () => {
    // Format 1 is format 2 without the count x u32 publishedAt section, its labels and matrix moved up.
    const v2 = Buffer.from(readFileSync(V2_FIXTURE));
    const count = v2.readUInt32LE(12);
    const labelBytes = v2.readUInt32LE(20);
    const oldMatrix = v2.readUInt32LE(24);
    const labelsStart = 32 + 4 * count;
    const matrixOffset = Math.ceil((labelsStart + labelBytes) / 64) * 64;
    const v1 = Buffer.alloc(matrixOffset + (v2.length - oldMatrix));
    v2.copy(v1, 0, 0, labelsStart);
    v2.copy(v1, labelsStart, labelsStart + 4 * count, labelsStart + 4 * count + labelBytes);
    v2.copy(v1, matrixOffset, oldMatrix);
    v1.writeUInt16LE(1, 4);
    v1.writeUInt32LE(matrixOffset, 24);

    const loaded = ExactIndex.deserialise(new Uint8Array(v1));
    expect([...loaded.ids()]).toEqual(V2_FIXTURE_ITEMS.map(([itemId]) => itemId));
    for (const [itemId, vector, attributes] of V2_FIXTURE_ITEMS) {
      const { publishedAt: _dropped, ...undated } = attributes;
      expect(loaded.attributes(itemId)).toStrictEqual(undated);
      expectHeldAs(loaded.vector(itemId), Float32Array.from(vector));
    }
  });

  it('refuses a publishedAt that is not a whole, non-negative number of ms', () => {
    const index = new ExactIndex(DIM);
    for (const publishedAt of [-1, 1.5, Number.NaN])
      expect(() => index.upsert('bad', query(), { available: true, publishedAt })).toThrow(/publishedAt/);
  });

  /** What a download of `bytes` by its layout leaves: the prefix, and the rows and scales in a receiving index. */
  const placedLoad = (bytes: Uint8Array, count = ExactIndex.deserialise(bytes.slice()).size) => {
    const layout = snapshotLayout(bytes) as SnapshotLayout;
    const rows = ExactIndex.receiving(DIM, count);
    rows.rows.set(bytes.subarray(layout.matrixOffset, layout.matrixOffset + rows.rows.byteLength));
    rows.scales.set(bytes.subarray(layout.scalesOffset, layout.scalesOffset + rows.scales.byteLength));
    return { prefix: bytes.slice(0, layout.matrixOffset), rows, byteLength: bytes.byteLength };
  };

  it("adopts format 6's rows and scales where a download put them: the same index as a load of the whole", () => {
    const layout = snapshotLayout(snapshot) as SnapshotLayout;
    expect(layout).toEqual({
      matrixOffset: expect.any(Number),
      stride: ExactIndex.strideFor(DIM),
      scalesOffset: layout.matrixOffset + Math.ceil((original.size * ExactIndex.strideFor(DIM)) / 64) * 64,
    });
    expect(layout.matrixOffset % 64).toBe(0);
    expect(snapshotLayout(format3)).toBeUndefined();
    const { prefix, rows, byteLength } = placedLoad(snapshot);
    const loaded = ExactIndex.deserialise(prefix, { rows, byteLength });
    expect(loaded).toBe(rows.index);
    // Byte for byte what it was loaded from, so every id, attribute and vector came through.
    expect(Buffer.from(loaded.serialise()).equals(Buffer.from(snapshot))).toBe(true);
    const request = { queries: [query(), query()], weights: [0.7, 0.3], k: 30 };
    expect(loaded.search(request)).toEqual(original.search(request));
    // It grows past the size it was made for, its rows moving with it.
    const added = Array.from({ length: 3000 }, (_, i) => [`added-${i}`, query()] as const);
    for (const [itemId, vector] of added) loaded.upsert(itemId, vector, { available: true });
    expect(loaded.search(request).slice(0, 5)).toEqual(
      ExactIndex.deserialise(loaded.serialise()).search(request).slice(0, 5),
    );
    expectHeldAs(loaded.vector('tagged'), original.vector('tagged') as Float32Array);
  });

  it("refuses rows placed by a layout that is not the snapshot's, or scales that are not finite", () => {
    const codeOf = (load: () => unknown) => {
      try {
        load();
      } catch (error) {
        return (error as VectorIndexError).code;
      }
      return 'accepted';
    };
    const { prefix, rows, byteLength } = placedLoad(snapshot);
    // A prefix cut elsewhere than the matrix offset, another length, another count or dimension.
    expect(
      codeOf(() => ExactIndex.deserialise(prefix.subarray(0, prefix.length - 64), { rows, byteLength })),
    ).toBe('corrupt_snapshot');
    expect(codeOf(() => ExactIndex.deserialise(prefix, { rows, byteLength: byteLength + 64 }))).toBe(
      'corrupt_snapshot',
    );
    expect(
      codeOf(() =>
        ExactIndex.deserialise(prefix, { rows: ExactIndex.receiving(DIM, original.size - 1), byteLength }),
      ),
    ).toBe('corrupt_snapshot');
    expect(
      codeOf(() =>
        ExactIndex.deserialise(prefix, { rows: ExactIndex.receiving(DIM + 1, original.size), byteLength }),
      ),
    ).toBe('corrupt_snapshot');
    // Not format 6.
    expect(
      codeOf(() => ExactIndex.deserialise(format3.slice(0, 64), { rows, byteLength: format3.length })),
    ).toBe('corrupt_snapshot');
    const nan = placedLoad(snapshot);
    new DataView(nan.rows.scales.buffer, nan.rows.scales.byteOffset).setFloat32(4 * 7, Number.NaN, true);
    expect(codeOf(() => ExactIndex.deserialise(nan.prefix, { rows: nan.rows, byteLength }))).toBe(
      'corrupt_snapshot',
    );
    expect(codeOf(() => ExactIndex.deserialise(prefix, { rows, byteLength }))).toBe('accepted');
  });

  it('round-trips an empty index', () => {
    const loaded = ExactIndex.deserialise(new ExactIndex(DIM).serialise());
    expect(loaded.size).toBe(0);
    expect(loaded.search({ queries: [query()], k: 10 })).toEqual([]);
  });

  it('refuses corrupt or unknown snapshots with stable codes', () => {
    const codeOf = (bytes: Uint8Array) => {
      try {
        ExactIndex.deserialise(bytes);
      } catch (error) {
        return (error as VectorIndexError).code;
      }
      return 'accepted';
    };
    const newerVersion = snapshot.slice();
    newerVersion[4] = 7;
    expect(codeOf(newerVersion)).toBe('unsupported_snapshot');
    expect(codeOf(snapshot.subarray(0, snapshot.length - 4))).toBe('corrupt_snapshot');
    expect(codeOf(format3.subarray(0, format3.length - 4))).toBe('corrupt_snapshot');
    expect(codeOf(new TextEncoder().encode('definitely not a snapshot, just some words'))).toBe(
      'corrupt_snapshot',
    );
    const twins = new ExactIndex(DIM);
    twins.upsert('twin-a', query(), { available: true });
    twins.upsert('twin-b', query(), { available: true });
    const duplicateIds = Buffer.from(twins.serialise());
    duplicateIds.write('a', duplicateIds.indexOf('twin-b') + 5);
    expect(codeOf(duplicateIds)).toBe('corrupt_snapshot');
    // Formats 3 and 4 quantise their float32 rows on load, which finds a non-finite vector; format 6
    // checks the stored scales (finite, not negative).
    for (const floats of [format3, original.serialise(4)]) {
      const nanVector = floats.slice();
      new DataView(nanVector.buffer).setFloat32(nanVector.length - 4, Number.NaN, true);
      expect(codeOf(nanVector)).toBe('corrupt_snapshot');
    }
    const header = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, 40);
    const matrixOffset = header(snapshot).readUInt32LE(24);
    const scalesOffset = header(snapshot).readUInt32LE(36);
    for (const scale of [Number.NaN, -0.5, Number.POSITIVE_INFINITY, 0.3, -0]) {
      const badScale = snapshot.slice();
      new DataView(badScale.buffer).setFloat32(scalesOffset + 8, scale, true);
      expect(codeOf(badScale)).toBe(Number.isFinite(scale) && scale >= 0 ? 'accepted' : 'corrupt_snapshot');
    }
    const format4 = original.serialise(4);
    for (const [bytes, at, value] of [
      [format4, 32, DIM - 1], // a stride shorter than a row
      [format4, 36, header(format4).readUInt32LE(36) + 64], // float rows past the end
      [format4, 36, header(format4).readUInt32LE(24)], // float rows over the int8 rows
      [format4, 6, 32], // a format-4 header of format 3's size
      [snapshot, 32, DIM - 1], // a stride shorter than a row
      [snapshot, 32, 256], // rows that would run over the scales
      [snapshot, 36, scalesOffset + 64], // scales past the end
      [snapshot, 36, matrixOffset], // scales over the int8 rows
      [snapshot, 6, 32], // a format-6 header of format 3's size
    ] as const) {
      const bad = bytes.slice();
      if (at === 6) header(bad).writeUInt16LE(value, at);
      else header(bad).writeUInt32LE(value, at);
      expect(codeOf(bad)).toBe('corrupt_snapshot');
    }
  });

  it("ignores a format-4 snapshot's int8 rows (another stride, or garbage): they are quantised again", () => {
    // A format-4 snapshot whose rows a different kernel step laid out: 256 bytes per row, not 224.
    const small = new ExactIndex(DIM);
    const vectors = Array.from({ length: 5 }, query);
    vectors.forEach((vector, i) => {
      small.upsert(`s-${i}`, vector, { available: true });
    });
    const bytes = Buffer.from(small.serialise(4));
    const count = 5;
    const matrixOffset = bytes.readUInt32LE(24);
    const stride = bytes.readUInt32LE(32);
    expect(stride).toBe(224);
    const wide = 256;
    const floatOffset = Math.ceil((matrixOffset + count * (wide + 4)) / 64) * 64;
    const rewritten = Buffer.alloc(floatOffset + count * DIM * 4);
    bytes.copy(rewritten, 0, 0, matrixOffset);
    rewritten.writeUInt32LE(wide, 32);
    rewritten.writeUInt32LE(floatOffset, 36);
    // Garbage int8 rows and scales: they are ignored, the rows are quantised from the floats.
    rewritten.fill(0x55, matrixOffset, matrixOffset + count * (wide + 4));
    bytes.copy(rewritten, floatOffset, bytes.readUInt32LE(36));
    const loaded = ExactIndex.deserialise(new Uint8Array(rewritten));
    expect(Buffer.from(loaded.serialise(4)).equals(bytes)).toBe(true);
    expect(Buffer.from(loaded.serialise()).equals(Buffer.from(small.serialise()))).toBe(true);
    expect(loaded.search({ queries: [vectors[3] as Float32Array], k: 1, candidates: 1 })[0]?.itemId).toBe(
      's-3',
    );
  });
});

describe('snapshots written by older code', () => {
  it('loads the committed format-2 fixture: ids, attributes (no tags or price) and vectors', () => {
    const bytes = new Uint8Array(readFileSync(V2_FIXTURE));
    expect(Buffer.from(bytes.buffer, bytes.byteOffset, 6).readUInt16LE(4)).toBe(2);
    const loaded = ExactIndex.deserialise(bytes);
    expect(loaded.dim).toBe(4);
    expect([...loaded.ids()]).toEqual(V2_FIXTURE_ITEMS.map(([itemId]) => itemId));
    for (const [itemId, vector, attributes] of V2_FIXTURE_ITEMS) {
      expectHeldAs(loaded.vector(itemId), Float32Array.from(vector));
      // toStrictEqual: no tags or price key at all, not even an undefined one.
      expect(loaded.attributes(itemId)).toStrictEqual(attributes);
      expect(Object.isFrozen(loaded.attributes(itemId))).toBe(true);
    }
    expect(loaded.search({ queries: [Float32Array.from([0.6, 0.8, 0, 0])], k: 1 })[0]?.itemId).toBe('bag-02');
    // Written again, it is format 6 with the same contents.
    const rewritten = ExactIndex.deserialise(loaded.serialise());
    for (const [itemId, , attributes] of V2_FIXTURE_ITEMS) {
      expect(rewritten.vector(itemId)).toEqual(loaded.vector(itemId));
      expect(rewritten.attributes(itemId)).toStrictEqual(attributes);
    }
  });

  it('refuses a format-2 snapshot whose reserved header word is not 0', () => {
    const bytes = new Uint8Array(readFileSync(V2_FIXTURE));
    Buffer.from(bytes.buffer, bytes.byteOffset, 32).writeUInt32LE(1, 28);
    expect(() => ExactIndex.deserialise(bytes)).toThrow(
      expect.objectContaining({ code: 'corrupt_snapshot' }),
    );
  });
});

describe('format-5 snapshots (int16 rows), written before format 6', () => {
  /** See test/fixtures/README.md: written by snapshots/make-v5-small.ts at commit 8a29435. */
  const V5_FIXTURE = join(__dirname, '../fixtures/snapshots/v5-small.lkvi');
  const V5_FIXTURE_ITEMS: Array<[string, number[], ItemAttributes]> = [
    [
      'tee-01',
      [1, 0, 0, 0],
      { category: 'tops', available: true, publishedAt: 1_764_500_000_000, price: 19.99 },
    ],
    ['bag-02', [0.6, 0.8, 0, 0], { category: 'bags', available: true, tags: ['leather', 'red'] }],
    ['chapeau-ünï-🧢', [0.5, 0.5, 0.5, 0.5], { category: 'chapeaux-🎩', available: false, price: 0 }],
    ['plain-04', [0, 0, -0.6, 0.8], { available: true }],
    ['tee-05', [-0.1, 0.7, -0.1, 0.7], { category: 'tops', available: true, tags: ['red'] }],
  ];

  it('loads the committed fixture: its int16 rows quantised to int8, attributes as written', () => {
    const bytes = new Uint8Array(readFileSync(V5_FIXTURE));
    expect(Buffer.from(bytes.buffer, bytes.byteOffset, 6).readUInt16LE(4)).toBe(5);
    const loaded = ExactIndex.deserialise(bytes);
    expect([...loaded.ids()]).toEqual(V5_FIXTURE_ITEMS.map(([itemId]) => itemId));
    for (const [itemId, vector, attributes] of V5_FIXTURE_ITEMS) {
      // Two roundings: int16 (2^-15 of the largest component), then int8 (half of 1/127 of it).
      const maxAbs = Math.max(...vector.map(Math.abs));
      (loaded.vector(itemId) as Float32Array).forEach((value, j) => {
        expect(Math.abs(value - (vector[j] as number))).toBeLessThanOrEqual(maxAbs / 254 + maxAbs * 2 ** -14);
      });
      expect(loaded.attributes(itemId)).toStrictEqual(attributes);
    }
    // Written again, it is format 6 and holds the same vectors.
    const rewritten = ExactIndex.deserialise(loaded.serialise());
    for (const [itemId] of V5_FIXTURE_ITEMS) expect(rewritten.vector(itemId)).toEqual(loaded.vector(itemId));
    expect(loaded.search({ queries: [Float32Array.from([0, 1, 0, 1])], k: 1 })[0]?.itemId).toBe('tee-05');
  });

  it('refuses a format-5 scale that is not a power of two (or 0)', () => {
    const bytes = new Uint8Array(readFileSync(V5_FIXTURE));
    const matrixOffset = Buffer.from(bytes.buffer, bytes.byteOffset, 40).readUInt32LE(24);
    for (const scale of [0.3, Number.NaN, -0.5]) {
      const bad = bytes.slice();
      new DataView(bad.buffer).setFloat32(matrixOffset + 4, scale, true);
      expect(() => ExactIndex.deserialise(bad)).toThrow(
        expect.objectContaining({ code: 'corrupt_snapshot' }),
      );
    }
  });
});

describe('publishedAfter, the hint of searches for new items', () => {
  const { items, query } = syntheticCatalogue(23, 3_000);
  const DAY = 86_400_000;
  const NOW = Date.UTC(2026, 11, 1);
  /** Every tenth item is new (published within the last week); the others are old or undated. */
  const build = () => {
    const index = new ExactIndex(DIM);
    items.forEach(({ itemId, embedding }, i) => {
      const publishedAt = i % 10 === 0 ? NOW - (i % 7) * DAY : i % 3 === 0 ? undefined : NOW - 400 * DAY;
      index.upsert(itemId, embedding, {
        available: true,
        ...(publishedAt === undefined ? {} : { publishedAt }),
      });
    });
    return index;
  };
  const cutoff = NOW - 14 * DAY;
  const isNew = (_: string, a: ItemAttributes) => a.publishedAt !== undefined && a.publishedAt > cutoff;

  it('gives what the filter alone gives, without asking it about old or undated items', () => {
    const index = build();
    const loaded = ExactIndex.deserialise(index.serialise());
    // A removal moves the last row into the hole: its date moves with it.
    for (const pruned of [index, loaded]) for (let i = 0; i < 300; i += 7) pruned.remove(`item-${i}`);
    for (const searched of [index, loaded]) {
      for (let q = 0; q < 5; q++) {
        const queries = [query()];
        for (const candidates of [40, 10_000]) {
          let asked = 0;
          const counted = (id: string, a: ItemAttributes) => {
            asked++;
            expect(isNew(id, a)).toBe(true);
            return true;
          };
          const hinted = searched.search({
            queries,
            k: 20,
            candidates,
            accept: counted,
            publishedAfter: cutoff,
          });
          expect(hinted).toEqual(searched.search({ queries, k: 20, candidates, accept: isNew }));
          expect(asked).toBeGreaterThan(0);
          const many = searched.searchMany({
            queries,
            searches: [{ k: 20, candidates, accept: counted, publishedAfter: cutoff }],
          });
          expect(many[0]).toEqual(hinted);
        }
      }
    }
  });
});

describe('item tags and prices', () => {
  const vector = Float32Array.from([0.6, 0.8, 0, 0]);

  it('keeps distinct tags in their order, frozen, and drops an empty list', () => {
    const index = new ExactIndex(4);
    const tags = ['b', 'a', 'b', 'c'];
    index.upsert('x', vector, { available: true, tags, price: 5 });
    tags.push('d');
    const attributes = index.attributes('x') as ItemAttributes;
    expect(attributes).toStrictEqual({ available: true, tags: ['b', 'a', 'c'], price: 5 });
    expect(Object.isFrozen(attributes.tags)).toBe(true);
    index.upsert('y', vector, { available: true, tags: [] });
    expect(index.attributes('y')).toStrictEqual({ available: true });
    const many = Array.from({ length: 40 }, (_, i) => `t${i % 32}`);
    index.upsert('z', vector, { available: true, tags: many });
    expect(index.attributes('z')?.tags).toHaveLength(32);
  });

  it('refuses malformed tags and prices with invalid_item', () => {
    const index = new ExactIndex(4);
    const bad: unknown[] = [
      { tags: Array.from({ length: 33 }, (_, i) => `t${i}`) },
      { tags: ['ok', 7] },
      { tags: [''] },
      { tags: ['x'.repeat(1025)] },
      { tags: 'red' },
      { price: -1 },
      { price: Number.NaN },
      { price: Number.POSITIVE_INFINITY },
      { price: '19.99' },
    ];
    for (const extra of bad) {
      expect(() =>
        index.upsert('bad', vector, { available: true, ...(extra as object) } as ItemAttributes),
      ).toThrow(expect.objectContaining({ code: 'invalid_item' }));
    }
    expect(index.size).toBe(0);
  });

  describe('corrupt format-3 snapshots', () => {
    // Four items: sections at 32 (attributes), 48 (publishedAt), 64 (prices), 96 (5 tag offsets),
    // 116 (4 tag references: a -> red tan, c -> tan ünï-🧵), then the labels.
    const small = new ExactIndex(4);
    small.upsert('a', vector, { category: 'tops', available: true, tags: ['red', 'tan'], price: 19.99 });
    small.upsert('b', vector, { available: true, price: 0 });
    small.upsert('c', vector, { available: false, tags: ['tan', 'ünï-🧵'] });
    small.upsert('d', vector, { available: true });
    const good = small.serialise(3);
    const codeOf = (change: (bytes: Buffer) => void) => {
      const bytes = good.slice();
      change(Buffer.from(bytes.buffer, 0, 132));
      try {
        ExactIndex.deserialise(bytes);
      } catch (error) {
        return (error as VectorIndexError).code;
      }
      return 'accepted';
    };

    it('reads the uncorrupted one', () => {
      expect(codeOf(() => {})).toBe('accepted');
      expect([96, 100, 104, 108, 112].map((at) => Buffer.from(good).readUInt32LE(at))).toEqual([
        0, 2, 2, 4, 4,
      ]);
      expect([116, 120, 124, 128].map((at) => Buffer.from(good).readUInt32LE(at))).toEqual([0, 1, 1, 2]);
    });

    it.each([
      ['a tag number out of range', (b: Buffer) => b.writeUInt32LE(3, 120)],
      ['a tag repeated within an item', (b: Buffer) => b.writeUInt32LE(0, 120)],
      ['tag offsets that decrease', (b: Buffer) => b.writeUInt32LE(1, 104)],
      ['a first tag offset other than 0', (b: Buffer) => b.writeUInt32LE(1, 96)],
      ['a reference count past the labels', (b: Buffer) => b.writeUInt32LE(0xffffffff, 112)],
      ['a reference count that shifts the labels', (b: Buffer) => b.writeUInt32LE(5, 112)],
      ['more tag labels than the section holds', (b: Buffer) => b.writeUInt32LE(4, 28)],
      ['a negative price', (b: Buffer) => b.writeDoubleLE(-1, 64)],
      ['an infinite price', (b: Buffer) => b.writeDoubleLE(Number.POSITIVE_INFINITY, 72)],
    ])('refuses %s', (_, change) => {
      expect(codeOf(change)).toBe('corrupt_snapshot');
    });

    it('refuses repeated tag labels', () => {
      const bytes = good.slice();
      const labels = Buffer.from(bytes.buffer);
      labels.write('red', labels.indexOf('tan'));
      expect(() => ExactIndex.deserialise(bytes)).toThrow(
        expect.objectContaining({ code: 'corrupt_snapshot' }),
      );
    });
  });
});

describe('int8 kernel build', () => {
  it('commits exactly the bytes that assembling int8-kernel.wat produces', async () => {
    const assembled = await assembleKernel();
    expect(Buffer.from(INT8_KERNEL_WASM_BASE64, 'base64').equals(Buffer.from(assembled))).toBe(true);
    const committedModule = readFileSync(KERNEL_WAT_PATH.replace(/\.wat$/, '.wasm.ts'), 'utf8');
    expect(committedModule).toBe(renderKernelModule(assembled));
  });
});

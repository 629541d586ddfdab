/**
 * Serving a promoted learned projection (issue 18, step 3) through in-memory ports: the promotion
 * re-projects the catalogue from its base vectors, never over a newer upload, records the space with
 * optimistic concurrency, and rolls back; the functions' registry reads are cached for a TTL; and an
 * upload racing a promotion ends up in the new space either way.
 */
import { createHash } from 'node:crypto';
import { type IngestDeps, ingest } from '../../functions/app/ingest';
import { DEFAULT_GATE_POLICY, type GateReport } from '../../functions/app/learned-similarity-gate';
import {
  type PromotionDeps,
  promoteProjection,
  rollbackProjection,
  SpaceResolver,
} from '../../functions/app/learned-space';
import type { ObjectChange } from '../../functions/app/ports';
import { RolloutRefused, retireSpace, rolloutStatus, switchSpace } from '../../functions/app/rollout';
import {
  DEFAULT_LEARNED_SIMILARITY_KNOBS,
  type LearnedProjection,
  LearnedSimilarityError,
  projectVector,
} from '../../functions/domain/learned-similarity';
import {
  baseModelOf,
  learnedSpaceId,
  MAX_SPACE_ID_LENGTH,
  projectionVersion,
} from '../../functions/domain/learned-space';
import { FakeImageEmbedder, imageBytes } from '../support/fakes/image-embedder';
import { InMemoryItemRepository } from '../support/fakes/item-repository';
import {
  InMemoryItemSnapshots,
  InMemoryProjectionArtefacts,
  projectionTargets,
} from '../support/fakes/learned-space';
import { InMemoryObjectStore } from '../support/fakes/object-store';
import {
  InMemoryCatalogueCoverage,
  InMemorySpaceSnapshots,
  InMemorySpacesRegistry,
} from '../support/fakes/rollout';

const BUCKET = 'catalogue-bucket';
const DIM = 8;
const T0 = Date.UTC(2026, 10, 1);
const SETTLE_MS = 60_000;

/** A projection that swaps dimension pairs and stretches the first: lists it serves differ. */
function projection(seed = 1, baseModelId = 'fake-model'): LearnedProjection {
  const matrix = new Array<number>(DIM * DIM).fill(0);
  for (let r = 0; r < DIM; r++) matrix[r * DIM + (r ^ 1)] = r === 0 ? 1 + seed : 1;
  return {
    baseModelId,
    version: `kissme-${seed}`,
    dim: DIM,
    matrix,
    trainedAt: new Date(T0).toISOString(),
    data: {
      events: 500,
      users: 80,
      items: 40,
      similarPairs: 1200,
      negativePairs: 10,
      sampledDissimilarPairs: 2390,
      metricShare: 0.6,
    },
    knobs: { ...DEFAULT_LEARNED_SIMILARITY_KNOBS, seed },
  };
}

function world() {
  let clock = T0;
  const embedder = new FakeImageEmbedder('fake-model', DIM);
  const repository = new InMemoryItemRepository();
  const objects = new InMemoryObjectStore();
  const registry = new InMemorySpacesRegistry();
  const artefacts = new InMemoryProjectionArtefacts();
  const snapshots = new InMemoryItemSnapshots(repository);
  const now = () => clock;
  /** Runs while the promotion waits for the functions' caches to expire. */
  let duringSettle: () => Promise<void> = async () => {};
  const promotion: PromotionDeps = {
    artefacts,
    items: projectionTargets(repository),
    snapshots,
    registry,
    now,
    settleMs: SETTLE_MS,
    // What happens during the wait happens at its start, within the functions' TTL.
    sleep: async (ms) => {
      await duringSettle();
      clock += ms;
    },
  };
  /** An embed function instance: its own registry cache, with the promotion's TTL. */
  const embedInstance = (): IngestDeps => {
    const resolver = new SpaceResolver(
      { registry, artefacts, now },
      { modelId: embedder.modelId, dim: DIM },
      SETTLE_MS,
    );
    return {
      repository,
      objects,
      embedders: [embedder],
      projections: async () => (await resolver.resolve()).written,
      now: () => ++clock,
    };
  };
  let sequencer = 0;
  const changeOf = (itemId: string, content = itemId): ObjectChange => {
    const key = `catalogue/${itemId}.png`;
    const bytes = imageBytes(content);
    objects.put(BUCKET, key, bytes);
    sequencer++;
    return {
      kind: 'created',
      bucket: BUCKET,
      key,
      sequencer: sequencer.toString(16).toUpperCase().padStart(4, '0'),
      eventTime: clock,
      etag: createHash('md5').update(bytes).digest('hex'),
      size: bytes.length,
    };
  };
  const upload = (deps: IngestDeps, itemId: string, content = itemId) =>
    ingest(deps, changeOf(itemId, content));
  return {
    embedder,
    repository,
    registry,
    artefacts,
    snapshots,
    promotion,
    embedInstance,
    upload,
    changeOf,
    base: { modelId: embedder.modelId, dim: DIM },
    setDuringSettle: (run: () => Promise<void>) => {
      duringSettle = run;
    },
    tick: (ms: number) => {
      clock += ms;
    },
  };
}

const winningGate = (candidate: LearnedProjection): GateReport => ({
  decision: 'promote',
  reasons: [],
  notes: [],
  baseModelId: candidate.baseModelId,
  data: {
    events: 500,
    users: 80,
    evaluatedUsers: 70,
    trainingEvents: 400,
    heldOutItems: 90,
    similarPairs: 1200,
  },
  figures: {
    base: { recall: 0.4, ndcg: 0.3, newItemHitRate: 0.5 },
    projected: { recall: 0.46, ndcg: 0.34, newItemHitRate: 0.5 },
    margins: {
      recall: { mean: 0.06, standardError: 0.01, users: 70 },
      ndcg: { mean: 0.04, standardError: 0.01, users: 70 },
      newItemHitRate: { mean: 0, standardError: 0.02, users: 31 },
    },
  },
  candidate,
  policy: DEFAULT_GATE_POLICY,
});

const refusal = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RolloutRefused);
  return (error as RolloutRefused).code;
};

describe('the space id of a learned projection', () => {
  it('is the base model id, a ~ and a version that depends only on the matrix', () => {
    const a = projection(1);
    expect(projectionVersion(a)).toMatch(/^p[0-9a-f]{10}$/);
    expect(projectionVersion({ ...a, version: 'other', trainedAt: 'later' } as LearnedProjection)).toBe(
      projectionVersion(a),
    );
    expect(projectionVersion(projection(2))).not.toBe(projectionVersion(a));
    const space = learnedSpaceId('fake-model', projectionVersion(a));
    expect(space).toBe(`fake-model~${projectionVersion(a)}`);
    expect(baseModelOf(space)).toBe('fake-model');
  });

  it('is refused with a code when the base model id leaves no room under the model-id limit', () => {
    const longBase = 'm'.repeat(MAX_SPACE_ID_LENGTH - 5);
    const error = (() => {
      try {
        learnedSpaceId(longBase, 'p0123456789');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(LearnedSimilarityError);
    expect((error as LearnedSimilarityError).code).toBe('space_id_too_long');
  });
});

describe('promoteProjection', () => {
  it('stores the artefact, re-projects every ready item from its base vector, snapshots, then serves the space', async () => {
    const w = world();
    const embed = w.embedInstance();
    for (const id of ['a', 'b', 'c']) expect((await w.upload(embed, id)).outcome).toBe('ready');
    const candidate = projection();
    const result = await promoteProjection(w.promotion, {
      base: w.base,
      projection: candidate,
      gate: winningGate(candidate),
    });
    const space = `fake-model~${projectionVersion(candidate)}`;
    expect(result).toMatchObject({
      space,
      from: 'fake-model',
      projected: 3,
      skipped: 0,
      artefactWritten: true,
    });
    for (const id of ['a', 'b', 'c']) {
      const item = await w.repository.get(id);
      const base = item?.vectors['fake-model'] as Float32Array;
      expect(Array.from(item?.vectors[space] ?? [])).toEqual(Array.from(projectVector(candidate, base)));
    }
    expect(w.snapshots.written).toEqual([{ space, count: 3 }]);
    const { state } = await w.registry.read();
    expect(state.learned?.['fake-model']).toEqual({ active: space, previous: 'fake-model' });
    expect(state.history.at(-1)).toMatchObject({ from: 'fake-model', to: space, learned: true });
    // The deployed model's own switch record is untouched: the model guard still reads it alone.
    expect(state.active).toBeUndefined();
    const artefact = await w.artefacts.get(space);
    expect(artefact).toMatchObject({ space, baseModelId: 'fake-model', dim: DIM, matrix: candidate.matrix });
    expect(artefact?.gate).toMatchObject({ decision: 'promote', data: { users: 80 } });
    expect(JSON.stringify(artefact)).not.toMatch(/userId|"users":\[/);
  });

  it('refuses a projection the gate refused, of another model or dimension, or under the vector index, writing nothing', async () => {
    const w = world();
    const candidate = projection();
    const refused: GateReport = {
      ...winningGate(candidate),
      decision: 'refuse',
      reasons: [{ code: 'too_little_data', message: 'too few users' }],
    };
    expect(
      await refusal(promoteProjection(w.promotion, { base: w.base, projection: candidate, gate: refused })),
    ).toBe('gate_refused');
    expect(
      await refusal(
        promoteProjection(w.promotion, { base: w.base, projection: projection(1, 'another-model') }),
      ),
    ).toBe('not_deployed');
    expect(
      await refusal(promoteProjection(w.promotion, { base: { ...w.base, dim: 16 }, projection: candidate })),
    ).toBe('dimension_change');
    expect(
      await refusal(
        promoteProjection(w.promotion, {
          base: w.base,
          projection: candidate,
          vectorIndex: { modelId: 'fake-model', dim: DIM, attribute: 'embedding' },
        }),
      ),
    ).toBe('vector_index_space');
    expect(w.artefacts.stored.size).toBe(0);
    expect((await w.registry.read()).version).toBeUndefined();
  });

  it('is idempotent: a promotion run again after an interruption completes, the same space twice is refused', async () => {
    const w = world();
    const embed = w.embedInstance();
    await w.upload(embed, 'a');
    const candidate = projection();
    // An earlier run stopped after the artefact and the pending record.
    w.setDuringSettle(async () => {
      throw new Error('the promotion was interrupted');
    });
    await expect(promoteProjection(w.promotion, { base: w.base, projection: candidate })).rejects.toThrow(
      'interrupted',
    );
    w.setDuringSettle(async () => {});
    const again = await promoteProjection(w.promotion, { base: w.base, projection: candidate });
    expect(again).toMatchObject({ projected: 1, artefactWritten: false });
    expect(await refusal(promoteProjection(w.promotion, { base: w.base, projection: candidate }))).toBe(
      'already_active',
    );
  });

  it('never overwrites a newer upload: an item replaced under the pass keeps its new content', async () => {
    const w = world();
    const embed = w.embedInstance();
    await w.upload(embed, 'a');
    await w.upload(embed, 'b');
    const candidate = projection();
    const space = learnedSpaceId('fake-model', projectionVersion(candidate));
    const targets = projectionTargets(w.repository);
    // Item b is replaced after the scan read it and before its projected vector is written.
    w.promotion.items = {
      readyVectors: targets.readyVectors,
      addVectorIfCurrent: async (itemId, ...rest) => {
        if (itemId === 'b') await w.upload(embed, 'b', 'b, photographed again');
        return targets.addVectorIfCurrent(itemId, ...rest);
      },
    };
    const result = await promoteProjection(w.promotion, { base: w.base, projection: candidate });
    expect(result).toMatchObject({ projected: 1, skipped: 1 });
    const b = await w.repository.get('b');
    expect(Array.from(b?.vectors['fake-model'] ?? [])).toEqual(
      Array.from(w.embedder.vectorOf(imageBytes('b, photographed again'))),
    );
    // Its projected vector is the new photo's: written by the replacement's embed, which read the
    // pending record, not by the pass (which would have projected the old photo).
    expect(Array.from(b?.vectors[space] ?? [])).toEqual(
      Array.from(projectVector(candidate, b?.vectors['fake-model'] as Float32Array)),
    );
  });

  it('refuses to record the space when another promotion started meanwhile', async () => {
    const w = world();
    const first = projection(1);
    const second = projection(2);
    w.setDuringSettle(async () => {
      w.setDuringSettle(async () => {});
      await expect(
        promoteProjection(w.promotion, { base: w.base, projection: second }),
      ).resolves.toBeDefined();
    });
    expect(await refusal(promoteProjection(w.promotion, { base: w.base, projection: first }))).toBe(
      'registry_conflict',
    );
    const { state } = await w.registry.read();
    expect(state.learned?.['fake-model']?.active).toBe(
      learnedSpaceId('fake-model', projectionVersion(second)),
    );
  });
});

describe('an upload racing a promotion', () => {
  it('ends up in the new space whether its embed function read the registry before or after the promotion began', async () => {
    const w = world();
    // Two embed instances: `early` read the registry before the promotion began (and caches it for
    // the TTL), `late` reads it after the pending record.
    const early = w.embedInstance();
    const late = w.embedInstance();
    await w.upload(early, 'before');
    const candidate = projection();
    const space = learnedSpaceId('fake-model', projectionVersion(candidate));
    w.setDuringSettle(async () => {
      // Within the TTL the early instance still says "no projection": its upload gets no projected
      // vector from it, but the pass, which starts once the TTL is over, reads it.
      const duringEarly = await w.upload(early, 'racing-early');
      expect(duringEarly).toMatchObject({ outcome: 'ready', modelIds: ['fake-model'] });
      const duringLate = await w.upload(late, 'racing-late');
      expect(duringLate).toMatchObject({ outcome: 'ready', modelIds: ['fake-model', space] });
    });
    // The early instance reads the registry now, before anything was recorded.
    expect((await w.upload(early, 'warm-up')).outcome).toBe('ready');
    w.tick(SETTLE_MS - 100);
    const result = await promoteProjection(w.promotion, { base: w.base, projection: candidate });
    expect(result.projected).toBe(4);
    for (const id of ['before', 'warm-up', 'racing-early', 'racing-late'])
      expect((await w.repository.get(id))?.vectors[space]).toBeDefined();
    // After the promotion, both instances write the served space's vector at once.
    expect(await w.upload(early, 'after')).toMatchObject({ modelIds: ['fake-model', space] });
  });
});

describe('an upload whose embed stopped between the item and its projected vector', () => {
  it('gets the projected vector when the same notification is delivered again', async () => {
    const w = world();
    await w.upload(w.embedInstance(), 'a');
    const { space } = await promoteProjection(w.promotion, { base: w.base, projection: projection() });
    const crashing = w.embedInstance();
    crashing.repository = Object.assign(Object.create(w.repository), {
      addVectorIfCurrent: () => Promise.reject(new Error('the function timed out')),
    });
    const change = w.changeOf('b');
    await expect(ingest(crashing, change)).rejects.toThrow('timed out');
    expect((await w.repository.get('b'))?.status).toBe('ready');
    expect((await w.repository.get('b'))?.vectors[space]).toBeUndefined();
    // SQS delivers the message again.
    expect(await ingest(w.embedInstance(), change)).toMatchObject({ outcome: 'stale' });
    expect((await w.repository.get('b'))?.vectors[space]).toBeDefined();
  });
});

describe('rollbackProjection', () => {
  it('returns to the base space at once, and back to the projection with the items uploaded meanwhile', async () => {
    const w = world();
    const embed = w.embedInstance();
    await w.upload(embed, 'a');
    const candidate = projection();
    const { space } = await promoteProjection(w.promotion, { base: w.base, projection: candidate });
    w.tick(SETTLE_MS);
    expect(await rollbackProjection(w.promotion, w.base)).toEqual({ from: space, to: 'fake-model' });
    let { state } = await w.registry.read();
    expect(state.learned?.['fake-model']).toEqual({ previous: space });
    // The space stays: a rollback is instant both ways, and retiring it within 7 days is refused.
    expect(
      await refusal(
        retireSpace(
          { catalogue: {} as never, snapshots: w.snapshots, registry: w.registry },
          { active: w.base, extras: [] },
          { space, now: T0 + SETTLE_MS * 3 },
        ),
      ),
    ).toBe('recently_active');
    w.tick(SETTLE_MS);
    await w.upload(embed, 'uploaded-while-rolled-back');
    expect((await w.repository.get('uploaded-while-rolled-back'))?.vectors[space]).toBeUndefined();
    const back = await rollbackProjection(w.promotion, w.base);
    expect(back).toMatchObject({ from: 'fake-model', to: space, promotion: { projected: 2 } });
    expect((await w.repository.get('uploaded-while-rolled-back'))?.vectors[space]).toBeDefined();
    ({ state } = await w.registry.read());
    expect(state.learned?.['fake-model']).toEqual({ active: space, previous: 'fake-model' });
    expect(state.history.map((h) => [h.from, h.to, h.rollback ?? false])).toEqual([
      ['fake-model', space, false],
      [space, 'fake-model', true],
      ['fake-model', space, true],
    ]);
  });

  it('is refused when nothing was promoted', async () => {
    const w = world();
    expect(await refusal(rollbackProjection(w.promotion, w.base))).toBe('no_previous');
  });

  it('shows in the rollout status as a learned space of its base model, with the registry state', async () => {
    const w = world();
    await w.upload(w.embedInstance(), 'a');
    const { space } = await promoteProjection(w.promotion, { base: w.base, projection: projection() });
    const coverage = new InMemoryCatalogueCoverage(
      new Map([['a', { status: 'ready' as const, spaces: ['fake-model', space] }]]),
    );
    const status = await rolloutStatus(
      { catalogue: coverage, snapshots: w.snapshots, registry: w.registry },
      { active: w.base, extras: [] },
    );
    expect(status.spaces.find((s) => s.space === space)).toMatchObject({
      deployed: 'learned',
      dim: DIM,
      coverage: 1,
    });
    expect(status.learned).toEqual({ 'fake-model': { active: space, previous: 'fake-model' } });
  });

  it('stays recorded for its base model through a switch of the deployed model and back', async () => {
    const w = world();
    await w.upload(w.embedInstance(), 'a');
    const { space } = await promoteProjection(w.promotion, { base: w.base, projection: projection() });
    const coverage = new InMemoryCatalogueCoverage(
      new Map([['a', { status: 'ready' as const, spaces: ['fake-model', space, 'other-model'] }]]),
    );
    const deps = {
      catalogue: coverage,
      snapshots: new InMemorySpaceSnapshots(coverage),
      registry: w.registry,
    };
    const deployed = { active: w.base, extras: [{ modelId: 'other-model', dim: DIM }] };
    await switchSpace(deps, deployed, { to: 'other-model', now: T0 + 1 });
    const { state } = await w.registry.read();
    expect(state.active).toBe('other-model');
    expect(state.learned?.['fake-model']?.active).toBe(space);
    // Serving follows the deployed model: another model's own space, with no projection of its own.
    const other = new SpaceResolver(
      { registry: w.registry, artefacts: w.artefacts },
      { modelId: 'other-model', dim: DIM },
      0,
    );
    expect((await other.resolve()).served).toBe('other-model');
    const back = new SpaceResolver({ registry: w.registry, artefacts: w.artefacts }, w.base, 0);
    expect((await back.resolve()).served).toBe(space);
  });

  it('keeps an active learned space from being retired', async () => {
    const w = world();
    await w.upload(w.embedInstance(), 'a');
    const { space } = await promoteProjection(w.promotion, { base: w.base, projection: projection() });
    expect(
      await refusal(
        retireSpace(
          { catalogue: {} as never, snapshots: w.snapshots, registry: w.registry },
          { active: w.base, extras: [] },
          { space, now: T0 + 30 * 86_400_000 },
        ),
      ),
    ).toBe('active_space');
  });
});

describe('SpaceResolver', () => {
  it('reads the registry at most once per TTL, and sees a promotion once the TTL is over', async () => {
    const w = world();
    await w.upload(w.embedInstance(), 'a');
    let reads = 0;
    let clock = T0;
    const resolver = new SpaceResolver(
      {
        registry: {
          read: () => {
            reads++;
            return w.registry.read();
          },
          write: () => Promise.reject(new Error('a resolver never writes')),
        },
        artefacts: w.artefacts,
        now: () => clock,
      },
      w.base,
      5_000,
    );
    expect(await Promise.all([resolver.resolve(), resolver.resolve()])).toEqual([
      { served: 'fake-model', written: [] },
      { served: 'fake-model', written: [] },
    ]);
    expect(reads).toBe(1);
    const { space } = await promoteProjection(w.promotion, { base: w.base, projection: projection() });
    clock += 4_999;
    expect((await resolver.resolve()).served).toBe('fake-model');
    expect(reads).toBe(1);
    clock += 1;
    const resolved = await resolver.resolve();
    expect(resolved.served).toBe(space);
    expect(resolved.projection?.matrix).toEqual(projection().matrix);
    expect(reads).toBe(2);
  });

  it('keeps the last read for another TTL when a read fails, if asked to; throws otherwise', async () => {
    const w = world();
    let failing = false;
    const registry = {
      read: () => (failing ? Promise.reject(new Error('S3 is unreachable')) : w.registry.read()),
      write: w.registry.write.bind(w.registry),
    };
    const reported: unknown[] = [];
    const keeping = new SpaceResolver({ registry, keepOnError: (e) => reported.push(e) }, w.base, 0);
    const strict = new SpaceResolver({ registry }, w.base, 0);
    expect((await keeping.resolve()).served).toBe('fake-model');
    await strict.resolve();
    failing = true;
    expect((await keeping.resolve()).served).toBe('fake-model');
    expect(reported).toHaveLength(1);
    await expect(strict.resolve()).rejects.toThrow('unreachable');
  });

  it('with a TTL of 0 reads the registry for every call', async () => {
    const w = world();
    let reads = 0;
    const resolver = new SpaceResolver(
      {
        registry: {
          read: () => {
            reads++;
            return w.registry.read();
          },
          write: w.registry.write.bind(w.registry),
        },
      },
      w.base,
      0,
    );
    await resolver.resolve();
    await resolver.resolve();
    expect(reads).toBe(2);
  });
});

/** The rollout use cases (functions/app/rollout.ts) through in-memory ports. */
import {
  type DeployedSpaces,
  RETIRE_AFTER_MS,
  RolloutRefused,
  retireSpace,
  rollbackSpace,
  rolloutStatus,
  switchSpace,
} from '../../functions/app/rollout';
import {
  InMemoryCatalogueCoverage,
  InMemorySpaceSnapshots,
  InMemorySpacesRegistry,
} from '../support/fakes/rollout';

const DEPLOYED: DeployedSpaces = {
  active: { modelId: 'old', dim: 128 },
  extras: [{ modelId: 'new', dim: 128 }],
};

function setup() {
  const catalogue = new InMemoryCatalogueCoverage(
    new Map([
      ['a', { status: 'ready', spaces: ['old', 'new'] }],
      ['b', { status: 'ready', spaces: ['old', 'new', 'gone'] }],
      ['c', { status: 'ready', spaces: ['old'] }],
      ['d', { status: 'ready', spaces: ['old', 'new'] }],
      ['x', { status: 'deleted', spaces: [] }],
      ['y', { status: 'rejected', spaces: [] }],
    ]),
  );
  const snapshots = new InMemorySpaceSnapshots(catalogue);
  const registry = new InMemorySpacesRegistry();
  return { catalogue, snapshots, registry, deps: { catalogue, snapshots, registry } };
}

describe('rolloutStatus', () => {
  it('reports every space in the vectors or deployed: coverage over ready items, snapshot, activity', async () => {
    const { deps, snapshots } = setup();
    await snapshots.write('old', 128, 1_000);

    const status = await rolloutStatus(deps, DEPLOYED);

    expect(status.active).toBe('old');
    expect(status.previous).toBeUndefined();
    expect(status.ready).toBe(4);
    expect(status.spaces).toEqual([
      { space: 'gone', covered: 1, ready: 4, coverage: 0.25, active: false },
      { space: 'new', dim: 128, deployed: 'extra', covered: 3, ready: 4, coverage: 0.75, active: false },
      {
        space: 'old',
        dim: 128,
        deployed: 'active',
        covered: 4,
        ready: 4,
        coverage: 1,
        snapshot: { count: 4, watermark: 1_000, createdAt: 1_000 },
        active: true,
      },
    ]);
  });

  it('lists a deployed space no item holds yet, at 0% coverage', async () => {
    const { deps } = setup();
    const status = await rolloutStatus(deps, { ...DEPLOYED, extras: [{ modelId: 'fresh', dim: 64 }] });
    expect(status.spaces.find((s) => s.space === 'fresh')).toEqual({
      space: 'fresh',
      dim: 64,
      deployed: 'extra',
      covered: 0,
      ready: 4,
      coverage: 0,
      active: false,
    });
  });

  it('takes the active space and each last activity from the registry once a switch is recorded', async () => {
    const { deps, registry } = setup();
    await registry.write(
      {
        active: 'new',
        previous: 'old',
        lastActive: { old: 5_000, new: 5_000 },
        history: [{ from: 'old', to: 'new', at: 5_000, forced: false }],
      },
      undefined,
    );
    const status = await rolloutStatus(deps, DEPLOYED);
    expect(status.active).toBe('new');
    expect(status.previous).toBe('old');
    expect(status.spaces.filter((s) => s.active).map((s) => s.space)).toEqual(['new']);
    expect(status.spaces.find((s) => s.space === 'old')?.lastActiveAt).toBe(5_000);
  });
});

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => 'done',
    (error: unknown) => (error instanceof RolloutRefused ? error.code : error),
  );

const T0 = Date.UTC(2026, 10, 1);

describe('switchSpace and rollbackSpace', () => {
  it('refuses a space below 100% coverage unless forced, writing nothing', async () => {
    const { deps, snapshots, registry } = setup();
    expect(await refusal(switchSpace(deps, DEPLOYED, { to: 'new', now: T0 }))).toBe('incomplete_coverage');
    expect(snapshots.written).toEqual([]);
    expect((await registry.read()).version).toBeUndefined();

    const forced = await switchSpace(deps, DEPLOYED, { to: 'new', now: T0, force: true });
    expect(forced).toMatchObject({ from: 'old', to: 'new', coverage: 0.75, snapshot: { count: 3 } });
    expect((await registry.read()).state.history).toEqual([{ from: 'old', to: 'new', at: T0, forced: true }]);
  });

  it('writes the new space snapshot before recording the switch, and returns the configuration to deploy', async () => {
    const { deps, catalogue, snapshots, registry } = setup();
    catalogue.items.set('c', { status: 'ready', spaces: ['old', 'new'] });
    const write = registry.write.bind(registry);
    const snapshotAtRecord: Array<unknown> = [];
    registry.write = async (state, expected) => {
      snapshotAtRecord.push(await snapshots.current('new'));
      return write(state, expected);
    };

    const result = await switchSpace(deps, DEPLOYED, { to: 'new', now: T0 });

    expect(snapshotAtRecord).toEqual([{ count: 4, watermark: T0, createdAt: T0 }]);
    expect(result.deploy.context).toBe('npm run deploy -- -c activeModelId=new');
    expect(result.deploy.prop).toContain("activeModelId: 'new'");
    const status = await rolloutStatus(deps, DEPLOYED);
    expect(status).toMatchObject({ active: 'new', previous: 'old' });
    expect(status.spaces.find((s) => s.space === 'old')?.lastActiveAt).toBe(T0);
  });

  it('refuses a space the stack does not deploy, the active space, and another dimension on a vector index', async () => {
    const { deps, catalogue } = setup();
    catalogue.items.set('c', { status: 'ready', spaces: ['old', 'new', 'gone'] });
    catalogue.items.set('d', { status: 'ready', spaces: ['old', 'new', 'gone'] });
    catalogue.items.set('a', { status: 'ready', spaces: ['old', 'new', 'gone'] });
    expect(await refusal(switchSpace(deps, DEPLOYED, { to: 'gone', now: T0 }))).toBe('not_deployed');
    expect(await refusal(switchSpace(deps, DEPLOYED, { to: 'old', now: T0 }))).toBe('already_active');
    const wide: DeployedSpaces = { ...DEPLOYED, extras: [{ modelId: 'new', dim: 256 }] };
    const error = await switchSpace(deps, wide, {
      to: 'new',
      now: T0,
      vectorIndex: { modelId: 'old', dim: 128, attribute: 'embedding' },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RolloutRefused);
    expect((error as RolloutRefused).code).toBe('dimension_change');
    expect((error as Error).message).toMatch(/128-d vectors and new is 256-d/);
    // Without a vector index, the exact index takes any dimension.
    await expect(switchSpace(deps, wide, { to: 'new', now: T0 })).resolves.toMatchObject({ to: 'new' });
  });

  it("with a DynamoDB vector index of the same dimension, writes the new space's vectors into its attribute", async () => {
    const { deps, catalogue } = setup();
    catalogue.items.set('c', { status: 'ready', spaces: ['old', 'new'] });
    const result = await switchSpace(deps, DEPLOYED, {
      to: 'new',
      now: T0,
      vectorIndex: { modelId: 'old', dim: 128, attribute: 'embedding' },
    });
    expect(result.indexed).toBe(4);
    expect(catalogue.indexed).toEqual([{ space: 'new', attribute: 'embedding' }]);
    // Without a vector index nothing is copied.
    await rollbackSpace(deps, DEPLOYED, { now: T0 + 1 });
    expect(catalogue.indexed).toHaveLength(1);
  });

  it('rolls back to the previous space, and refuses when no switch was recorded', async () => {
    const { deps, catalogue, registry } = setup();
    expect(await refusal(rollbackSpace(deps, DEPLOYED, { now: T0 }))).toBe('no_previous');
    catalogue.items.set('c', { status: 'ready', spaces: ['old', 'new'] });
    await switchSpace(deps, DEPLOYED, { to: 'new', now: T0 });

    const back = await rollbackSpace(deps, DEPLOYED, { now: T0 + 1_000 });

    expect(back).toMatchObject({
      from: 'new',
      to: 'old',
      deploy: { context: 'npm run deploy -- -c activeModelId=old' },
    });
    const { state } = await registry.read();
    expect(state).toMatchObject({
      active: 'old',
      previous: 'new',
      lastActive: { old: T0 + 1_000, new: T0 + 1_000 },
    });
    expect(state.history.at(-1)).toEqual({
      from: 'new',
      to: 'old',
      at: T0 + 1_000,
      forced: false,
      rollback: true,
    });
  });

  it('loses to a concurrent switch instead of overwriting it', async () => {
    const { deps, catalogue, registry } = setup();
    catalogue.items.set('c', { status: 'ready', spaces: ['old', 'new'] });
    const read = registry.read.bind(registry);
    registry.read = async () => {
      const before = await read();
      // Another operator records a switch between this read and this write.
      await registry.write({ ...before.state, active: 'new', previous: 'old' }, before.version);
      registry.read = read;
      return before;
    };
    expect(await refusal(switchSpace(deps, DEPLOYED, { to: 'new', now: T0 }))).toBe('registry_conflict');
  });
});

describe('retireSpace', () => {
  it('refuses the active space and the vector index space', async () => {
    const { deps } = setup();
    expect(await refusal(retireSpace(deps, DEPLOYED, { space: 'old', now: T0 }))).toBe('active_space');
    expect(
      await refusal(retireSpace(deps, DEPLOYED, { space: 'gone', now: T0, vectorIndexModelId: 'gone' })),
    ).toBe('vector_index_space');
  });

  it('refuses a space active in the last 7 days, then removes its vectors and snapshots', async () => {
    const { deps, catalogue, snapshots } = setup();
    catalogue.items.set('c', { status: 'ready', spaces: ['old', 'new'] });
    await switchSpace(deps, DEPLOYED, { to: 'new', now: T0 });
    await rollbackSpace(deps, DEPLOYED, { now: T0 + 86_400_000 });
    const stoppedAt = T0 + 86_400_000;

    expect(
      await refusal(retireSpace(deps, DEPLOYED, { space: 'new', now: stoppedAt + RETIRE_AFTER_MS - 1 })),
    ).toBe('recently_active');
    expect((await rolloutStatus(deps, DEPLOYED)).spaces.find((s) => s.space === 'new')?.covered).toBe(4);

    const retired = await retireSpace(deps, DEPLOYED, { space: 'new', now: stoppedAt + RETIRE_AFTER_MS });

    expect(retired).toEqual({ space: 'new', items: 4 });
    const after = await rolloutStatus(deps, DEPLOYED);
    expect(after.spaces.find((s) => s.space === 'new')).toMatchObject({ covered: 0, coverage: 0 });
    expect(await snapshots.current('new')).toBeUndefined();
    expect(after.spaces.find((s) => s.space === 'old')?.covered).toBe(4);
  });

  it('retires a space never recorded as active at once', async () => {
    const { deps } = setup();
    await expect(retireSpace(deps, DEPLOYED, { space: 'gone', now: T0 })).resolves.toEqual({
      space: 'gone',
      items: 1,
    });
  });
});

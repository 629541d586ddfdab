/** The rollout use cases (functions/app/rollout.ts) through in-memory ports. */
import { type DeployedSpaces, rolloutStatus } from '../../functions/app/rollout';
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

/**
 * The deploy-time model guard's rules (functions/app/model-guard.ts) on in-memory ports: which
 * deploys go on (an empty catalogue, a recorded switch, a catalogue in the active space) and which
 * are refused, with the items' space and the ways forward in the message.
 */
import { guardActiveSpace, ModelGuardRefused } from '../../functions/app/model-guard';
import { type DeployedSpaces, switchSpace } from '../../functions/app/rollout';
import {
  type CoverageItem,
  InMemoryCatalogueCoverage,
  InMemoryReadyItemSampler,
  InMemorySpaceSnapshots,
  InMemorySpacesRegistry,
} from '../support/fakes/rollout';

const OLD = 'old-128';
const NEW = 'new-128';

function catalogue(entries: CoverageItem[]) {
  const items = new Map(entries.map((item, i) => [`item-${i}`, item]));
  return { items, sampler: new InMemoryReadyItemSampler(items), registry: new InMemorySpacesRegistry() };
}

const ready = (...spaces: string[]): CoverageItem => ({ status: 'ready', spaces });

describe('guardActiveSpace', () => {
  it('lets a new stack deploy any space', async () => {
    const { sampler, registry } = catalogue([]);
    await expect(
      guardActiveSpace({ registry, catalogue: sampler }, { active: NEW, deployed: [NEW] }),
    ).resolves.toMatchObject({ outcome: 'empty_catalogue' });
  });

  it('refuses a space the items are not in, naming their space; keeps the one they are in', async () => {
    const { sampler, registry } = catalogue([ready(OLD), ready(OLD), { status: 'deleted', spaces: [] }]);
    const refused = await guardActiveSpace(
      { registry, catalogue: sampler },
      { active: NEW, deployed: [NEW] },
    ).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ModelGuardRefused);
    expect((refused as ModelGuardRefused).code).toBe('unserved_space');
    expect((refused as Error).message).toContain(`items are in space ${OLD} (2 of 2 sampled ready items`);
    expect((refused as Error).message).toContain('-c modelDir=.cache/models/previous');
    await expect(
      guardActiveSpace({ registry, catalogue: sampler }, { active: OLD, deployed: [OLD] }),
    ).resolves.toMatchObject({ outcome: 'covered' });
  });

  it('refuses a partly covered space until a switch is recorded, forced or not', async () => {
    const { items, sampler, registry } = catalogue([ready(OLD, NEW), ready(OLD)]);
    const deps = { registry, catalogue: sampler };
    await expect(guardActiveSpace(deps, { active: NEW, deployed: [NEW, OLD] })).rejects.toThrow(
      `\`npm run deploy -- -c activeModelId=${OLD}\``,
    );
    const deployed: DeployedSpaces = {
      active: { modelId: OLD, dim: 128 },
      extras: [{ modelId: NEW, dim: 128 }],
    };
    const coverage = new InMemoryCatalogueCoverage(items);
    await switchSpace(
      { catalogue: coverage, snapshots: new InMemorySpaceSnapshots(coverage), registry },
      deployed,
      { to: NEW, force: true, now: 1 },
    );
    await expect(guardActiveSpace(deps, { active: NEW, deployed: [NEW, OLD] })).resolves.toEqual({
      outcome: 'switched',
      active: NEW,
    });
  });

  it('reads no more rows than its bound and refuses when no ready item was among them', async () => {
    const { sampler, registry } = catalogue([
      ...Array.from({ length: 5 }, (): CoverageItem => ({ status: 'deleted', spaces: [] })),
      ready(OLD),
    ]);
    const refused = await guardActiveSpace(
      { registry, catalogue: sampler },
      { active: NEW, deployed: [NEW], bounds: { readyItems: 10, maxRows: 3 } },
    ).catch((e: unknown) => e);
    expect((refused as ModelGuardRefused).code).toBe('undetermined');
    expect((refused as Error).message).toContain('first 3 rows');
  });
});

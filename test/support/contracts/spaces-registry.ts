/**
 * What every SpacesRegistry must do (functions/app/rollout.ts): the in-memory fake
 * (test/unit/spaces-registry-fake.test.ts) and the S3 adapter (test/integration/rollout-ports.test.ts)
 * both pass it.
 */
import type { SpacesRegistry, SpacesState } from '../../../functions/app/rollout';

const switched = (to: string, from: string | undefined, at: number): SpacesState => ({
  active: to,
  ...(from ? { previous: from } : {}),
  lastActive: { ...(from ? { [from]: at } : {}), [to]: at },
  history: [{ ...(from ? { from } : {}), to, at, forced: false }],
});

export function spacesRegistryContract(name: string, setup: () => { registry: SpacesRegistry }): void {
  describe(`${name}: the SpacesRegistry contract`, () => {
    it('starts empty, without a version', async () => {
      const { registry } = setup();
      const { state, version } = await registry.read();
      expect(state).toEqual({ lastActive: {}, history: [] });
      expect(version).toBeUndefined();
    });

    it('stores a first record only where there is none, then replaces it only at the version read', async () => {
      const { registry } = setup();
      expect(await registry.write(switched('a', undefined, 1), undefined)).toBe(true);
      expect(await registry.write(switched('x', undefined, 1), undefined)).toBe(false);
      const first = await registry.read();
      expect(first.state).toEqual(switched('a', undefined, 1));
      expect(first.version).toBeDefined();

      expect(await registry.write(switched('b', 'a', 2), first.version)).toBe(true);
      // A writer that read before that switch loses, and changes nothing.
      expect(await registry.write(switched('c', 'a', 3), first.version)).toBe(false);
      const second = await registry.read();
      expect(second.state).toEqual(switched('b', 'a', 2));
      expect(second.version).not.toEqual(first.version);
    });
  });
}

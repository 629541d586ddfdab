/**
 * What the promotion's ports must do (functions/app/ports.ts, "Learned similarity"): the in-memory
 * fakes (test/unit/learned-space-fakes.test.ts) and the S3 and DynamoDB adapters
 * (test/integration/learned-space-ports.test.ts) both pass it.
 */
import type {
  ItemRepository,
  ProjectionArtefacts,
  ProjectionTargets,
  ReadyItemVector,
} from '../../../functions/app/ports';
import type { ProjectionArtefact } from '../../../functions/domain/learned-space';
import { itemInSpaces } from '../synthetic-items';

const artefact = (space: string, scale: number): ProjectionArtefact => ({
  space,
  baseModelId: 'base',
  version: space.split('~')[1] as string,
  dim: 2,
  matrix: [scale, 0, 0, 1],
  createdAt: '2026-11-30T00:00:00.000Z',
  trainedAt: '2026-11-29T00:00:00.000Z',
  training: {
    events: 10,
    users: 3,
    items: 4,
    similarPairs: 2,
    negativePairs: 0,
    sampledDissimilarPairs: 4,
    metricShare: 0.5,
  },
  gate: { decision: 'promote', reasons: [], data: { users: 3 } },
});

export function projectionArtefactsContract(
  name: string,
  setup: () => { artefacts: ProjectionArtefacts },
): void {
  describe(`${name}: the ProjectionArtefacts contract`, () => {
    it('writes an artefact once and hands it back as written; a second write of its space changes nothing', async () => {
      const { artefacts } = setup();
      const space = `base~p${Math.random().toString(16).slice(2, 12)}`;
      expect(await artefacts.get(space)).toBeUndefined();
      expect(await artefacts.putIfAbsent(artefact(space, 2))).toBe(true);
      expect(await artefacts.putIfAbsent(artefact(space, 3))).toBe(false);
      expect(await artefacts.get(space)).toEqual(artefact(space, 2));
    });
  });
}

const collect = async (vectors: AsyncIterable<ReadyItemVector>) => {
  const found: ReadyItemVector[] = [];
  for await (const item of vectors) found.push(item);
  return found.sort((a, b) => (a.itemId < b.itemId ? -1 : 1));
};

export function projectionTargetsContract(
  name: string,
  setup: () => { targets: ProjectionTargets; repository: ItemRepository },
): void {
  describe(`${name}: the ProjectionTargets contract`, () => {
    it('lists the ready items holding a space vector, and writes another space vector only over the content read', async () => {
      const { targets, repository } = setup();
      const prefix = `pt-${Math.random().toString(16).slice(2, 8)}`;
      const at = Date.UTC(2026, 10, 1);
      const options = { dim: 4, at };
      const [withBase, other, rejected] = [
        itemInSpaces(`${prefix}-a`, 'ready', ['base'], 1, options),
        itemInSpaces(`${prefix}-b`, 'ready', ['other'], 2, options),
        itemInSpaces(`${prefix}-c`, 'rejected', [], 3, options),
      ];
      for (const item of [withBase, other, rejected])
        expect(await repository.putIfNewer(item, at)).toBe(true);

      const found = (await collect(targets.readyVectors('base'))).filter((v) => v.itemId.startsWith(prefix));
      expect(found.map((v) => v.itemId)).toEqual([withBase.itemId]);
      expect(found[0]?.source).toEqual(withBase.source);
      expect(Array.from(found[0]?.vector ?? [])).toEqual(Array.from(withBase.vectors.base as Float32Array));

      const projected = Float32Array.from([0.5, 0.5, 0.5, 0.5]);
      const stale = { ...withBase.source, sequencer: '0'.repeat(withBase.source.sequencer.length) };
      expect(await targets.addVectorIfCurrent(withBase.itemId, 'base~p1', projected, stale, at + 1)).toBe(
        false,
      );
      expect(
        await targets.addVectorIfCurrent(withBase.itemId, 'base~p1', projected, withBase.source, at + 1),
      ).toBe(true);
      const inSpace = (await collect(targets.readyVectors('base~p1'))).filter((v) =>
        v.itemId.startsWith(prefix),
      );
      expect(inSpace.map((v) => [v.itemId, Array.from(v.vector)])).toEqual([
        [withBase.itemId, Array.from(projected)],
      ]);
    });
  });
}

/**
 * In-memory ports of the learned space's promotion (functions/app/learned-space.ts): the projection
 * artefacts (write-once, like the S3 adapter's If-None-Match), the re-projection's view of the items
 * (over InMemoryItemRepository, so ingest and a promotion can race on one catalogue), and snapshots.
 */
import type { ProjectionArtefacts, ProjectionTargets, ReadyItemVector } from '../../../functions/app/ports';
import type { SpaceSnapshot, SpaceSnapshots } from '../../../functions/app/rollout';
import type { ProjectionArtefact } from '../../../functions/domain/learned-space';
import type { InMemoryItemRepository } from './item-repository';

export class InMemoryProjectionArtefacts implements ProjectionArtefacts {
  readonly stored = new Map<string, string>();

  async putIfAbsent(artefact: ProjectionArtefact): Promise<boolean> {
    if (this.stored.has(artefact.space)) return false;
    this.stored.set(artefact.space, JSON.stringify(artefact));
    return true;
  }

  async get(space: string): Promise<ProjectionArtefact | undefined> {
    const json = this.stored.get(space);
    return json === undefined ? undefined : (JSON.parse(json) as ProjectionArtefact);
  }
}

/** The items as the re-projection reads them: a scan that sees the rows present when it starts. */
export function projectionTargets(repository: InMemoryItemRepository): ProjectionTargets {
  return {
    async *readyVectors(space: string): AsyncIterable<ReadyItemVector> {
      const ids: string[] = [];
      for await (const { itemId } of repository.itemSources()) ids.push(itemId);
      for (const itemId of ids) {
        const item = await repository.get(itemId);
        const vector = item?.vectors[space];
        if (item?.status === 'ready' && vector) yield { itemId, source: item.source, vector };
      }
    },
    addVectorIfCurrent: (...args) => repository.addVectorIfCurrent(...args),
  };
}

/** A snapshot counts the ready items holding the space's vector when it is written. */
export class InMemoryItemSnapshots implements SpaceSnapshots {
  readonly written: Array<{ space: string; count: number }> = [];

  constructor(private readonly repository: InMemoryItemRepository) {}

  async current(space: string): Promise<SpaceSnapshot | undefined> {
    const last = this.written.filter((w) => w.space === space).at(-1);
    return last ? { count: last.count, watermark: 0, createdAt: 0 } : undefined;
  }

  async write(space: string, _dim: number, now: number): Promise<SpaceSnapshot> {
    let count = 0;
    for await (const { itemId, status } of this.repository.itemSources())
      if (status === 'ready' && (await this.repository.get(itemId))?.vectors[space]) count++;
    this.written.push({ space, count });
    return { count, watermark: now, createdAt: now };
  }

  async remove(): Promise<void> {}
}

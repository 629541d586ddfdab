/**
 * In-memory ports of the rollout use cases (functions/app/rollout.ts): the spaces registry (which
 * passes test/support/contracts/spaces-registry.ts, like the S3 adapter), the index snapshots and the
 * catalogue's coverage per space.
 */

import type { CatalogueSample, ReadyItemSampler, SampleBounds } from '../../../functions/app/model-guard';
import type {
  SpaceCoverageCounts,
  SpaceSnapshot,
  SpaceSnapshots,
  SpacesRegistry,
  SpacesState,
  SpaceVectors,
  VersionedSpaces,
} from '../../../functions/app/rollout';
import { emptySpaces } from '../../../functions/app/rollout';

export class InMemorySpacesRegistry implements SpacesRegistry {
  private stored: { state: SpacesState; version: string } | undefined;
  private writes = 0;

  async read(): Promise<VersionedSpaces> {
    if (!this.stored) return { state: emptySpaces() };
    return { state: structuredClone(this.stored.state), version: this.stored.version };
  }

  async write(state: SpacesState, expected: string | undefined): Promise<boolean> {
    if (this.stored?.version !== expected) return false;
    this.stored = { state: structuredClone(state), version: `v${++this.writes}` };
    return true;
  }
}

/** Items as the coverage sees them: a status and the spaces of their vectors. */
export interface CoverageItem {
  status: 'ready' | 'rejected' | 'deleted';
  spaces: string[];
}

export class InMemoryCatalogueCoverage implements SpaceVectors {
  constructor(readonly items: Map<string, CoverageItem> = new Map()) {}

  async coverage(): Promise<SpaceCoverageCounts> {
    const counts: SpaceCoverageCounts = { ready: 0, withVector: new Map() };
    for (const item of this.items.values()) {
      if (item.status !== 'ready') continue;
      counts.ready++;
      for (const space of item.spaces) counts.withVector.set(space, (counts.withVector.get(space) ?? 0) + 1);
    }
    return counts;
  }

  /** Spaces whose vectors were copied into the vector index's attribute, in order. */
  readonly indexed: Array<{ space: string; attribute: string }> = [];

  async indexVectors(space: string, attribute: string): Promise<number> {
    this.indexed.push({ space, attribute });
    return [...this.items.values()].filter((item) => item.status === 'ready' && item.spaces.includes(space))
      .length;
  }

  async removeVectors(space: string): Promise<number> {
    let removed = 0;
    for (const item of this.items.values()) {
      if (!item.spaces.includes(space)) continue;
      item.spaces = item.spaces.filter((s) => s !== space);
      removed++;
    }
    return removed;
  }
}

/** Snapshots per space; a write snapshots the ready items of `coverage` holding the space's vector. */
export class InMemorySpaceSnapshots implements SpaceSnapshots {
  readonly snapshots = new Map<string, SpaceSnapshot>();
  readonly written: string[] = [];

  constructor(private readonly catalogue: InMemoryCatalogueCoverage) {}

  async current(space: string): Promise<SpaceSnapshot | undefined> {
    return this.snapshots.get(space);
  }

  async write(space: string, _dim: number, now: number): Promise<SpaceSnapshot> {
    const count = [...this.catalogue.items.values()].filter(
      (item) => item.status === 'ready' && item.spaces.includes(space),
    ).length;
    const snapshot = { count, watermark: now, createdAt: now };
    this.snapshots.set(space, snapshot);
    this.written.push(space);
    return snapshot;
  }

  async remove(space: string): Promise<void> {
    this.snapshots.delete(space);
  }
}

/** The model guard's sampler over the same items: rows in insertion order, read up to the bounds. */
export class InMemoryReadyItemSampler implements ReadyItemSampler {
  constructor(readonly items: Map<string, CoverageItem> = new Map()) {}

  async sample(bounds: SampleBounds): Promise<CatalogueSample> {
    const sample: CatalogueSample = { ready: 0, withVector: new Map(), complete: false, read: 0 };
    const rows = [...this.items.values()];
    for (const item of rows) {
      if (sample.read >= bounds.maxRows || sample.ready >= bounds.readyItems) return sample;
      sample.read++;
      if (item.status !== 'ready') continue;
      sample.ready++;
      for (const space of item.spaces) sample.withVector.set(space, (sample.withVector.get(space) ?? 0) + 1);
    }
    return { ...sample, complete: true };
  }
}

/**
 * Rolling a new vector space (a model id) out, and an old one back or away: what `npm run rollout`
 * (infra/cli/rollout.ts) runs. The served space itself is configuration (the stack's `activeModelId`);
 * these use cases tell whether a space is ready to serve, record which space serves since when, and
 * report the configuration change to deploy.
 */

/** Ready items, and how many of them hold each space's vector. */
export interface SpaceCoverageCounts {
  ready: number;
  /** Per space (model id): ready items holding its vector. */
  withVector: Map<string, number>;
}

/** Reads the catalogue's vectors per space (functions/adapters/dynamodb/space-coverage.ts scans the Items table). */
export interface CatalogueCoverage {
  coverage(): Promise<SpaceCoverageCounts>;
}

/** What a space's index snapshot says of itself. */
export interface SpaceSnapshot {
  count: number;
  watermark: number;
  createdAt: number;
}

/** The exact index's snapshots per space (functions/adapters/s3/snapshot-index.ts writes and reads them). */
export interface SpaceSnapshots {
  /** The space's current snapshot; undefined when none was written. */
  current(space: string): Promise<SpaceSnapshot | undefined>;
  /** Writes the space's snapshot as the compactor would (every ready item holding its vector). */
  write(space: string, dim: number, now: number): Promise<SpaceSnapshot>;
}

/**
 * Which space serves, which served before it, and when each space last served: what the switch, the
 * rollback and the retire rules read. `lastActive[space]` is the moment a space stopped serving (or,
 * for the active one, started).
 */
export interface SpacesState {
  active?: string;
  previous?: string;
  lastActive: Record<string, number>;
  /** Every switch, oldest first. */
  history: Array<{ from?: string; to: string; at: number; forced: boolean }>;
}

/** The state plus the version a conditional write must match. */
export interface VersionedSpaces {
  state: SpacesState;
  /** Undefined when nothing was recorded yet. */
  version?: string;
}

/**
 * The spaces registry, one small record written with optimistic concurrency
 * (functions/adapters/s3/spaces-registry.ts keeps it as one S3 object next to the index snapshots).
 */
export interface SpacesRegistry {
  read(): Promise<VersionedSpaces>;
  /** Replaces the record if it is still at `expected` (undefined: there must be none); false otherwise. */
  write(state: SpacesState, expected: string | undefined): Promise<boolean>;
}

/** A model the stack deploys: the active one, or one embedded beside it. */
export interface DeployedModel {
  modelId: string;
  dim: number;
}

/** What the stack is configured with. */
export interface DeployedSpaces {
  /** The model the functions serve (the stack's `activeModelId`). */
  active: DeployedModel;
  /** Models the embed function embeds beside it (the stack's extra model manifests). */
  extras: DeployedModel[];
}

export interface RolloutStatusDeps {
  catalogue: CatalogueCoverage;
  snapshots: SpaceSnapshots;
  registry: SpacesRegistry;
}

export interface SpaceStatus {
  space: string;
  /** The space's dimension, when a deployed model tells it. */
  dim?: number;
  /** `active` / `extra`: the stack deploys it so; undefined: only vectors in the table remain. */
  deployed?: 'active' | 'extra';
  /** Ready items holding this space's vector. */
  covered: number;
  ready: number;
  /** covered / ready; 1 for an empty catalogue. */
  coverage: number;
  snapshot?: SpaceSnapshot;
  /** The registry's (or, before any switch, the deployed configuration's) active space. */
  active: boolean;
  /** When the space last served (ms); undefined when the registry never saw it serve. */
  lastActiveAt?: number;
}

export interface RolloutStatus {
  active: string;
  /** The space a rollback returns to; undefined before the first switch. */
  previous?: string;
  ready: number;
  spaces: SpaceStatus[];
}

/** The registry's active space, or the deployed one when nothing was recorded yet. */
export const activeSpace = (state: SpacesState, deployed: DeployedSpaces): string =>
  state.active ?? deployed.active.modelId;

export const coverageOf = (covered: number, ready: number): number => (ready === 0 ? 1 : covered / ready);

/** Every space in the table's vectors or in the configuration: its coverage, snapshot and activity. */
export async function rolloutStatus(
  deps: RolloutStatusDeps,
  deployed: DeployedSpaces,
): Promise<RolloutStatus> {
  const [counts, { state }] = await Promise.all([deps.catalogue.coverage(), deps.registry.read()]);
  const active = activeSpace(state, deployed);
  const dims = new Map<string, number>();
  const roles = new Map<string, 'active' | 'extra'>();
  for (const extra of deployed.extras) {
    dims.set(extra.modelId, extra.dim);
    roles.set(extra.modelId, 'extra');
  }
  dims.set(deployed.active.modelId, deployed.active.dim);
  roles.set(deployed.active.modelId, 'active');
  const spaces = [...new Set([...roles.keys(), ...counts.withVector.keys(), active])].sort();
  const snapshots = await Promise.all(spaces.map((space) => deps.snapshots.current(space)));
  return {
    active,
    ...(state.previous !== undefined ? { previous: state.previous } : {}),
    ready: counts.ready,
    spaces: spaces.map((space, i) => {
      const covered = counts.withVector.get(space) ?? 0;
      const dim = dims.get(space);
      const role = roles.get(space);
      const snapshot = snapshots[i];
      const lastActiveAt = state.lastActive[space];
      return {
        space,
        ...(dim !== undefined ? { dim } : {}),
        ...(role ? { deployed: role } : {}),
        covered,
        ready: counts.ready,
        coverage: coverageOf(covered, counts.ready),
        ...(snapshot ? { snapshot } : {}),
        active: space === active,
        ...(lastActiveAt !== undefined ? { lastActiveAt } : {}),
      };
    }),
  };
}

export const emptySpaces = (): SpacesState => ({ lastActive: {}, history: [] });

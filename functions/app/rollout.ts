/**
 * Rolling a new vector space (a model id) out, and an old one back or away: what `npm run rollout`
 * (infra/cli/rollout.ts) runs. The served space itself is configuration (the stack's `activeModelId`);
 * these use cases tell whether a space is ready to serve, record which space serves since when, and
 * report the configuration change to deploy.
 */
import { baseModelOf, isLearnedSpace } from '../domain/learned-space';

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

/** What retiring a space writes: its vectors leave every item. */
export interface SpaceVectors extends CatalogueCoverage {
  /** Removes `space`'s vector from every item holding one; the number of items changed. */
  removeVectors(space: string): Promise<number>;
  /**
   * Copies `space`'s vector of every ready item into the DynamoDB vector index's attribute (the
   * `dynamodb-vector` backend's one index); the number of items written.
   */
  indexVectors(space: string, attribute: string): Promise<number>;
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
  /** Deletes the space's snapshots: once its vectors are gone, a later switch must not start from them. */
  remove(space: string): Promise<void>;
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
  /** Every switch, oldest first (`learned`: a promotion or rollback of a learned projection). */
  history: Array<{
    from?: string;
    to: string;
    at: number;
    forced: boolean;
    rollback?: boolean;
    learned?: boolean;
    /** A learned projection promoted by a scheduled training run (at most one per 7 days). */
    automatic?: boolean;
  }>;
  /** Per base model id: its learned projection's state (functions/app/learned-space.ts). */
  learned?: Record<string, LearnedSpaceState>;
}

/**
 * Which projected space serves for one base model (issue 18). Serving follows it at run time: the
 * functions read it (cached for a short TTL), no deploy is needed.
 */
export interface LearnedSpaceState {
  /** The projected space serving; undefined: the base model's own space. */
  active?: string;
  /** A promotion under way: the embed function writes this space's vectors already. */
  pending?: string;
  /** The space a rollback returns to: a projected space, or the base model id for its own space. */
  previous?: string;
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
  catalogue: SpaceVectors;
  snapshots: SpaceSnapshots;
  registry: SpacesRegistry;
}

export interface SpaceStatus {
  space: string;
  /** The space's dimension, when a deployed model tells it. */
  dim?: number;
  /**
   * `active` / `extra`: the stack deploys it so; `learned`: a learned projection of a deployed model;
   * undefined: only vectors in the table remain.
   */
  deployed?: 'active' | 'extra' | 'learned';
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
  /** Per base model: its learned projection's state (which projected space serves, the one before). */
  learned?: Record<string, LearnedSpaceState>;
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
    ...(state.learned ? { learned: state.learned } : {}),
    ready: counts.ready,
    spaces: spaces.map((space, i) => {
      const covered = counts.withVector.get(space) ?? 0;
      // A learned projection's space (`<model>~<version>`) has its base model's dimension.
      const base = baseModelOf(space);
      const dim = dims.get(space) ?? (isLearnedSpace(space) ? dims.get(base) : undefined);
      const role = roles.get(space) ?? (isLearnedSpace(space) && roles.has(base) ? 'learned' : undefined);
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

export type RolloutRefusalCode =
  | 'not_deployed'
  | 'already_active'
  | 'incomplete_coverage'
  | 'dimension_change'
  | 'no_previous'
  | 'active_space'
  | 'recently_active'
  | 'vector_index_space'
  | 'registry_conflict'
  | 'gate_refused';

/** A rollout command that must not run as asked; `code` is stable, the message says what to do. */
export class RolloutRefused extends Error {
  constructor(
    readonly code: RolloutRefusalCode,
    message: string,
  ) {
    super(message);
    this.name = 'RolloutRefused';
  }
}

/** How long a space that stopped serving keeps its vectors: a rollback within it needs no re-embedding. */
export const RETIRE_AFTER_MS = 7 * 86_400_000;

/** The `dynamodb-vector` backend's index: one attribute of one model's vectors, of a fixed dimension. */
export interface VectorIndexSpace {
  modelId: string;
  dim: number;
  /** The top-level attribute the index is defined on. */
  attribute: string;
}

export interface SwitchRequest {
  to: string;
  /** Switch below 100% coverage: items without the space's vector are not served until re-embedded. */
  force?: boolean;
  now: number;
  /** Set when the `dynamodb-vector` backend serves. */
  vectorIndex?: VectorIndexSpace;
}

export interface SwitchResult {
  from: string;
  to: string;
  coverage: number;
  snapshot: SpaceSnapshot;
  /** With a DynamoDB vector index: items whose index attribute now holds the new space's vector. */
  indexed?: number;
  /** The configuration change that makes the functions serve `to`. */
  deploy: { context: string; prop: string };
}

/** What deploying a switch to `space` takes: a context value of the CDK app, or the stack prop. */
export const configurationFor = (space: string) => ({
  context: `npm run deploy -- -c activeModelId=${space}`,
  prop: `new LookalikeStack(app, 'Lookalike', { activeModelId: '${space}' })`,
});

/**
 * Switches the served space to `request.to`: refused unless the stack deploys it, every ready item
 * holds its vector (or `force`) and, with a DynamoDB vector index, its dimension is the index's. The
 * space's index snapshot is written first, so the functions find it at their first cold start in the
 * new space; then the registry records the switch; the caller deploys the configuration returned.
 */
export async function switchSpace(
  deps: RolloutStatusDeps,
  deployed: DeployedSpaces,
  request: SwitchRequest,
): Promise<SwitchResult> {
  const { state, version } = await deps.registry.read();
  const from = activeSpace(state, deployed);
  return switchTo(deps, deployed, request, { state, version, from }, false);
}

/** Switches back to the space that served before the last switch, on the same rules. */
export async function rollbackSpace(
  deps: RolloutStatusDeps,
  deployed: DeployedSpaces,
  request: Omit<SwitchRequest, 'to'>,
): Promise<SwitchResult> {
  const { state, version } = await deps.registry.read();
  if (state.previous === undefined)
    throw new RolloutRefused(
      'no_previous',
      'no switch was recorded: there is no previous space to roll back to',
    );
  const from = activeSpace(state, deployed);
  return switchTo(deps, deployed, { ...request, to: state.previous }, { state, version, from }, true);
}

async function switchTo(
  deps: RolloutStatusDeps,
  deployed: DeployedSpaces,
  request: SwitchRequest,
  current: { state: SpacesState; version: string | undefined; from: string },
  rollback: boolean,
): Promise<SwitchResult> {
  const { to, now } = request;
  const { state, version, from } = current;
  const model = [deployed.active, ...deployed.extras].find((m) => m.modelId === to);
  if (!model)
    throw new RolloutRefused(
      'not_deployed',
      `space ${to} is not deployed: add its model beside the active one (the stack's \`models\`), deploy, backfill, then switch`,
    );
  if (to === from) throw new RolloutRefused('already_active', `space ${to} is already active`);
  if (request.vectorIndex && model.dim !== request.vectorIndex.dim)
    throw new RolloutRefused(
      'dimension_change',
      `the DynamoDB vector index holds ${request.vectorIndex.dim}-d vectors and ${to} is ${model.dim}-d: ` +
        'a switch with servingBackend dynamodb-vector keeps the dimension (see the README, "Spaces")',
    );
  const counts = await deps.catalogue.coverage();
  const coverage = coverageOf(counts.withVector.get(to) ?? 0, counts.ready);
  if (coverage < 1 && !request.force)
    throw new RolloutRefused(
      'incomplete_coverage',
      `${counts.withVector.get(to) ?? 0} of ${counts.ready} ready items hold a ${to} vector: ` +
        `run \`npm run backfill -- --model ${to}\` first, or --force to serve without the others`,
    );
  const snapshot = await deps.snapshots.write(to, model.dim, now);
  // The vector index serves whatever its attribute holds: the new space's vectors go there before
  // the deploy (the embed function writes it from the new space once deployed).
  const indexed =
    request.vectorIndex && request.vectorIndex.modelId !== to
      ? await deps.catalogue.indexVectors(to, request.vectorIndex.attribute)
      : undefined;
  const next: SpacesState = {
    // Each base model's learned projection stays recorded: a switch back serves it again.
    ...(state.learned ? { learned: state.learned } : {}),
    active: to,
    previous: from,
    lastActive: { ...state.lastActive, [from]: now, [to]: now },
    history: [
      ...state.history,
      { from, to, at: now, forced: coverage < 1, ...(rollback ? { rollback } : {}) },
    ],
  };
  if (!(await deps.registry.write(next, version)))
    throw new RolloutRefused(
      'registry_conflict',
      'another rollout changed the spaces registry meanwhile: run it again',
    );
  return {
    from,
    to,
    coverage,
    snapshot,
    ...(indexed !== undefined ? { indexed } : {}),
    deploy: configurationFor(to),
  };
}

export interface RetireRequest {
  space: string;
  now: number;
  /** The model whose vectors the DynamoDB vector index holds, when that backend serves. */
  vectorIndexModelId?: string;
}

/**
 * Removes a space's vectors from every item, and its index snapshots. Refused for the active space,
 * for one that served in the last 7 days (a rollback to it must stay instant) and for the vector
 * index's model.
 */
export async function retireSpace(
  deps: RolloutStatusDeps,
  deployed: DeployedSpaces,
  request: RetireRequest,
): Promise<{ space: string; items: number }> {
  const { state } = await deps.registry.read();
  const { space, now } = request;
  if (space === activeSpace(state, deployed) || space === deployed.active.modelId)
    throw new RolloutRefused('active_space', `space ${space} is active: switch to another space first`);
  const learned = Object.values(state.learned ?? {}).find((l) => l.active === space || l.pending === space);
  if (learned)
    throw new RolloutRefused(
      'active_space',
      `space ${space} is a learned projection that serves or is being promoted: roll it back first`,
    );
  if (space === request.vectorIndexModelId)
    throw new RolloutRefused('vector_index_space', `the DynamoDB vector index holds ${space}'s vectors`);
  const lastActive = state.lastActive[space];
  if (lastActive !== undefined && now - lastActive < RETIRE_AFTER_MS) {
    const until = new Date(lastActive + RETIRE_AFTER_MS).toISOString();
    throw new RolloutRefused(
      'recently_active',
      `space ${space} was active ${((now - lastActive) / 86_400_000).toFixed(1)} days ago: a rollback may still need it; retire it after ${until}`,
    );
  }
  const items = await deps.catalogue.removeVectors(space);
  await deps.snapshots.remove(space);
  return { space, items };
}

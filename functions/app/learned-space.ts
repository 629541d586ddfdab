/**
 * Serving a learned projection (issue 18, step 3): a promoted projection becomes a space of its own
 * (functions/domain/learned-space.ts), its items' vectors are projected from their stored base-space
 * vectors (no image is embedded again), and the spaces registry records it as its base model's
 * active learned space. The functions follow the registry at run time (`SpaceResolver`), so neither
 * a promotion nor a rollback needs a deploy.
 */
import { type LearnedProjection, projectVector } from '../domain/learned-similarity';
import {
  baseModelOf,
  type GateSummary,
  learnedSpaceId,
  type ProjectionArtefact,
  projectionVersion,
} from '../domain/learned-space';
import type { GateReport } from './learned-similarity-gate';
import type { ProjectionArtefacts, ProjectionTargets, ReadyItemVector } from './ports';
import {
  type DeployedModel,
  type LearnedSpaceState,
  RolloutRefused,
  type SpaceSnapshot,
  type SpaceSnapshots,
  type SpacesRegistry,
  type SpacesState,
  type VectorIndexSpace,
} from './rollout';

export interface PromotionDeps {
  artefacts: ProjectionArtefacts;
  items: ProjectionTargets;
  snapshots: SpaceSnapshots;
  registry: SpacesRegistry;
  now: () => number;
  /**
   * How long the functions may keep an old read of the registry (SPACE_REFRESH_MS): the promotion
   * waits this long between recording the space as pending and re-projecting (see `promoteProjection`).
   */
  settleMs: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface PromotionRequest {
  /** The deployed base model (the stack's `activeModelId`) the projection applies to. */
  base: DeployedModel;
  projection: LearnedProjection;
  /** The gate's report on this projection: a refusal refuses the promotion; kept (summarised) in the artefact. */
  gate?: GateReport;
  /** A scheduled training run promotes it (recorded in the history: scheduled runs promote at most once per 7 days). */
  automatic?: boolean;
  /**
   * Set when the `dynamodb-vector` backend serves: its one index holds the base model's vectors, so a
   * projected space cannot serve and the promotion is refused.
   */
  vectorIndex?: VectorIndexSpace;
}

export interface PromotionResult {
  space: string;
  /** The space that served before: the base model id, or another projected space. */
  from: string;
  /** Ready items whose projected vector was written. */
  projected: number;
  /** Ready items changed between the read and the write (their new content is projected by the embed function). */
  skipped: number;
  snapshot: SpaceSnapshot;
  /** False when the artefact was stored already (a promotion run again). */
  artefactWritten: boolean;
}

/** The gate's report without the candidate's matrix or anything per user: figures, sizes and reasons. */
export function gateSummary(report: GateReport): GateSummary {
  return {
    decision: report.decision,
    reasons: report.reasons.map((reason) => reason.message),
    data: { ...report.data },
    ...(report.figures
      ? {
          figures: {
            base: { ...report.figures.base },
            projected: { ...report.figures.projected },
            margins: { ...report.figures.margins },
          },
        }
      : {}),
  };
}

/** Conditional item writes of the re-projection in flight at once. */
export const PROJECTION_WRITE_CONCURRENCY = 16;

const learnedOf = (state: SpacesState, base: string): LearnedSpaceState => state.learned?.[base] ?? {};

const withLearned = (state: SpacesState, base: string, learned: LearnedSpaceState): SpacesState => ({
  ...state,
  learned: { ...state.learned, [base]: learned },
});

/** The space serving for `base`: its active projection, or its own. */
export const servedSpaceOf = (state: SpacesState, base: string): string =>
  learnedOf(state, base).active ?? base;

/** Replaces the registry record with `change(state)`, refused if another writer got there first. */
async function updateRegistry(
  registry: SpacesRegistry,
  change: (state: SpacesState) => SpacesState,
): Promise<SpacesState> {
  const { state, version } = await registry.read();
  const next = change(state);
  if (!(await registry.write(next, version)))
    throw new RolloutRefused(
      'registry_conflict',
      'another rollout or promotion changed the spaces registry meanwhile: run it again',
    );
  return next;
}

/**
 * Promotes a learned projection of the deployed base model:
 * 1. writes its artefact (once; a second promotion of the same matrix finds it and goes on);
 * 2. records the space as pending: embed functions reading the registry from then on write new
 *    uploads' projected vectors too;
 * 3. waits `settleMs`, the functions' registry TTL, so that every embed function has read it;
 * 4. re-projects every ready item from its stored base vector, each write conditional on the item
 *    still holding the content read (a newer upload is never overwritten; re-running writes the
 *    same vectors);
 * 5. writes the space's index snapshot, then records it as active (optimistic concurrency).
 * Guarantee: an upload's projected vector is written by the embed function when that function's
 * registry read is not older than the pending record; otherwise the read is older than
 * pending + TTL, so the base vector was written before the re-projection's (strongly consistent)
 * scan started, and the scan projects it. Either way no ready item misses the space once it serves.
 */
export async function promoteProjection(
  deps: PromotionDeps,
  request: PromotionRequest,
): Promise<PromotionResult> {
  const { base, projection, gate, automatic = false } = request;
  if (request.vectorIndex)
    throw new RolloutRefused(
      'vector_index_space',
      `the DynamoDB vector index serves ${request.vectorIndex.modelId}'s vectors: a learned projection is served by the exact backend only`,
    );
  if (projection.baseModelId !== base.modelId)
    throw new RolloutRefused(
      'not_deployed',
      `the projection is of ${projection.baseModelId}, the stack serves ${base.modelId}`,
    );
  if (projection.dim !== base.dim)
    throw new RolloutRefused(
      'dimension_change',
      `the projection is ${projection.dim}-d, ${base.modelId} is ${base.dim}-d`,
    );
  if (gate && gate.decision !== 'promote')
    throw new RolloutRefused(
      'gate_refused',
      `the gate refused this projection: ${gate.reasons.map((r) => r.message).join('; ')}`,
    );
  const version = projectionVersion(projection);
  const space = learnedSpaceId(base.modelId, version);
  const { state } = await deps.registry.read();
  if (servedSpaceOf(state, base.modelId) === space)
    throw new RolloutRefused('already_active', `space ${space} is already active`);
  const artefactWritten = await deps.artefacts.putIfAbsent({
    space,
    baseModelId: base.modelId,
    version,
    dim: projection.dim,
    matrix: projection.matrix,
    createdAt: new Date(deps.now()).toISOString(),
    trainedAt: projection.trainedAt,
    training: projection.data,
    ...(gate ? { gate: gateSummary(gate) } : {}),
  });
  return activate(
    deps,
    base,
    { space, matrix: projection.matrix, dim: projection.dim },
    false,
    artefactWritten,
    automatic,
  );
}

async function activate(
  deps: PromotionDeps,
  base: DeployedModel,
  target: { space: string; matrix: number[]; dim: number },
  rollback: boolean,
  artefactWritten: boolean,
  automatic = false,
): Promise<PromotionResult> {
  const { space } = target;
  await updateRegistry(deps.registry, (state) =>
    withLearned(state, base.modelId, { ...learnedOf(state, base.modelId), pending: space }),
  );
  if (deps.settleMs > 0)
    await (deps.sleep ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms))))(deps.settleMs);
  let projected = 0;
  let skipped = 0;
  // Conditional writes in groups, so the pass waits on DynamoDB once per group, not once per item.
  let group: ReadyItemVector[] = [];
  const flush = async () => {
    const written = await Promise.all(
      group.map((item) =>
        deps.items.addVectorIfCurrent(
          item.itemId,
          space,
          projectVector(target, item.vector),
          item.source,
          deps.now(),
        ),
      ),
    );
    for (const ok of written) ok ? projected++ : skipped++;
    group = [];
  };
  for await (const item of deps.items.readyVectors(base.modelId)) {
    group.push(item);
    if (group.length >= PROJECTION_WRITE_CONCURRENCY) await flush();
  }
  await flush();
  const snapshot = await deps.snapshots.write(space, target.dim, deps.now());
  let from = base.modelId;
  await updateRegistry(deps.registry, (state) => {
    const learned = learnedOf(state, base.modelId);
    if (learned.pending !== space)
      throw new RolloutRefused(
        'registry_conflict',
        `another promotion (${learned.pending ?? 'none'}) started meanwhile: run this one again`,
      );
    from = learned.active ?? base.modelId;
    const at = deps.now();
    return {
      ...withLearned(state, base.modelId, { active: space, previous: from }),
      lastActive: { ...state.lastActive, [from]: at, [space]: at },
      history: [
        ...state.history,
        {
          from,
          to: space,
          at,
          forced: false,
          learned: true,
          ...(rollback ? { rollback } : {}),
          ...(automatic ? { automatic } : {}),
        },
      ],
    };
  });
  return { space, from, projected, skipped, snapshot, artefactWritten };
}

export interface LearnedRollbackResult {
  from: string;
  to: string;
  /** For a projected space: its re-projection (items uploaded since it last served get its vector). */
  promotion?: PromotionResult;
}

/**
 * Makes the space that served before the last promotion (or rollback) of `base` active again: its
 * own space at once (every item holds its base vector); a projected one through the same steps as
 * a promotion, from its stored artefact, so items uploaded since it last served are projected too.
 */
export async function rollbackProjection(
  deps: PromotionDeps,
  base: DeployedModel,
): Promise<LearnedRollbackResult> {
  const { state } = await deps.registry.read();
  const learned = learnedOf(state, base.modelId);
  const from = learned.active ?? base.modelId;
  const to = learned.previous;
  if (to === undefined || to === from)
    throw new RolloutRefused(
      'no_previous',
      `no promotion of a learned projection of ${base.modelId} was recorded: nothing to roll back to`,
    );
  if (to !== base.modelId) {
    const artefact = await deps.artefacts.get(to);
    if (!artefact || baseModelOf(to) !== base.modelId)
      throw new RolloutRefused('not_deployed', `the artefact of ${to} is missing: it cannot serve again`);
    const promotion = await activate(deps, base, artefact, true, false);
    return { from: promotion.from, to, promotion };
  }
  await updateRegistry(deps.registry, (current) => {
    const now = learnedOf(current, base.modelId);
    if ((now.active ?? base.modelId) !== from)
      throw new RolloutRefused('registry_conflict', 'the learned space changed meanwhile: run it again');
    const at = deps.now();
    return {
      ...withLearned(current, base.modelId, { previous: from }),
      lastActive: { ...current.lastActive, [from]: at, [to]: at },
      history: [...current.history, { from, to, at, forced: false, learned: true, rollback: true }],
    };
  });
  return { from, to };
}

/** When a scheduled training run last promoted a projection of `base` (ms); undefined if never. */
export function lastAutomaticPromotion(state: SpacesState, base: string): number | undefined {
  const promotions = state.history.filter(
    (entry) => entry.learned && entry.automatic && baseModelOf(entry.to) === base,
  );
  return promotions.at(-1)?.at;
}

/** What a function serves and writes for its deployed base model, as the registry says now. */
export interface ResolvedSpaces {
  /** The space served: the base model id, or its active projected space. */
  served: string;
  /** The active projection's artefact; undefined when the base model's own space serves. */
  projection?: ProjectionArtefact;
  /** Projections whose vectors new uploads get: the active one and one being promoted. */
  written: ProjectionArtefact[];
}

export interface SpaceResolverDeps {
  registry: SpacesRegistry;
  /** Only needed to serve or write projected vectors; a resolver without it resolves ids only. */
  artefacts?: ProjectionArtefacts;
  now?: () => number;
  /**
   * When set, a failed read is reported here and the last successful read is kept for another TTL
   * (what an API function wants); unset, the failure is thrown (what the embed function wants).
   */
  keepOnError?: (error: unknown) => void;
}

/**
 * The registry's word on `base`, read at most once per `ttlMs` per instance (concurrent callers
 * share one read; a failed read is not kept). A read counts from when it started, so what a caller
 * sees was true at most `ttlMs` ago: what the promotion's wait relies on. Artefacts are immutable
 * and kept for the life of the instance.
 */
export class SpaceResolver {
  private cached: { at: number; spaces: Promise<ResolvedSpaces> } | undefined;
  private readonly artefactCache = new Map<string, Promise<ProjectionArtefact>>();

  constructor(
    private readonly deps: SpaceResolverDeps,
    readonly base: DeployedModel,
    readonly ttlMs: number,
  ) {}

  private lastRead: ResolvedSpaces | undefined;

  resolve(): Promise<ResolvedSpaces> {
    const now = (this.deps.now ?? Date.now)();
    if (this.cached && now - this.cached.at < this.ttlMs) return this.cached.spaces;
    const spaces = this.read().then(
      (read) => {
        this.lastRead = read;
        return read;
      },
      (error: unknown) => {
        // The API functions keep serving what they last read rather than fail every request; the
        // embed function (no `keepOnError`) must not write on an old read, and retries instead.
        if (this.deps.keepOnError && this.lastRead) {
          this.deps.keepOnError(error);
          return this.lastRead;
        }
        throw error;
      },
    );
    const entry = { at: now, spaces };
    this.cached = entry;
    spaces.catch(() => {
      if (this.cached === entry) this.cached = undefined;
    });
    return spaces;
  }

  private async read(): Promise<ResolvedSpaces> {
    const { state } = await this.deps.registry.read();
    const learned = learnedOf(state, this.base.modelId);
    if (!this.deps.artefacts) return { served: learned.active ?? this.base.modelId, written: [] };
    const projection = learned.active ? await this.artefact(learned.active) : undefined;
    const pending =
      learned.pending && learned.pending !== learned.active
        ? await this.artefact(learned.pending)
        : undefined;
    return {
      served: projection?.space ?? this.base.modelId,
      ...(projection ? { projection } : {}),
      written: [projection, pending].filter((a): a is ProjectionArtefact => a !== undefined),
    };
  }

  private artefact(space: string): Promise<ProjectionArtefact> {
    let loaded = this.artefactCache.get(space);
    if (!loaded) {
      loaded = (async () => {
        const artefact = await this.deps.artefacts?.get(space);
        if (!artefact) throw new Error(`the registry names ${space}, whose projection artefact is missing`);
        if (artefact.baseModelId !== this.base.modelId || artefact.dim !== this.base.dim)
          throw new Error(
            `projection ${space} is of ${artefact.baseModelId} (${artefact.dim}-d), not of ${this.base.modelId} (${this.base.dim}-d)`,
          );
        return artefact;
      })();
      this.artefactCache.set(space, loaded);
      loaded.catch(() => this.artefactCache.delete(space));
    }
    return loaded;
  }
}

/**
 * The deploy-time guard of the served space (infra/constructs/model-guard.ts runs it as a
 * CloudFormation custom resource before any function is updated): a deploy must not make the
 * functions serve a space (model id) the catalogue's items have no vectors in. That happens when a
 * release changes the default model and an existing stack deploys it without opting in: `activeModelId`
 * defaults to the model layer's model, and lists would break. Failing the resource rolls the deploy
 * back, so the stack keeps serving its model.
 */
import { isLearnedSpace } from '../domain/learned-space';
import type { SpaceCoverageCounts, SpacesRegistry } from './rollout';

/** A bounded sample of the catalogue's ready items and the spaces they hold vectors in. */
export interface CatalogueSample extends SpaceCoverageCounts {
  /** The whole table was read: `ready` is every ready item, not a sample. */
  complete: boolean;
  /** Rows read to draw the sample (ready or not). */
  read: number;
}

export interface SampleBounds {
  /** Stop once this many ready items are in the sample. */
  readyItems: number;
  /** Never read more rows than this, ready or not: the guard's cost does not grow with the table. */
  maxRows: number;
}

/** Reads a bounded sample of ready items (functions/adapters/dynamodb/item-spaces.ts, a capped scan). */
export interface ReadyItemSampler {
  sample(bounds: SampleBounds): Promise<CatalogueSample>;
}

export interface ModelGuardDeps {
  registry: SpacesRegistry;
  catalogue: ReadyItemSampler;
}

export interface ModelGuardRequest {
  /** The space the deploy makes the functions serve (the stack's `activeModelId`). */
  active: string;
  /** Every model the deploy ships (the model layer's and those beside it). */
  deployed: string[];
  bounds?: SampleBounds;
}

/**
 * 100 ready items: if the stack kept its model every one of them holds its vector, and if it did not
 * none does, so a sample this size tells the two apart; 1,000 rows at most (tombstones, items being
 * ingested) bound the read: a scan is billed on the rows it reads, so ~1 MB for 1 KB rows (about 125 read units,
 * eventually consistent), whatever the table's size.
 */
export const DEFAULT_SAMPLE_BOUNDS: SampleBounds = { readyItems: 100, maxRows: 1000 };

export type GuardOutcome =
  /** No ready item: a new stack or an empty catalogue serves any space. */
  | 'empty_catalogue'
  /** The registry records the switch to this space (`npm run rollout -- switch` or `rollback`). */
  | 'switched'
  /** Every sampled ready item holds a vector of the active space: the stack keeps its model. */
  | 'covered';

export interface GuardResult {
  outcome: GuardOutcome;
  active: string;
  /** The sample the decision was made on (absent when the registry decided). */
  sample?: CatalogueSample;
}

export type ModelGuardRefusalCode = 'unserved_space' | 'undetermined';

/** The deploy must not go on; the message names the items' space and the ways forward. */
export class ModelGuardRefused extends Error {
  constructor(
    readonly code: ModelGuardRefusalCode,
    message: string,
  ) {
    super(message);
    this.name = 'ModelGuardRefused';
  }
}

/** The space most sampled ready items hold a vector of, other than `active`. */
function itemsSpace(sample: CatalogueSample, active: string): [string, number] | undefined {
  return (
    [...sample.withVector.entries()]
      // A learned projection's space is served on top of its base model, never deployed as one.
      .filter(([space]) => space !== active && !isLearnedSpace(space))
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]
  );
}

/** The two ways forward, for the space the items are in. */
function waysForward(active: string, itemsIn: string, deployed: string[]): string {
  const keep = deployed.includes(itemsIn)
    ? `keep ${itemsIn}, deployed already: \`npm run deploy -- -c activeModelId=${itemsIn}\``
    : 'pin the model the items are in as the model layer (the previous default: ' +
      '`npm run model -- --descriptor previous .cache/models/previous` then ' +
      '`npm run deploy -- -c modelDir=.cache/models/previous`)';
  return (
    `Either (1) ${keep}; or (2) opt in through the rollout path: deploy the new model beside the items' ` +
    `(-c models=... -c activeModelId=${itemsIn}), backfill it, \`npm run rollout -- switch --to ${active}\`, ` +
    'deploy. See README.md, "Upgrading".'
  );
}

/**
 * Lets the deploy go on when the catalogue has no ready item, when the registry records `active` as
 * the switched-to space, or when every sampled ready item holds an `active` vector; refuses it
 * otherwise. The registry is read first: one small object, and an operator's switch is the answer.
 */
export async function guardActiveSpace(
  deps: ModelGuardDeps,
  request: ModelGuardRequest,
): Promise<GuardResult> {
  const { active } = request;
  const { state } = await deps.registry.read();
  if (state.active === active) return { outcome: 'switched', active };
  const sample = await deps.catalogue.sample(request.bounds ?? DEFAULT_SAMPLE_BOUNDS);
  if (sample.ready === 0) {
    if (sample.complete) return { outcome: 'empty_catalogue', active, sample };
    throw new ModelGuardRefused(
      'undetermined',
      `Refusing to serve ${active}: no ready item among the first ${sample.read} rows of the Items table, so the ` +
        'guard cannot tell which space the catalogue is in. If it may serve this space, record it: ' +
        `\`npm run rollout -- switch --to ${active} --force\`, then deploy again.`,
    );
  }
  const covered = sample.withVector.get(active) ?? 0;
  if (covered === sample.ready) return { outcome: 'covered', active, sample };
  const [itemsIn, holding] = itemsSpace(sample, active) ?? ['no space', 0];
  const registryLine =
    state.active === undefined
      ? 'the rollout registry (index/spaces.json) records no switch'
      : `the rollout registry (index/spaces.json) records ${state.active} as active`;
  throw new ModelGuardRefused(
    'unserved_space',
    `Refusing to serve space ${active}: the catalogue's items are in space ${itemsIn} (${holding} of ` +
      `${sample.ready} sampled ready items hold its vector, ${covered} hold this one's) and ${registryLine}. ` +
      'Lists would break: the deploy rolls back and the stack keeps serving its model. ' +
      waysForward(active, itemsIn, request.deployed),
  );
}

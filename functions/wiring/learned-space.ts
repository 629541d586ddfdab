/**
 * The learned space's wiring: the promotion's ports (the use case step 4's trainer calls, and
 * `npm run rollout -- rollback-learned`), and the registry reader each function follows at run time.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { ItemSpaces } from '../adapters/dynamodb/item-spaces';
import { CatalogueRepository } from '../adapters/dynamodb/item-store';
import { S3ProjectionArtefacts } from '../adapters/s3/projection-artefacts';
import { S3SpaceSnapshots } from '../adapters/s3/space-snapshots';
import { S3SpacesRegistry } from '../adapters/s3/spaces-registry';
import {
  lastAutomaticPromotion,
  type PromotionDeps,
  promoteProjection,
  SpaceResolver,
} from '../app/learned-space';
import type { DeployedModel, VectorIndexSpace } from '../app/rollout';
import type { ProjectionPromotion } from '../app/train-similarity';

/** How long a function reuses its read of the spaces registry, unless SPACE_REFRESH_MS says otherwise. */
export const DEFAULT_SPACE_REFRESH_MS = 60_000;

export interface PromotionConfig {
  dynamo: DynamoDBClient;
  s3: S3Client;
  itemsTable: string;
  bucket: string;
  /** The functions' SPACE_REFRESH_MS: how long the promotion waits before re-projecting. */
  settleMs?: number;
  now?: () => number;
}

export function createPromotionDeps(config: PromotionConfig): PromotionDeps {
  const spaces = new ItemSpaces(config.dynamo, config.itemsTable);
  const repository = new CatalogueRepository(config.dynamo, config.itemsTable);
  return {
    artefacts: new S3ProjectionArtefacts(config.s3, config.bucket),
    items: {
      readyVectors: (space) => spaces.readyVectors(space),
      addVectorIfCurrent: (...args) => repository.addVectorIfCurrent(...args),
    },
    snapshots: new S3SpaceSnapshots(config),
    registry: new S3SpacesRegistry(config.s3, config.bucket),
    now: config.now ?? Date.now,
    settleMs: config.settleMs ?? DEFAULT_SPACE_REFRESH_MS,
  };
}

/**
 * The registry as one function follows it for its deployed model: with `artefacts`, the projection
 * matrices too (recommend and embed); without, the served space's id only (track).
 */
export function spaceResolver(
  config: {
    s3: S3Client;
    bucket: string;
    ttlMs: number;
    artefacts: boolean;
    now?: () => number;
    keepOnError?: (error: unknown) => void;
  },
  base: DeployedModel,
): SpaceResolver {
  return new SpaceResolver(
    {
      registry: new S3SpacesRegistry(config.s3, config.bucket),
      ...(config.artefacts ? { artefacts: new S3ProjectionArtefacts(config.s3, config.bucket) } : {}),
      ...(config.now ? { now: config.now } : {}),
      ...(config.keepOnError ? { keepOnError: config.keepOnError } : {}),
    },
    base,
    config.ttlMs,
  );
}

/** The trainer's promotion: the learned space's promotion of the deployed base model. */
export function createProjectionPromotion(
  config: PromotionConfig,
  base: DeployedModel,
  /** Set under the `dynamodb-vector` backend, where a promotion is refused (its index holds base vectors). */
  vectorIndex?: VectorIndexSpace,
): ProjectionPromotion {
  const deps = createPromotionDeps(config);
  return {
    async lastAutomaticPromotionAt(baseModelId) {
      const { state } = await deps.registry.read();
      return lastAutomaticPromotion(state, baseModelId);
    },
    async promote(projection, { trigger, gate }) {
      const { space } = await promoteProjection(deps, {
        base,
        projection,
        gate,
        automatic: trigger === 'schedule',
        ...(vectorIndex ? { vectorIndex } : {}),
      });
      return { space };
    },
  };
}

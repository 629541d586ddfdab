import * as z from 'zod';

/**
 * The deploy-time model guard's custom resource (infra/constructs/model-guard.ts) and the properties
 * its function reads (functions/handlers/model-guard.ts): named once, so the two cannot drift apart.
 */
export const MODEL_GUARD_RESOURCE_TYPE = 'Custom::ActiveModelGuard';

export const MODEL_GUARD_PROPERTY = {
  /** The space the deploy makes the functions serve (the stack's activeModelId). */
  activeModelId: 'ActiveModelId',
  /** Every model the deploy ships: the model layer's first, then those beside it. */
  deployedModelIds: 'DeployedModelIds',
  catalogueBucket: 'CatalogueBucket',
  itemsTable: 'ItemsTable',
} as const;

/** CloudFormation hands every property over as a string (or a list of strings). */
export const ModelGuardPropertiesSchema = z
  .object({
    [MODEL_GUARD_PROPERTY.activeModelId]: z.string().min(1),
    [MODEL_GUARD_PROPERTY.deployedModelIds]: z.array(z.string().min(1)).min(1),
    [MODEL_GUARD_PROPERTY.catalogueBucket]: z.string().min(1),
    [MODEL_GUARD_PROPERTY.itemsTable]: z.string().min(1),
  })
  .transform((p) => ({
    active: p[MODEL_GUARD_PROPERTY.activeModelId],
    deployed: p[MODEL_GUARD_PROPERTY.deployedModelIds],
    bucket: p[MODEL_GUARD_PROPERTY.catalogueBucket],
    itemsTable: p[MODEL_GUARD_PROPERTY.itemsTable],
  }));

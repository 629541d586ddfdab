import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { guardActiveSpace, ModelGuardRefused } from '../app/model-guard';
import { ModelGuardPropertiesSchema } from '../contract/model-guard';
import { dynamoClient, s3Client } from '../platform/clients';
import { observability } from '../platform/observability';
import { traced } from '../platform/tracing';
import { functionConfig } from '../wiring/environment';
import { createModelGuardDeps } from '../wiring/rollout';

/**
 * The deploy-time model guard, the onEvent function of a custom-resources Provider: on create and
 * on update it checks that the catalogue can be served in the deploy's active space and throws
 * otherwise, which fails the resource and rolls the deploy back before any function is updated.
 */
const { logger } = observability('model-guard');
functionConfig('model-guard');

/** What the Provider framework expects back from onEvent. */
export interface ModelGuardResponse {
  PhysicalResourceId: string;
  Data?: Record<string, string | number>;
}

export const handler = (event: CloudFormationCustomResourceEvent): Promise<ModelGuardResponse> =>
  traced(() => onEvent(event));

async function onEvent(event: CloudFormationCustomResourceEvent): Promise<ModelGuardResponse> {
  // One physical resource for the stack's life: an update never replaces it, so no delete follows.
  const physicalResourceId =
    event.RequestType === 'Create' ? `model-guard-${event.LogicalResourceId}` : event.PhysicalResourceId;
  // Deleting the guard (or rolling back its creation) checks nothing.
  if (event.RequestType === 'Delete') return { PhysicalResourceId: physicalResourceId };
  const properties = ModelGuardPropertiesSchema.parse(event.ResourceProperties);
  const deps = createModelGuardDeps({
    dynamo: dynamoClient(),
    s3: s3Client(),
    bucket: properties.bucket,
    itemsTable: properties.itemsTable,
  });
  try {
    const result = await guardActiveSpace(deps, { active: properties.active, deployed: properties.deployed });
    logger.info('the deploy may serve its active space', {
      requestType: event.RequestType,
      outcome: result.outcome,
      active: result.active,
      sampledReady: result.sample?.ready,
      rowsRead: result.sample?.read,
    });
    return {
      PhysicalResourceId: physicalResourceId,
      Data: { Outcome: result.outcome, ActiveModelId: result.active },
    };
  } catch (error) {
    if (error instanceof ModelGuardRefused)
      logger.error('deploy refused', { code: error.code, active: properties.active, reason: error.message });
    throw error;
  }
}

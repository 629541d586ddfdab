/**
 * The deploy-time model guard on the real stand-ins: the Items table on DynamoDB Local and the spaces
 * registry on the S3 stand-in, through the same adapters and wiring as the guard's function. A new
 * stack passes; a catalogue in another space fails the deploy with a message naming that space and
 * the ways forward; a switch recorded by `npm run rollout -- switch` (even forced) passes; a stack
 * that keeps its model passes; the sample never reads more rows than its bound.
 */
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import { guardActiveSpace, ModelGuardRefused } from '../../functions/app/model-guard';
import { type DeployedSpaces, switchSpace } from '../../functions/app/rollout';
import { MODEL_GUARD_PROPERTY, MODEL_GUARD_RESOURCE_TYPE } from '../../functions/contract/model-guard';
import type { CatalogueItem } from '../../functions/domain/catalogue-item';
import { createModelGuardDeps, createRolloutDeps } from '../../functions/wiring/rollout';
import { useLocalStack } from '../support/local-stack';
import { itemInSpaces, seededUnitVector } from '../support/synthetic-items';

const local = useLocalStack();

const OLD = 'inception-v3.mixed3-gem3_mixed6-gem3.l2.pca128w0.25-7eb16095790023af';
const NEW = 'mobilenet-v2.b10-b11-b13.gem3.l2.pca128w0.25-0123456789abcdef';
const T0 = Date.UTC(2026, 10, 1);
const DIM = 4;

const item = (itemId: string, status: CatalogueItem['status'], spaces: string[], seed: number) =>
  itemInSpaces(itemId, status, spaces, seed, { dim: DIM, at: T0 });

const config = () => ({
  dynamo: local.dynamoDbClient,
  s3: local.s3Client,
  itemsTable: local.tables.Items ?? '',
  bucket: local.bucket,
});

/** The upgrade: the release's new default model is the model layer's, the items are in the old one. */
const upgrade = { active: NEW, deployed: [NEW] };

function event(
  requestType: 'Create' | 'Update' | 'Delete',
  active: string,
  deployed: string[],
): CloudFormationCustomResourceEvent {
  return {
    RequestType: requestType,
    ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:provider',
    ResponseURL: 'https://cloudformation-custom-resource-response.example/',
    StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Lookalike/guid',
    RequestId: `request-${requestType}`,
    LogicalResourceId: 'ModelGuard',
    ResourceType: MODEL_GUARD_RESOURCE_TYPE,
    ResourceProperties: {
      ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:provider',
      [MODEL_GUARD_PROPERTY.activeModelId]: active,
      [MODEL_GUARD_PROPERTY.deployedModelIds]: deployed,
      [MODEL_GUARD_PROPERTY.catalogueBucket]: local.bucket,
      [MODEL_GUARD_PROPERTY.itemsTable]: local.tables.Items ?? '',
    },
    ...(requestType === 'Create' ? {} : { PhysicalResourceId: 'model-guard-ModelGuard' }),
    ...(requestType === 'Update' ? { OldResourceProperties: {} } : {}),
  } as CloudFormationCustomResourceEvent;
}

describe('the model guard on DynamoDB Local and the S3 stand-in', () => {
  // One catalogue, grown scenario by scenario: the tests run in order.
  const repository = () => new CatalogueRepository(local.dynamoDbClient, local.tables.Items ?? '');

  it('passes a new stack: no item, no registry', async () => {
    const result = await guardActiveSpace(createModelGuardDeps(config()), upgrade);
    expect(result).toMatchObject({
      outcome: 'empty_catalogue',
      sample: { ready: 0, read: 0, complete: true },
    });
  });

  it('reads no more rows than its bound, and refuses when the bound held no ready item', async () => {
    for (let i = 0; i < 12; i++)
      expect(await repository().putIfNewer(item(`gone-${i}`, 'deleted', [], i), T0)).toBe(true);
    const deps = createModelGuardDeps(config());
    const refused = await guardActiveSpace(deps, { ...upgrade, bounds: { readyItems: 5, maxRows: 5 } }).catch(
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(ModelGuardRefused);
    expect((refused as ModelGuardRefused).code).toBe('undetermined');
    expect((refused as ModelGuardRefused).message).toContain('no ready item among the first 5 rows');
    // Under the default bound the whole (small) table is read: tombstones only is an empty catalogue.
    expect(await guardActiveSpace(deps, upgrade)).toMatchObject({
      outcome: 'empty_catalogue',
      sample: { ready: 0, read: 12, complete: true },
    });
  });

  it('fails an upgrade whose catalogue is in the previous space, naming it and both ways forward', async () => {
    for (let i = 0; i < 8; i++)
      expect(await repository().putIfNewer(item(`hat-${i}`, 'ready', [OLD], i), T0)).toBe(true);
    const refused = await guardActiveSpace(createModelGuardDeps(config()), upgrade).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ModelGuardRefused);
    const { code, message } = refused as ModelGuardRefused;
    expect(code).toBe('unserved_space');
    expect(message).toContain(
      `the catalogue's items are in space ${OLD} (8 of 8 sampled ready items hold its vector, 0 hold this one's)`,
    );
    expect(message).toContain('the rollout registry (index/spaces.json) records no switch');
    // Way 1: pin the previous model as the model layer; way 2: the rollout path.
    expect(message).toContain('`npm run model -- --descriptor previous .cache/models/previous`');
    expect(message).toContain('`npm run deploy -- -c modelDir=.cache/models/previous`');
    expect(message).toContain(`\`npm run rollout -- switch --to ${NEW}\``);
    // The response CloudFormation shows is bounded (a custom resource's whole response is 4 KB at most).
    expect(message.length).toBeLessThan(1500);

    // With the previous model deployed beside the new one, pinning is a prop away.
    const beside = await guardActiveSpace(createModelGuardDeps(config()), {
      active: NEW,
      deployed: [NEW, OLD],
    }).catch((e: unknown) => e);
    expect((beside as Error).message).toContain(`\`npm run deploy -- -c activeModelId=${OLD}\``);
  });

  it('passes the stack that keeps its model: its items hold the active space', async () => {
    const result = await guardActiveSpace(createModelGuardDeps(config()), {
      active: OLD,
      deployed: [NEW, OLD],
    });
    expect(result).toMatchObject({ outcome: 'covered', sample: { ready: 8, read: 20, complete: true } });
  });

  it('through its function: a failed create or update throws the message, a delete passes', async () => {
    const { handler } = await import('../../functions/handlers/model-guard');
    await expect(handler(event('Create', NEW, [NEW]))).rejects.toThrow(
      `the catalogue's items are in space ${OLD}`,
    );
    await expect(handler(event('Update', NEW, [NEW]))).rejects.toThrow(ModelGuardRefused);
    await expect(handler(event('Update', OLD, [OLD]))).resolves.toEqual({
      PhysicalResourceId: 'model-guard-ModelGuard',
      Data: { Outcome: 'covered', ActiveModelId: OLD },
    });
    await expect(handler(event('Delete', NEW, [NEW]))).resolves.toEqual({
      PhysicalResourceId: 'model-guard-ModelGuard',
    });
  });

  it('passes once `rollout switch` recorded the space, even forced below full coverage', async () => {
    // The rollout path: the new model deployed beside the old one (still active), half backfilled.
    const deployed: DeployedSpaces = {
      active: { modelId: OLD, dim: DIM },
      extras: [{ modelId: NEW, dim: DIM }],
    };
    for (let i = 0; i < 4; i++) {
      const entry = item(`hat-${i}`, 'ready', [OLD], i);
      expect(
        await repository().addVectorIfCurrent(
          entry.itemId,
          NEW,
          seededUnitVector(100 + i, DIM),
          entry.source,
          T0,
        ),
      ).toBe(true);
    }
    // Half the items: still refused before the switch is recorded.
    await expect(guardActiveSpace(createModelGuardDeps(config()), upgrade)).rejects.toThrow(
      `(8 of 8 sampled ready items hold its vector, 4 hold this one's)`,
    );
    const switched = await switchSpace(createRolloutDeps(config()), deployed, {
      to: NEW,
      force: true,
      now: T0,
    });
    expect(switched).toMatchObject({ from: OLD, to: NEW, coverage: 0.5 });
    expect(await guardActiveSpace(createModelGuardDeps(config()), upgrade)).toEqual({
      outcome: 'switched',
      active: NEW,
    });
    // A rollback recorded in the registry lets the old space deploy again; its items are covered anyway.
    expect(
      await guardActiveSpace(createModelGuardDeps(config()), { active: OLD, deployed: [NEW, OLD] }),
    ).toMatchObject({
      outcome: 'covered',
    });
  });
});

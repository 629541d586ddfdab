/**
 * The rollout's adapters on the real stand-ins: the spaces registry on the S3 stand-in passes the
 * same contract as its fake, and status, switch and retire read and write the Items table on
 * DynamoDB Local and the snapshots in S3 as the unit tests' fakes do.
 */
import { randomBytes } from 'node:crypto';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import { readPointer, snapshotPrefix } from '../../functions/adapters/s3/snapshot-index';
import { S3SpacesRegistry } from '../../functions/adapters/s3/spaces-registry';
import {
  type DeployedSpaces,
  RETIRE_AFTER_MS,
  RolloutRefused,
  retireSpace,
  rolloutStatus,
  switchSpace,
} from '../../functions/app/rollout';
import { INDEX_PREFIX } from '../../functions/contract/storage';
import type { CatalogueItem } from '../../functions/domain/catalogue-item';
import { createRolloutDeps } from '../../functions/wiring/rollout';
import { spacesRegistryContract } from '../support/contracts/spaces-registry';
import { useLocalStack } from '../support/local-stack';
import { itemInSpaces, seededUnitVector } from '../support/synthetic-items';

const local = useLocalStack();

spacesRegistryContract('S3SpacesRegistry on the S3 stand-in', () => ({
  registry: new S3SpacesRegistry(
    local.s3Client,
    local.bucket,
    `${INDEX_PREFIX}spaces-${randomBytes(4).toString('hex')}.json`,
  ),
}));

const T0 = Date.UTC(2026, 10, 1);
const DIM = 4;
const DEPLOYED: DeployedSpaces = {
  active: { modelId: 'old', dim: DIM },
  extras: [{ modelId: 'new', dim: DIM }],
};
const item = (itemId: string, status: CatalogueItem['status'], spaces: string[], seed: number) =>
  itemInSpaces(itemId, status, spaces, seed, { dim: DIM, at: T0 });

describe('rollout on DynamoDB Local and the S3 stand-in', () => {
  it('reports coverage and snapshots, switches with a snapshot first, retires after the window', async () => {
    const repository = new CatalogueRepository(local.dynamoDbClient, local.tables.Items ?? '');
    const items = [
      item('a', 'ready', ['old', 'new'], 1),
      item('b', 'ready', ['old', 'new'], 2),
      item('c', 'ready', ['old'], 3),
      item('d', 'deleted', [], 4),
    ];
    for (const entry of items) expect(await repository.putIfNewer(entry, T0)).toBe(true);
    const deps = createRolloutDeps({
      dynamo: local.dynamoDbClient,
      s3: local.s3Client,
      itemsTable: local.tables.Items ?? '',
      bucket: local.bucket,
    });

    const before = await rolloutStatus(deps, DEPLOYED);
    expect(before).toMatchObject({ active: 'old', ready: 3 });
    expect(
      before.spaces.map(({ space, covered, coverage, snapshot }) => ({ space, covered, coverage, snapshot })),
    ).toEqual([
      { space: 'new', covered: 2, coverage: 2 / 3, snapshot: undefined },
      { space: 'old', covered: 3, coverage: 1, snapshot: undefined },
    ]);

    const refused = await switchSpace(deps, DEPLOYED, { to: 'new', now: T0 }).catch((e: unknown) => e);
    expect((refused as RolloutRefused).code).toBe('incomplete_coverage');
    expect(await readPointer(local.s3Client, local.bucket, 'new')).toBeUndefined();

    // The backfill's write: the missing vector.
    expect(
      await repository.addVectorIfCurrent(
        'c',
        'new',
        seededUnitVector(9, DIM),
        items[2]?.source as CatalogueItem['source'],
        T0,
      ),
    ).toBe(true);
    const switched = await switchSpace(deps, DEPLOYED, { to: 'new', now: T0 + 1 });
    expect(switched).toMatchObject({ from: 'old', to: 'new', coverage: 1, snapshot: { count: 3 } });
    expect(await readPointer(local.s3Client, local.bucket, 'new')).toMatchObject({
      modelId: 'new',
      count: 3,
    });
    // The dynamodb-vector backend's attribute, rewritten from a space's vectors (ready items only).
    expect(await deps.catalogue.indexVectors('new', 'embedding')).toBe(3);
    const { Item } = await DynamoDBDocumentClient.from(local.dynamoDbClient).send(
      new GetCommand({ TableName: local.tables.Items ?? '', Key: { itemId: 'c' } }),
    );
    expect(Item?.embedding).toEqual(Array.from(seededUnitVector(9, DIM)));
    const after = await rolloutStatus(deps, DEPLOYED);
    expect(after).toMatchObject({ active: 'new', previous: 'old' });
    expect(after.spaces.find((s) => s.space === 'old')).toMatchObject({
      lastActiveAt: T0 + 1,
      active: false,
    });

    const early = await retireSpace(deps, DEPLOYED, { space: 'old', now: T0 + RETIRE_AFTER_MS }).catch(
      (e: unknown) => e,
    );
    expect(early).toBeInstanceOf(RolloutRefused);
    expect((early as RolloutRefused).code).toBe('active_space');
    const tooSoon = await retireSpace(
      deps,
      { active: { modelId: 'new', dim: DIM }, extras: [{ modelId: 'old', dim: DIM }] },
      { space: 'old', now: T0 + RETIRE_AFTER_MS },
    ).catch((e: unknown) => e);
    expect((tooSoon as RolloutRefused).code).toBe('recently_active');

    // The compactor's last snapshot of `old`: retiring must not leave it for a later switch to start from.
    await deps.snapshots.write('old', DIM, T0 + 2);
    expect(await readPointer(local.s3Client, local.bucket, 'old')).toMatchObject({ count: 3 });
    // Once the stack serves `new` (its active model) and the window has passed.
    const retired = await retireSpace(
      deps,
      { active: { modelId: 'new', dim: DIM }, extras: [] },
      { space: 'old', now: T0 + 1 + RETIRE_AFTER_MS },
    );
    expect(retired).toEqual({ space: 'old', items: 3 });
    for (const id of ['a', 'b', 'c']) {
      const stored = await repository.get(id);
      expect(Object.keys(stored?.vectors ?? {})).toEqual(['new']);
    }
    const final = await rolloutStatus(deps, { active: { modelId: 'new', dim: DIM }, extras: [] });
    expect(final.spaces.map((s) => s.space)).toEqual(['new']);
    const left = await local.s3Client.send(
      new ListObjectsV2Command({ Bucket: local.bucket, Prefix: snapshotPrefix('old') }),
    );
    expect(left.Contents ?? []).toEqual([]);
    expect(await readPointer(local.s3Client, local.bucket, 'new')).toMatchObject({ count: 3 });
  });
});

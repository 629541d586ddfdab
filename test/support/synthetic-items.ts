/**
 * Catalogue rows written straight to the items table (the rows the embed handler writes), with
 * clustered synthetic vectors: for tests that need hundreds of items, where embedding real images
 * would only add minutes.
 */
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import type { CatalogueItem } from '../../functions/domain/catalogue-item';
import { normaliseSequencer } from '../../functions/domain/catalogue-key';
import type { LocalApp } from '../../infra/local/app';
import { createLocalDynamoDbClient } from '../../infra/local/aws-env';
import { SyntheticVectors } from '../bench/support/synthetic-vectors';

export async function seedSyntheticItems(
  app: LocalApp,
  itemIds: readonly string[],
  seed = 1,
  /** The i-th item's catalogue attributes (category, tags, price...) over the defaults. */
  attributesOf?: (i: number) => Partial<Pick<CatalogueItem, 'category' | 'tags' | 'price' | 'available'>>,
): Promise<void> {
  const dim = app.manifest.output.dim;
  const vectors = new SyntheticVectors(dim, seed, 20);
  const client = createLocalDynamoDbClient(app.stack.endpoints.dynamodb);
  const repository = new CatalogueRepository(client, app.stack.tables.Items as string);
  const firstChange = Date.now() - 3_600_000;
  let next = 0;
  const writer = async () => {
    for (let i = next++; i < itemIds.length; i = next++) {
      const itemId = itemIds[i] as string;
      const at = firstChange + i;
      const item: CatalogueItem = {
        itemId,
        title: `Synthetic ${i}`,
        category: 'synthetic',
        available: true,
        status: 'ready',
        source: {
          bucket: app.stack.bucket,
          key: `catalogue/synthetic/${itemId}.png`,
          etag: `etag-${i}`,
          size: 1000,
          sequencer: String(i + 1).padStart(64, '0'),
          eventAt: at,
        },
        vectors: { [app.manifest.modelId]: vectors.vector(i) },
        dim,
        createdAt: at,
        updatedAt: at,
        ...attributesOf?.(i),
      };
      if (!(await repository.putIfNewer(item, at))) throw new Error(`item ${itemId} was not written`);
    }
  };
  try {
    await Promise.all(Array.from({ length: 8 }, writer));
  } finally {
    client.destroy();
  }
}

/** A unit vector of `dim` components, a fixed function of `seed`. */
export function seededUnitVector(seed: number, dim: number): Float32Array {
  const v = Float32Array.from({ length: dim }, (_, i) => Math.sin(seed * (i + 1)));
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

/** An item holding a vector in each of `spaces` (none while not ready), for the rollout's tests. */
export function itemInSpaces(
  itemId: string,
  status: CatalogueItem['status'],
  spaces: string[],
  seed: number,
  options: { dim: number; at: number },
): CatalogueItem {
  return {
    itemId,
    status,
    available: true,
    category: 'hats',
    source: {
      bucket: 'catalogue',
      key: `catalogue/${itemId}.jpg`,
      sequencer: normaliseSequencer('10'),
      eventAt: options.at,
      etag: `etag-${itemId}`,
    },
    vectors: Object.fromEntries(spaces.map((space, i) => [space, seededUnitVector(seed + i, options.dim)])),
    ...(status === 'ready' ? { dim: options.dim } : {}),
    createdAt: options.at,
    updatedAt: options.at,
  };
}

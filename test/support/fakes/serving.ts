/**
 * A Serving (functions/app/ports.ts) over one in-memory index, as the `exact` backend serves once its
 * snapshot is loaded (functions/adapters/s3/snapshot-index.ts `exactServing`, without the S3 snapshot
 * and the change feed): every query sees the whole index, and the categories are those it holds.
 */
import type { Serving } from '../../../functions/app/ports';
import type { VectorIndex } from '../../../functions/vector-index';

export function inMemoryServing(index: VectorIndex): Serving {
  return {
    forQueries: async () => index,
    forItems: async () => index,
    categories: async () => {
      const categories = new Set<string>();
      for (const itemId of index.ids()) {
        const category = index.attributes(itemId)?.category;
        if (category) categories.add(category);
      }
      return categories;
    },
  };
}

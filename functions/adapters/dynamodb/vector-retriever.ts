import {
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  type DynamoDBClient,
  type KeysAndAttributes,
  SearchVectorsCommand,
  type SearchVectorsCommandInput,
  type SearchVectorsCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Serving } from '../../app/ports';
import { isFiltering, type ListFilter } from '../../domain/list-filter';
import { ExactIndex } from '../../vector-index';
import { INDEX_ATTRIBUTES, type ItemRow, indexAttributes, itemProjection, rowVector } from './item-table';

/** What the stack creates for the `dynamodb-vector` backend (see the RecommendationsApi construct). */
export interface VectorIndexSettings {
  table: string;
  indexName: string;
  /** The model whose vectors the index holds (the active one). */
  modelId: string;
  dim: number;
  /** DynamoDB caps TopK; larger over-fetches are split across the queries. @default 100 */
  maxTopK?: number;
}

/** What the ranking reads of a candidate's row (plus the active model's vector). */
const CANDIDATE_ATTRIBUTES = ['itemId', 'status', ...INDEX_ATTRIBUTES] as const;
type CandidateRow = Pick<ItemRow, (typeof CANDIDATE_ATTRIBUTES)[number] | 'vectors'>;

/**
 * Retrieval on DynamoDB's vector index for catalogues that outgrow one function's memory. It
 * over-fetches per query vector (room for exclusions, filters and MMR), then loads the candidates'
 * exact vectors into a small in-memory index, so the ranking code is the same for both backends.
 */
export class DynamoVectorRetriever {
  constructor(
    private readonly client: Pick<DynamoDBClient, 'send'>,
    readonly settings: VectorIndexSettings,
  ) {}

  /**
   * The SearchVectors request for one query vector; `category` filters inside the index (its
   * INLINE_FILTER attribute, which takes only `=`: several categories are one request each).
   */
  request(query: Float32Array, topK: number, category?: string): SearchVectorsCommandInput {
    if (query.length !== this.settings.dim) {
      throw new Error(`the vector index has ${this.settings.dim} dimensions; the query has ${query.length}`);
    }
    return {
      TableName: this.settings.table,
      IndexName: this.settings.indexName,
      // float32-representable numbers, as the index validates them
      SearchVector: Array.from(query, (value) => ({ N: String(Math.fround(value)) })),
      TopK: Math.max(1, Math.min(topK, this.settings.maxTopK ?? 100)),
      ProjectionExpression: 'itemId',
      ...(category !== undefined
        ? {
            SearchConditionExpression: '#category = :category',
            ExpressionAttributeNames: { '#category': 'category' },
            ExpressionAttributeValues: { ':category': { S: category } },
          }
        : {}),
    };
  }

  /** Item ids and cosine similarities (1 − COSINE distance) of one response, best first. */
  static results(
    output: Pick<SearchVectorsCommandOutput, 'SearchResults'>,
  ): Array<{ itemId: string; similarity: number }> {
    return (output.SearchResults ?? [])
      .flatMap((result) => {
        const itemId = result.Item?.itemId?.S;
        return itemId && typeof result.Score === 'number' ? [{ itemId, similarity: 1 - result.Score }] : [];
      })
      .sort((a, b) => b.similarity - a.similarity);
  }

  /**
   * Candidates for these queries (plus `alsoLoad`, e.g. the user's liked and disliked items, whose
   * vectors the ranking needs), as an in-memory index of their exact vectors. A filter's categories
   * go into the search condition, one request per query and category (up to
   * MAX_CATEGORY_SEARCHES categories; beyond, one unconditioned request each, filtered after); its
   * other parts (tags, price) are filtered after, by the ranking, from a larger over-fetch.
   */
  async candidates(
    queries: Float32Array[],
    perQuery: number,
    options: { filter?: ListFilter; alsoLoad?: string[] } = {},
  ): Promise<ExactIndex> {
    return this.load([
      ...new Set([...(options.alsoLoad ?? []), ...(await this.search(queries, perQuery, options.filter))]),
    ]);
  }

  /** The item ids SearchVectors finds for these queries under the filter's categories. */
  async search(queries: Float32Array[], perQuery: number, filter?: ListFilter): Promise<string[]> {
    const categories = filter?.categories ?? [];
    const conditions: Array<string | undefined> =
      categories.length > 0 && categories.length <= MAX_CATEGORY_SEARCHES ? [...categories] : [undefined];
    const responses = await Promise.all(
      queries.flatMap((query) =>
        conditions.map((category) =>
          this.client.send(new SearchVectorsCommand(this.request(query, perQuery, category))),
        ),
      ),
    );
    const ids = new Set<string>();
    for (const response of responses)
      for (const { itemId } of DynamoVectorRetriever.results(response)) ids.add(itemId);
    return [...ids];
  }

  /** Loads items' exact vectors and attributes into a small index. */
  async load(itemIds: string[]): Promise<ExactIndex> {
    const index = new ExactIndex(this.settings.dim);
    const unique = [...new Set(itemIds)];
    for (let i = 0; i < unique.length; i += 100) {
      let request: KeysAndAttributes | undefined = {
        Keys: unique.slice(i, i + 100).map((itemId) => ({ itemId: { S: itemId } })),
        ...itemProjection(CANDIDATE_ATTRIBUTES, this.settings.modelId),
      };
      while (request?.Keys && request.Keys.length > 0) {
        const result: BatchGetItemCommandOutput = await this.client.send(
          new BatchGetItemCommand({ RequestItems: { [this.settings.table]: request } }),
        );
        for (const raw of result.Responses?.[this.settings.table] ?? []) {
          const row = unmarshall(raw) as CandidateRow;
          const vector = rowVector(row, this.settings.modelId);
          if (row.status !== 'ready' || !vector) continue;
          index.upsert(row.itemId, vector, indexAttributes(row));
        }
        request = result.UnprocessedKeys?.[this.settings.table];
      }
    }
    return index;
  }
}

/** Categories a filter may name and still be searched inside the index, one request each. */
export const MAX_CATEGORY_SEARCHES = 4;

/**
 * How many times more candidates a filter needs than the list: tags and prices are filtered after
 * the search, and so are categories beyond MAX_CATEGORY_SEARCHES.
 */
export function filteredOverFetch(filter: ListFilter | undefined): number {
  if (!isFiltering(filter)) return 1;
  const afterwards =
    (filter.tags?.length ?? 0) > 0 ||
    filter.minPrice !== undefined ||
    filter.maxPrice !== undefined ||
    (filter.categories?.length ?? 0) > MAX_CATEGORY_SEARCHES;
  return afterwards ? 4 : 1;
}

/**
 * The `dynamodb-vector` serving backend: each request gets a small index of candidates, `overFetch`
 * times as many as asked for (times `filteredOverFetch` under a filter the index cannot apply),
 * spread over the query vectors. It cannot list categories.
 */
export function vectorServing(retriever: DynamoVectorRetriever, overFetch = 4): Serving {
  return {
    forQueries: (queries, k, options) =>
      retriever.candidates(
        queries,
        Math.ceil((k * overFetch * filteredOverFetch(options.filter)) / Math.max(1, queries.length)),
        options,
      ),
    forItems: (itemIds) => retriever.load(itemIds),
    categories: async () => undefined,
  };
}

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

  /** The SearchVectors request for one query vector; `category` filters inside the index. */
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
   * vectors the ranking needs), as an in-memory index of their exact vectors.
   */
  async candidates(
    queries: Float32Array[],
    perQuery: number,
    options: { category?: string; alsoLoad?: string[] } = {},
  ): Promise<ExactIndex> {
    const responses = await Promise.all(
      queries.map((query) =>
        this.client.send(new SearchVectorsCommand(this.request(query, perQuery, options.category))),
      ),
    );
    const ids = new Set<string>(options.alsoLoad ?? []);
    for (const response of responses)
      for (const { itemId } of DynamoVectorRetriever.results(response)) ids.add(itemId);
    return this.load([...ids]);
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

/**
 * The `dynamodb-vector` serving backend: each request gets a small index of candidates, `overFetch`
 * times as many as asked for, spread over the query vectors. It cannot list categories.
 */
export function vectorServing(retriever: DynamoVectorRetriever, overFetch = 4): Serving {
  return {
    forQueries: (queries, k, options) =>
      retriever.candidates(queries, Math.ceil((k * overFetch) / queries.length), options),
    forItems: (itemIds) => retriever.load(itemIds),
    categories: async () => undefined,
  };
}

/** What the filters of a search can see about an item besides its embedding. */
export interface ItemAttributes {
  category?: string;
  available: boolean;
  /**
   * Since when the item is on offer (ms): its `published-at`, else its first upload. Exploration
   * reads item age from it; absent (snapshots of format 1) counts as old.
   */
  publishedAt?: number;
  /** The item's tags (distinct, as catalogue metadata gives them): list filters match any or all. */
  tags?: readonly string[];
  /** The item's price (non-negative, finite): list filters' price range and relative price. */
  price?: number;
}

export interface ScoredItem {
  itemId: string;
  /** Exact blended cosine with the item's vector as the index holds it: sum over queries of weight * (query . item). */
  score: number;
}

export interface SearchRequest {
  /** Unit vectors (interest centroids), 1..8, each of the index's dimension. */
  queries: Float32Array[];
  /** One per query; default equal weights 1 / queries.length. Blended score = sum w_k * cos_k. */
  weights?: number[];
  /** How many items to return, 1..1000. */
  k: number;
  /** How many approximate candidates to re-rank exactly; default max(10 * k, 200), never below k. */
  candidates?: number;
  /**
   * Item filter (excluded items, category, availability). Applied while candidates are selected, so
   * k items come back whenever k eligible items exist. Must not modify the index.
   */
  accept?: (itemId: string, attributes: ItemAttributes) => boolean;
  /**
   * A hint for a filter on new items (ms): an item published at or before it, or of unknown date,
   * may be skipped without `accept` being asked, which must still refuse it. The exact index then
   * does not build the attributes of every old item a search for new ones visits.
   */
  publishedAfter?: number;
}

/** Several searches with the same queries and weights, each with its own k, candidates and filter. */
export interface MultiSearchRequest {
  queries: Float32Array[];
  weights?: number[];
  searches: Array<Pick<SearchRequest, 'k' | 'candidates' | 'accept' | 'publishedAfter'>>;
}

export interface VectorIndex {
  readonly dim: number;
  readonly size: number;
  /** Moves on every upsert and remove: what was computed from the items at one generation holds until it moves. */
  readonly generation: number;
  /** Adds the item, or replaces its vector and attributes if it is already indexed. */
  upsert(itemId: string, vector: Float32Array, attributes: ItemAttributes): void;
  /** True if the item was indexed. */
  remove(itemId: string): boolean;
  has(itemId: string): boolean;
  /**
   * A copy of the item's embedding as the index holds it (ExactIndex: int8 times a per-item scale,
   * max|v| / 127, so within half of that of each component of what was upserted).
   */
  vector(itemId: string): Float32Array | undefined;
  attributes(itemId: string): ItemAttributes | undefined;
  /** Top-k items by exact blended score, best first; ties by item id. */
  search(request: SearchRequest): ScoredItem[];
  /**
   * What `search` answers for each of `searches`, from one approximate scan of the index: the
   * searches of one list with the same query (exploration, boosts, promotions) share its cost.
   */
  searchMany(request: MultiSearchRequest): ScoredItem[][];
  ids(): IterableIterator<string>;
}

export const MAX_QUERIES = 8;
export const MAX_K = 1000;
/** Ids, categories and tags are length-prefixed with a uint16 in snapshots; 1024 UTF-16 units is < 65536 UTF-8 bytes. */
export const MAX_LABEL_LENGTH = 1024;
/** Distinct tags an item may carry (catalogue metadata keeps the first 32). */
export const MAX_TAGS = 32;

/**
 * Table and bucket definitions shared by the CDK stack and the local harness, so that the tables
 * DynamoDB Local serves in tests are the tables `cdk deploy` creates.
 */
export type KeyType = 'S' | 'N' | 'B';

export interface KeyAttribute {
  name: string;
  type: KeyType;
}

export interface GlobalIndexDefinition {
  indexName: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  /** Attributes projected besides the keys; 'ALL' projects everything. */
  projection: 'ALL' | 'KEYS_ONLY' | string[];
}

export interface TableDefinition {
  /** Logical id in the stack and the suffix of the local table name. */
  id: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  globalIndexes?: GlobalIndexDefinition[];
  /** Attribute holding an epoch-seconds expiry. */
  timeToLiveAttribute?: string;
  stream?: 'NEW_IMAGE' | 'NEW_AND_OLD_IMAGES' | 'KEYS_ONLY';
}

/** The Items table's index of changes, ordered by `changedAt` (see ITEMS_TABLE). */
export const ITEMS_CHANGE_INDEX = 'byChange';

/** Items: one row per catalogue item, vectors per model id, tombstones for deletes. */
export const ITEMS_TABLE: TableDefinition = {
  id: 'Items',
  partitionKey: { name: 'itemId', type: 'S' },
  globalIndexes: [
    {
      // Incremental index refresh: every write sets changeFeed='items' and changedAt (ms), so
      // "everything changed since the snapshot watermark" is one ordered query.
      indexName: ITEMS_CHANGE_INDEX,
      partitionKey: { name: 'changeFeed', type: 'S' },
      sortKey: { name: 'changedAt', type: 'N' },
      projection: 'KEYS_ONLY',
    },
  ],
  stream: 'KEYS_ONLY',
};

/**
 * Raw user events: the source of truth a profile is folded from; idempotency on (userId, eventId).
 * Its stream feeds the co-engagement counters (each new event carries its pairs), off the request path.
 */
export const EVENTS_TABLE: TableDefinition = {
  id: 'Events',
  partitionKey: { name: 'userId', type: 'S' },
  sortKey: { name: 'eventId', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
  stream: 'NEW_IMAGE',
};

/** How the Events stream is delivered to the co-engagement consumer; the local twin polls the same way. */
export const CO_ENGAGEMENT_STREAM = { batchSize: 100, retryAttempts: 5 } as const;

/** One interest profile per user, versioned for optimistic concurrency. */
export const PROFILES_TABLE: TableDefinition = {
  id: 'Profiles',
  partitionKey: { name: 'userId', type: 'S' },
};

/**
 * Aggregates over all users: decayed item popularity (pk `popularity#<shard>`, sk itemId; an item's
 * events spread over 4 consecutive shards by a hash of the event id, summed by the reader),
 * item-to-item co-engagement (pk `co#<itemId>`, and `co<s>#<itemId>` for s = 1..3: a counter
 * lives in partition hash(other item) mod 4 of its item, shard 0 being `co#`; sk other itemId),
 * decayed impression counts (pk `imp#<shard>`, sk itemId), and the stream consumers' markers of
 * the records they have counted (pk `applied#<record id>`, sk the consumer, expiring). No user ids
 * are stored here.
 */
export const STATS_TABLE: TableDefinition = {
  id: 'Stats',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  timeToLiveAttribute: 'expiresAt',
};

/** The `dynamodb-vector` backend's index on the items table and the attribute it indexes. */
export const VECTOR_INDEX_NAME = 'byVector';
export const VECTOR_ATTRIBUTE = 'embedding';

/** The Impressions table's index of lists by day: pk `<YYYY-MM-DD>#<shard>`, sk the recommendationId. */
export const IMPRESSIONS_DAY_INDEX = 'byDay';
/** Shards of a day in IMPRESSIONS_DAY_INDEX: reading one day's lists takes this many queries. */
export const IMPRESSION_DAY_SHARDS = 16;

/**
 * Impressions (issue 21): one row per list served. pk the user id (a list served without a user, an
 * IAM caller's similar or search: `anonymous#<recommendationId>`), sk the recommendationId (a UUIDv7,
 * so a user's partition read backwards gives the latest lists first). Attribution reads one list by
 * (userId, recommendationId), or a day's lists from `byDay` in IMPRESSION_DAY_SHARDS queries. Its
 * stream feeds the per-item impression counters in Stats, off the request path.
 */
export const IMPRESSIONS_TABLE: TableDefinition = {
  id: 'Impressions',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalIndexes: [
    {
      indexName: IMPRESSIONS_DAY_INDEX,
      partitionKey: { name: 'day', type: 'S' },
      sortKey: { name: 'sk', type: 'S' },
      // A list of 10 items is under 1 KB: projecting it all costs the index's write unit anyway.
      projection: 'ALL',
    },
  ],
  timeToLiveAttribute: 'expiresAt',
  stream: 'NEW_IMAGE',
};

/** How the Impressions stream is delivered to the impression counters; the local twin polls the same way. */
export const IMPRESSION_COUNTS_STREAM = { batchSize: 100, retryAttempts: 5 } as const;

/**
 * Merchandising rules (issue 20): one partition, pk `rules`: the set's row (sk `#set`: its version,
 * +1 on every change, and how many rules it holds) and one row per rule (sk `rule#<ruleId>`). Every
 * change writes both in one transaction, so a reader checks for changes with one GetItem.
 */
export const RULES_TABLE: TableDefinition = {
  id: 'Rules',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
};

export const TABLES: TableDefinition[] = [
  ITEMS_TABLE,
  EVENTS_TABLE,
  PROFILES_TABLE,
  STATS_TABLE,
  IMPRESSIONS_TABLE,
  RULES_TABLE,
];

/** Where catalogue tools put images; everything else in the bucket is ignored. */
export const CATALOGUE_PREFIX = 'catalogue/';

/** Where the compactor writes index snapshots (`index/<modelId>/...`) and their pointer. */
export const INDEX_PREFIX = 'index/';

/**
 * The spaces registry (which model id serves, which served before, when each last served): one JSON
 * object beside the snapshots it speaks of, written by `npm run rollout` only.
 */
export const SPACES_REGISTRY_KEY = `${INDEX_PREFIX}spaces.json`;

/**
 * Where the learned-similarity trainer writes the record of each run (gate figures, data sizes,
 * decision; no user ids), beside the index snapshots.
 */
export const TRAINING_REPORTS_PREFIX = `${INDEX_PREFIX}learned/reports/`;

/**
 * A promoted learned projection's artefact (issue 18): `index/<space>.projection.json`, beside the
 * snapshot folders (`index/<space>/`) but never in one, so retiring a space's snapshots keeps it.
 * Written once. Space ids hold a `~`, which no model id may, so the key names no model's file.
 */
export const PROJECTION_ARTEFACT_SUFFIX = '.projection.json';
export const projectionArtefactKey = (space: string) =>
  `${INDEX_PREFIX}${space}${PROJECTION_ARTEFACT_SUFFIX}`;

/**
 * Where the distributed re-embedding's Distributed Map writes its results (each batch's counts):
 * outside CATALOGUE_PREFIX, so that writing them notifies nothing.
 */
export const REEMBED_RESULTS_PREFIX = 'reembed-results/';

/** The image extensions that make an object under the prefix an item. */
export const IMAGE_EXTENSIONS = [
  'jpg',
  'jpeg',
  'png',
  'webp',
  'gif',
  'avif',
  'tif',
  'tiff',
  'heic',
  'heif',
  'svg',
];

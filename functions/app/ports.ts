/**
 * The ports the use cases depend on: what they need of storage, in the domain's words. Adapters
 * (functions/adapters/dynamodb/profile-store.ts and item-store.ts on DynamoDB, functions/adapters/s3/
 * object-store.ts on S3, test/support/fakes/ in memory) implement them; test/support/contracts/ holds
 * the suite both must pass.
 */
import type { Rule, RuleDefinition } from '../contract/rules';
import type { CellKey, CellSums } from '../domain/attribution';
import type { CatalogueItem, ItemSource, ItemUpdateError } from '../domain/catalogue-item';
import type { Impression } from '../domain/impressions';
import type { EventType, InterestAction, InterestProfile } from '../domain/interest-profile';
import type { ItemAttributes } from '../domain/item-metadata';
import type { ProjectionArtefact } from '../domain/learned-space';
import type { ListFilter } from '../domain/list-filter';
import type { StoredPage } from '../domain/paging';
import type { RecentIncrement, RecentWeight } from '../domain/trending';
import type { VectorIndex } from '../vector-index';

/** The stored type of a shopper's edit of an interest: not an item event, never sent to POST /events. */
export const INTEREST_EDIT = 'interest_edit';

/** A raw event as stored: the source of truth a profile can be rebuilt from. */
export interface StoredEvent {
  userId: string;
  eventId: string;
  /** For an `interest_edit`, the interest's id (the row has no item). */
  itemId: string;
  /** An item event's type, or `interest_edit`: a shopper's edit of one interest (issue 23). */
  type: EventType | typeof INTEREST_EDIT;
  /** Event time, ms. */
  at: number;
  /** What an `interest_edit` did: the interest, the action and, for a mute or boost, its end (ms). */
  edit?: { interestId: string; action: InterestAction; until?: number };
  /** Hash of the payload as sent: a repeat with another payload is a conflict, not a duplicate. */
  payloadHash: string;
  recommendationId?: string;
  /** The item's position in that list, as the client sent it (attribution, issue 25). */
  position?: number;
  /** On a purchase: the item's price when bought (attribution's revenue), when the item has one. */
  price?: number;
  receivedAt: number;
  /** TTL, epoch seconds. */
  expiresAt: number;
  /** The profile epoch the event was accepted in (absent before epochs existed: 0). See `deleteUser`. */
  epoch?: number;
  /**
   * Co-engagement this event forms, applied off the request path by the Events stream's consumer:
   * the user's recent positive items at the time (partners) and the pair weight.
   */
  coItems?: string[];
  coWeight?: number;
  /**
   * On a basket event (add_to_cart, purchase): its frame weight, which marks it a basket event for
   * the co-purchase counters, and its item's category when it had one.
   */
  basketWeight?: number;
  category?: string;
}

export interface StoredProfile {
  profile: InterestProfile;
  version: number;
  /** Hash of the settings the profile was folded with; another hash means "rebuild from the events". */
  settingsId: string;
  /**
   * The vector space the centroids were folded in: a model id. Absent on profiles stored before
   * spaces were recorded (legacy), which count as another space. See `foldedIn`.
   */
  space?: string;
  epoch: number;
}

/**
 * A profile is used as is only in the space it was folded in: centroids of another model, even of
 * the same dimension, point at unrelated items. A legacy profile (no space) is never the active one.
 */
export const foldedIn = (stored: Pick<StoredProfile, 'space'>, space: string): boolean =>
  stored.space !== undefined && stored.space === space;

/**
 * What a writer must know before folding events into a profile: the row's version and epoch (a
 * row may be an erasure's tombstone, without a profile), or that there is no row.
 */
export interface ProfileHead {
  /** Undefined when there is no row. */
  version?: number;
  epoch: number;
  stored?: StoredProfile;
}

/** An event is stale, i.e. erased or being erased, when it was accepted in an earlier epoch. */
/** An item event (not an interest edit): what tastes, training and counters read. */
export const isItemEvent = <E extends Pick<StoredEvent, 'type'>>(
  event: E,
): event is E & { type: EventType } => event.type !== INTEREST_EDIT;

export const isStale = (event: Pick<StoredEvent, 'epoch'>, epoch: number) => (event.epoch ?? 0) < epoch;

/** What the ranking needs of an item, read in bulk. */
export interface ItemSnapshot {
  itemId: string;
  status: string;
  available: boolean;
  vector?: Float32Array;
  category?: string;
  price?: number;
}

/** What the event write path (and a refold on read) reads of the catalogue: each item's state and active-model vector. */
export interface CatalogueSnapshots {
  /** Items by id with the active model's vector; missing ids are absent from the map. */
  getItems(itemIds: string[]): Promise<Map<string, ItemSnapshot>>;
}

/** A user's raw events, read only: what a profile is refolded from (the write path's rebuild, recommend's refold). */
export interface EventHistory {
  /** Every stored event of a user, stale ones included (for a rebuild or an erasure). */
  allEvents(userId: string): Promise<StoredEvent[]>;
}

/** One event's share of the popularity counters: long-term (frame-weighted) and, when fresh, short-term. */
export interface PopularityIncrement {
  itemId: string;
  weight: number;
  recent?: RecentIncrement;
  /**
   * The event it comes from: an adapter may spread an item's increments over several counter rows
   * by it (so one viral item is not one hot key), the same event always to the same row.
   */
  eventId?: string;
}

/**
 * A user's raw events and the interest profile folded from them, kept consistent by optimistic
 * versions and erasure epochs.
 */
export interface ProfileRepository extends EventHistory {
  /** The profile row's version and epoch (and profile, unless it is an erasure's tombstone). */
  getProfileHead(userId: string): Promise<ProfileHead>;
  /** Stored events of one user among `eventIds`, by eventId. */
  getEvents(userId: string, eventIds: string[]): Promise<Map<string, StoredEvent>>;
  /**
   * Stores new events (each stamped with `next.epoch`), the profile folded from them and their
   * popularity (long-term, and the short-term `recent` share trending reads), all or nothing. Throws CommitConflict (app/errors.ts), writing nothing, when the
   * profile row is no longer at `expected` (undefined: there must be no row) or an event id is
   * already stored in the same or a later epoch.
   */
  commit(
    userId: string,
    events: StoredEvent[],
    next: StoredProfile,
    expected: { version: number; epoch: number } | undefined,
    popularity: PopularityIncrement[],
    now: number,
  ): Promise<void>;
  /**
   * Erases the profile and every raw event of the user by opening a new epoch: a writer that read
   * the profile before fails its commit, and events accepted afterwards start a new profile.
   */
  deleteUser(userId: string, now?: number): Promise<{ events: number }>;
}

/** What the event write path knows of one user before a commit: the profile head and the stored events it asked for. */
export interface UserWriteState {
  head: ProfileHead;
  /** Stored events among the ids asked for, by eventId. */
  events: Map<string, StoredEvent>;
}

/**
 * The event write path's store: besides the repository and the catalogue, one read of everything a
 * request's commits depend on, so that a request costs a read and a commit per user, not a chain of
 * reads (DynamoDB: one BatchGetItem over the Items, Events and Profiles tables).
 */
export interface EventWriteStore extends ProfileRepository, CatalogueSnapshots {
  /**
   * Items by id (as `getItems`) and, per user, the profile head (as `getProfileHead`) and the stored
   * events among `eventIds` (as `getEvents`), all read together. Every user asked for is in `users`.
   */
  readForCommit(
    itemIds: string[],
    users: ReadonlyArray<{ userId: string; eventIds: string[] }>,
  ): Promise<{ items: Map<string, ItemSnapshot>; users: Map<string, UserWriteState> }>;
}

// Recommendations: what the recommend use case (recommend.ts) reads; it writes only impressions.

/** What the API shows of an item. */
export interface ItemView {
  itemId: string;
  title?: string;
  category?: string;
  price?: number;
  tags?: string[];
  available: boolean;
  imageUrl?: string;
}

/** An item in full, as its details and the similar-items fallback read it (deleted ones too). */
export type StoredItem = CatalogueItem;

/** What recommend reads of items besides the index: views for lists, one item in full, image URLs. */
export interface ItemViews {
  /** Views of live items (missing or deleted ones are absent from the map). */
  views(itemIds: string[]): Promise<Map<string, ItemView>>;
  /** The item, deleted or not; undefined when there is none. */
  get(itemId: string): Promise<StoredItem | undefined>;
  /** A URL a client can fetch the item's image from for a while. */
  imageUrl(source: { bucket: string; key: string }): Promise<string>;
}

/** What recommend reads of a user's profile (its raw events only through EventHistory, to refold). */
export interface ProfileReader {
  /** The user's profile; undefined when there is none (or only an erasure in progress). */
  getProfile(userId: string): Promise<StoredProfile | undefined>;
}

/**
 * Aggregates over every user (never one user's data): popularity, co-engagement and impressions,
 * not yet decayed.
 */
export interface Aggregates {
  /** Frame-weighted popularity of every item with any. */
  popularity(): Promise<Map<string, number>>;
  /** Co-engagement from `itemIds` to other items, summed per target; the sources themselves are left out. */
  coEngagement(itemIds: string[]): Promise<Map<string, number>>;
  /**
   * Frame-weighted impressions of every item shown in any list (see `impressionFrameWeight`;
   * multiply by `impressionDecay` for impressions decayed to now).
   */
  impressions(): Promise<Map<string, number>>;
  /**
   * Short-term popularity of every item with some in the frames still kept (functions/domain/trending.ts;
   * `recentMass` decays it to now).
   */
  recentPopularity(): Promise<Map<string, RecentWeight[]>>;
}

/**
 * Co-purchase counters over every user (issue 22), fed off the request path by the Events stream's
 * consumer: frame-weighted like popularity, so their ratios are decayed ones.
 */
export interface CoPurchases {
  /** Items bought or put in a cart with `itemId` by the same users, with their weights (at most 200). */
  with(itemId: string): Promise<Map<string, number>>;
  /** Categories bought with items of `category`, with their weights. */
  categoriesWith(category: string): Promise<Map<string, number>>;
  /** Items of `partner` bought with items of `category`: what those buyers chose (at most 50). */
  itemsBoughtWith(category: string, partner: string): Promise<Map<string, number>>;
}

/**
 * Where recommend records each list it serves (issue 21): one write per list, issued beside the
 * list's other reads. The Impressions table's stream feeds the per-item counts off the request path.
 */
export interface ImpressionLog {
  record(impression: Impression): Promise<void>;
  /** The paging record of a list served to `viewer` (undefined: a service's list), if it is still stored. */
  page(viewer: string | undefined, recommendationId: string): Promise<StoredPage | undefined>;
}

/** A user's impressions, for an erasure. */
export interface ImpressionEraser {
  /** Deletes every impression recorded for the user; returns how many. */
  eraseUser(userId: string): Promise<number>;
}

/** Attribution's per-user counts (issue 25), for an erasure: the daily rows hold sums over users only. */
export interface AttributionEraser {
  /** Deletes the user's attribution cells; returns how many. */
  eraseUser(userId: string): Promise<number>;
}

/** One pre-aggregated daily row of attribution: a cell's per-user sums, or the day's organic or unattributed counts. */
export type DailyMetricRow =
  | { day: string; kind: 'cell'; cell: Omit<CellKey, 'day'>; sums: CellSums }
  | { day: string; kind: 'organic' | 'unattributed'; sums: CellSums };

/** The daily rows `GET /admin/metrics` reads (never the raw events). */
export interface DailyMetrics {
  /** Every row of each day given (UTC `YYYY-MM-DD`). */
  dailyRows(days: readonly string[]): Promise<DailyMetricRow[]>;
}

/** What a user was shown lately: rotation reads it. */
export interface ImpressionHistory {
  /** Items of the user's last `lists` lists (newest first in the store; order is not kept). */
  recentItems(userId: string, lists: number): Promise<Set<string>>;
}

/**
 * Where candidates come from. `exact`: the one in-memory index holds everything. `dynamodb-vector`:
 * each request gets a small index of over-fetched candidates (see DynamoVectorRetriever).
 */
/** The merchandising rules and the version of the set they were read at. */
export interface RuleSet {
  version: number;
  rules: Rule[];
}

/** Where the recommender reads the rules: the set's version alone (cheap), or all of it. */
export interface RuleSetReader {
  version(): Promise<number>;
  read(): Promise<RuleSet>;
}

/** Where admins' changes to the rules are stored (functions/app/rules.ts). */
export interface RuleRepository extends RuleSetReader {
  get(ruleId: string): Promise<Rule | undefined>;
  create(definition: RuleDefinition, now: number): Promise<Rule>;
  update(ruleId: string, definition: RuleDefinition, expectedVersion: number, now: number): Promise<Rule>;
  delete(ruleId: string, expectedVersion: number | undefined, now: number): Promise<void>;
}

export interface Serving {
  /**
   * An index holding at least the best `k` items for these queries that pass `filter`, plus
   * `alsoLoad`. It may hold others: the ranking filters again (the index's accept function).
   */
  forQueries(
    queries: Float32Array[],
    k: number,
    options: { filter?: ListFilter; alsoLoad?: string[] },
  ): Promise<VectorIndex>;
  /** An index holding at least these items (popular lists). */
  forItems(itemIds: string[]): Promise<VectorIndex>;
  /** Categories the catalogue serves, when the backend can tell; undefined when it cannot. */
  categories(): Promise<Set<string> | undefined>;
  /**
   * Starts what the first query needs (a cold start's index load) without waiting for it, so that a
   * request's own reads run meanwhile; settles when it is done, never rejects (the query that needs
   * the index reports a failure). Absent when a backend loads nothing up front.
   */
  prepare?(): Promise<void>;
}

/**
 * What the use cases need from the image model (functions/embedding/embedder.ts implements it): a
 * vector per image in one model's space, or an InvalidImage with its code.
 */
export interface ImageEmbedder {
  readonly modelId: string;
  readonly dim: number;
  readonly limits: { readonly maxBytes: number };
  embed(bytes: Uint8Array): Promise<{ vector: Float32Array }>;
}

// Ingestion

/**
 * One change of an object in the catalogue bucket, as ingestion sees it: whatever delivered it (an S3
 * notification, functions/adapters/s3/notifications.ts; a bucket listing, the backfill).
 */
export interface ObjectChange {
  kind: 'created' | 'removed';
  bucket: string;
  /** The object key, decoded. */
  key: string;
  /** Orders changes of the same key (S3's sequencer; compared once normalised). */
  sequencer: string;
  versionId?: string;
  /** Without quotes. */
  etag?: string;
  size?: number;
  /** When the change happened (ms); absent: when it is applied. */
  eventTime?: number;
  /**
   * A removal of one version for good (or of a delete marker) in a versioned bucket: the key may
   * still have a current version, which is then the item's image. A plain delete (a delete marker)
   * leaves none.
   */
  versionRemoved?: boolean;
}

/** What ingestion needs from the object store: a port, so the core runs on any object store. */
export interface ObjectStore {
  /** Undefined when the object (version) no longer exists. */
  head(bucket: string, key: string, versionId?: string): Promise<ObjectHead | undefined>;
  /** Undefined when the object (version) no longer exists; InvalidImage when it is too large to read. */
  read(bucket: string, key: string, versionId?: string): Promise<Uint8Array | undefined>;
}

export interface ObjectHead {
  /** Without quotes. */
  etag?: string;
  size?: number;
  versionId?: string;
  metadata: Record<string, string | undefined>;
}

/**
 * The catalogue items, written in event order: every write is conditional on the incoming event
 * being newer than the stored state (same key: sequencer; another key: event time, the rule of
 * `isStale` in functions/domain/catalogue-item.ts), so duplicates, retries and late deliveries can
 * never overwrite newer state or resurrect a deleted item. Each write returns false, writing nothing,
 * when its condition does not hold.
 */
export interface ItemRepository {
  /** Strongly consistent unless `consistent` is false. */
  get(itemId: string, consistent?: boolean): Promise<CatalogueItem | undefined>;
  /** Writes the whole item (a new or replaced image) if its source is newer than the stored one. */
  putIfNewer(item: CatalogueItem, now: number): Promise<boolean>;
  /**
   * Same content, new metadata: attributes change, vectors stay. Only if `source` is newer and the
   * stored content has `source.etag`; `clearUpdateError` forgets a recorded failed replacement.
   */
  updateAttributesIfNewer(
    itemId: string,
    attributes: ItemAttributes,
    warnings: string[],
    source: ItemSource,
    now: number,
    clearUpdateError?: boolean,
  ): Promise<boolean>;
  /**
   * A tombstone with the delete's source (status deleted, no vectors, rejection or update error),
   * written only over exactly the state the caller read: `expected` (same key and sequencer), or no
   * row at all.
   */
  tombstoneIfUnchanged(
    itemId: string,
    source: ItemSource,
    expected: ItemSource | undefined,
    now: number,
  ): Promise<boolean>;
  /**
   * Records a replacement that could not be embedded on a ready item, which keeps its vectors. Only
   * while the item still serves `expected` and no later failure was recorded.
   */
  recordUpdateErrorIfCurrent(
    itemId: string,
    error: ItemUpdateError,
    expected: ItemSource,
    now: number,
  ): Promise<boolean>;
  /** Forgets a failed replacement once its object is deleted (a delete newer than the failure). */
  clearUpdateErrorIfDeleted(itemId: string, deleted: ItemSource): Promise<boolean>;
  /** Every item's state and source, for reconciling the items with their bucket (the backfill). */
  itemSources(): AsyncIterable<Pick<CatalogueItem, 'itemId' | 'status' | 'source'>>;
  /**
   * Adds one model's vector to a ready item whose content is still `expected` (the backfill path).
   * Never touches a deleted, rejected or replaced item.
   */
  addVectorIfCurrent(
    itemId: string,
    modelId: string,
    vector: Float32Array,
    expected: ItemSource,
    now: number,
  ): Promise<boolean>;
}

// Learned similarity: promoting a projection (learned-space.ts)

/** The artefacts of promoted projections, one per space, written once (S3: beside the index snapshots). */
export interface ProjectionArtefacts {
  /** Writes the artefact unless its space has one already; false when it had (nothing is changed). */
  putIfAbsent(artefact: ProjectionArtefact): Promise<boolean>;
  /** Undefined when the space has none. */
  get(space: string): Promise<ProjectionArtefact | undefined>;
}

/** A ready item's vector in one space, with the source it was embedded from. */
export interface ReadyItemVector {
  itemId: string;
  source: ItemSource;
  vector: Float32Array;
}

/** What re-projecting the catalogue reads and writes of the Items table. */
export interface ProjectionTargets extends Pick<ItemRepository, 'addVectorIfCurrent'> {
  /** Every ready item holding a vector in `space`, read with strong consistency. */
  readyVectors(space: string): AsyncIterable<ReadyItemVector>;
}

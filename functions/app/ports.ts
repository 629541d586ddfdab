/**
 * The ports the use cases depend on: what they need of storage, in the domain's words. Adapters
 * (functions/adapters/ on DynamoDB and S3, test/support/fakes/ in memory) implement them;
 * test/support/contracts/ holds the suite both must pass.
 */
import type { EventType, InterestProfile } from '../domain/interest-profile';
import type { VectorIndex } from '../vector-index';

/** A raw event as stored: the source of truth a profile can be rebuilt from. */
export interface StoredEvent {
  userId: string;
  eventId: string;
  itemId: string;
  type: EventType;
  /** Event time, ms. */
  at: number;
  /** Hash of the payload as sent: a repeat with another payload is a conflict, not a duplicate. */
  payloadHash: string;
  recommendationId?: string;
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
}

export interface StoredProfile {
  profile: InterestProfile;
  version: number;
  /** Hash of the settings the profile was folded with; another hash means "rebuild from the events". */
  settingsId: string;
  epoch: number;
}

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
export const isStale = (event: Pick<StoredEvent, 'epoch'>, epoch: number) => (event.epoch ?? 0) < epoch;

/** What the ranking needs of an item, read in bulk. */
export interface ItemSnapshot {
  itemId: string;
  status: string;
  available: boolean;
  vector?: Float32Array;
}

/** What the event write path reads of the catalogue: each item's state and active-model vector. */
export interface CatalogueSnapshots {
  /** Items by id with the active model's vector; missing ids are absent from the map. */
  getItems(itemIds: string[]): Promise<Map<string, ItemSnapshot>>;
}

/**
 * A user's raw events and the interest profile folded from them, kept consistent by optimistic
 * versions and erasure epochs.
 */
export interface ProfileRepository {
  /** The profile row's version and epoch (and profile, unless it is an erasure's tombstone). */
  getProfileHead(userId: string): Promise<ProfileHead>;
  /** Stored events of one user among `eventIds`, by eventId. */
  getEvents(userId: string, eventIds: string[]): Promise<Map<string, StoredEvent>>;
  /** Every stored event of a user, stale ones included (for a rebuild or an erasure). */
  allEvents(userId: string): Promise<StoredEvent[]>;
  /**
   * Stores new events (each stamped with `next.epoch`), the profile folded from them and their
   * popularity, all or nothing. Throws CommitConflict (app/errors.ts), writing nothing, when the
   * profile row is no longer at `expected` (undefined: there must be no row) or an event id is
   * already stored in the same or a later epoch.
   */
  commit(
    userId: string,
    events: StoredEvent[],
    next: StoredProfile,
    expected: { version: number; epoch: number } | undefined,
    popularity: Array<{ itemId: string; weight: number }>,
    now: number,
  ): Promise<void>;
  /**
   * Erases the profile and every raw event of the user by opening a new epoch: a writer that read
   * the profile before fails its commit, and events accepted afterwards start a new profile.
   */
  deleteUser(userId: string, now?: number): Promise<{ events: number }>;
}

// Recommendations: what the recommend use case (recommend.ts) reads; it writes nothing.

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
export interface StoredItem {
  itemId: string;
  status: 'ready' | 'rejected' | 'deleted';
  /** The S3 object the item's current state came from. */
  source: { bucket: string; key: string };
  /** Unit-length float32 vectors by model id. */
  vectors: Record<string, Float32Array>;
  title?: string;
  category?: string;
  price?: number;
  tags?: string[];
  available: boolean;
  rejection?: { code: string; message: string };
  /** A replacement image that could not be embedded while the item kept its good vector. */
  lastUpdateError?: { code: string; message: string; key: string; at: number };
  metadataWarnings?: string[];
  createdAt: number;
  updatedAt: number;
}

/** What recommend reads of items besides the index: views for lists, one item in full, image URLs. */
export interface ItemViews {
  /** Views of live items (missing or deleted ones are absent from the map). */
  views(itemIds: string[]): Promise<Map<string, ItemView>>;
  /** The item, deleted or not; undefined when there is none. */
  get(itemId: string): Promise<StoredItem | undefined>;
  /** A URL a client can fetch the item's image from for a while. */
  imageUrl(source: { bucket: string; key: string }): Promise<string>;
}

/** What recommend reads of a user: the interest profile, never the raw events. */
export interface ProfileReader {
  /** The user's profile; undefined when there is none (or only an erasure in progress). */
  getProfile(userId: string): Promise<StoredProfile | undefined>;
}

/** Aggregates over every user (never one user's data): popularity and co-engagement, not yet decayed. */
export interface Aggregates {
  /** Frame-weighted popularity of every item with any. */
  popularity(): Promise<Map<string, number>>;
  /** Co-engagement from `itemIds` to other items, summed per target; the sources themselves are left out. */
  coEngagement(itemIds: string[]): Promise<Map<string, number>>;
}

/**
 * Where candidates come from. `exact`: the one in-memory index holds everything. `dynamodb-vector`:
 * each request gets a small index of over-fetched candidates (see DynamoVectorRetriever).
 */
export interface Serving {
  /** An index holding at least the best `k` items for these queries, plus `alsoLoad`. */
  forQueries(
    queries: Float32Array[],
    k: number,
    options: { category?: string; alsoLoad?: string[] },
  ): Promise<VectorIndex>;
  /** An index holding at least these items (popular lists). */
  forItems(itemIds: string[]): Promise<VectorIndex>;
  /** Categories the catalogue serves, when the backend can tell; undefined when it cannot. */
  categories(): Promise<Set<string> | undefined>;
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

import { createHash } from 'node:crypto';

/**
 * A user's interest profile as a pure fold over their events (see README, "Interest profiles").
 *
 * Time decay uses a fixed frame: an event of weight w at time t is stored as w * 2^((t - anchor) / h),
 * so the value "now" of any decayed sum is stored * 2^((anchor - now) / h) whatever the anchor, and the
 * sums do not depend on the order in which events arrive. Only the centroid each positive event joins
 * depends on what came before (as in PinnerSage's online variant).
 */
export const EVENT_TYPES = ['view', 'click', 'like', 'add_to_cart', 'purchase', 'dislike', 'hide'] as const;
export type EventType = (typeof EVENT_TYPES)[number];
export const NEGATIVE_TYPES: ReadonlySet<EventType> = new Set(['dislike', 'hide']);
export const EXCLUDING_TYPES: ReadonlySet<EventType> = new Set(['hide', 'purchase']);
/** The typed histories (issue 22): what the user looked at, and what they bought. */
export const HISTORY_KINDS = ['viewed', 'purchased'] as const;
export type HistoryKind = (typeof HISTORY_KINDS)[number];
const HISTORY_TYPES: Record<HistoryKind, ReadonlySet<EventType>> = {
  viewed: new Set(['view', 'click']),
  purchased: new Set(['purchase']),
};

/**
 * The version of the fold itself (what a profile holds and how events change it), beside the
 * settings: a profile folded by an older fold is rebuilt from its raw events (see `settingsId`).
 * 2: the typed `viewed` and `purchased` lists.
 * 3: interests a shopper can see and edit (issue 23): each centroid's stable id, mutes, boosts and
 * forgotten items, from `interest_edit` events.
 */
export const PROFILE_FOLD_VERSION = 3;

export interface ProfileSettings {
  /** Weight of each event type; positive types pull centroids, dislike/hide feed the penalty set. */
  weights: Record<EventType, number>;
  halfLifeDays: number;
  /** K: the most interest centroids a user keeps. */
  maxCentroids: number;
  /** A positive event joins its nearest centroid when the cosine is at least this; else it opens one. */
  joinSimilarity: number;
  maxPenalties: number;
  maxExclusions: number;
  maxSeen: number;
  /** Recently viewed (view and click events) and bought (purchase events) items, newest first. */
  maxViewed: number;
  maxPurchased: number;
  /** Recent positive items: the "because you liked" reasons and the co-engagement pairs. */
  maxPositives: number;
  /** Items of forgotten interests kept out of the tastes (the most recent forgets win). */
  maxForgotten: number;
}

export const DEFAULT_PROFILE_SETTINGS: ProfileSettings = {
  weights: { view: 0.25, click: 0.5, like: 2, add_to_cart: 3, purchase: 4, dislike: 2, hide: 3 },
  halfLifeDays: 30,
  maxCentroids: 4,
  joinSimilarity: 0.55,
  maxPenalties: 100,
  maxExclusions: 1000,
  maxSeen: 300,
  maxViewed: 100,
  maxPurchased: 100,
  maxPositives: 50,
  maxForgotten: 200,
};

export interface InterestCentroid {
  /**
   * Stable id (issue 23): a hash of the event that opened the centroid (time, item, type), so a
   * rebuild from the raw events, which folds in the same order, names it the same. Absent on
   * profiles of fold 2 and older, which are refolded.
   */
  id?: string;
  /** When the opening event happened (ms): of two merging centroids, the older id survives. */
  openedAt?: number;
  /** The shopper muted this taste until then (ms): it retrieves nothing before. */
  mutedUntil?: number;
  /** The shopper boosted this taste until then (ms): its weight counts BOOST_FACTOR times. */
  boostedUntil?: number;
  /** Frame-weighted sum of the unit vectors that joined; its direction is the taste. */
  sum: Float64Array;
  /** Frame-weighted mass: the decayed weight of the taste. */
  mass: number;
  /** Items that formed this taste, most recent last (bounded). */
  itemIds: string[];
  lastAt: number;
}

export interface WeightedItem {
  itemId: string;
  /** Frame weight (see module comment). */
  weight: number;
  lastAt: number;
}

export interface TimedItem {
  itemId: string;
  at: number;
}

export interface InterestProfile {
  userId: string;
  /** Time origin of the frame weights (ms). */
  anchor: number;
  dim: number;
  eventCount: number;
  /** Frame-weighted sums per event type. */
  typeWeights: Record<EventType, number>;
  centroids: InterestCentroid[];
  penalties: WeightedItem[];
  exclusions: TimedItem[];
  seen: TimedItem[];
  /** Items viewed or clicked, newest first, once each (at: the latest such event). */
  viewed: TimedItem[];
  /** Items bought, newest first, once each (at: the latest purchase). */
  purchased: TimedItem[];
  positives: WeightedItem[];
  /**
   * Items of interests the shopper forgot, newest first: their events shape no taste any more (they
   * neither rebuild the forgotten interest nor join another). Absent before fold 3.
   */
  forgotten?: TimedItem[];
  lastEventAt: number;
}

export interface ProfileEvent {
  type: EventType;
  itemId: string;
  /** Event time, ms since the epoch. */
  at: number;
  /** The item's unit vector (active model); required for positive types. */
  vector?: Float32Array;
}

const DAY_MS = 86_400_000;
/** Rebase the frame before weights leave the comfortable range of a double. */
const MAX_FRAME_HALF_LIVES = 256;

export function emptyProfile(userId: string, dim: number, anchor: number): InterestProfile {
  return {
    userId,
    anchor,
    dim,
    eventCount: 0,
    typeWeights: Object.fromEntries(EVENT_TYPES.map((t) => [t, 0])) as Record<EventType, number>,
    centroids: [],
    penalties: [],
    exclusions: [],
    seen: [],
    viewed: [],
    purchased: [],
    positives: [],
    forgotten: [],
    lastEventAt: 0,
  };
}

/** The factor that turns a frame weight into its decayed value at `now`. */
export function decayFactor(
  profile: Pick<InterestProfile, 'anchor'>,
  now: number,
  halfLifeDays: number,
): number {
  return 2 ** ((profile.anchor - now) / (halfLifeDays * DAY_MS));
}

const frameWeight = (anchor: number, at: number, weight: number, halfLifeDays: number) =>
  weight * 2 ** ((at - anchor) / (halfLifeDays * DAY_MS));

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

function rebase(profile: InterestProfile, newAnchor: number, halfLifeDays: number): void {
  const scale = 2 ** ((profile.anchor - newAnchor) / (halfLifeDays * DAY_MS));
  for (const type of EVENT_TYPES) profile.typeWeights[type] *= scale;
  for (const centroid of profile.centroids) {
    centroid.mass *= scale;
    for (let i = 0; i < centroid.sum.length; i++) centroid.sum[i] = (centroid.sum[i] as number) * scale;
  }
  for (const item of [...profile.penalties, ...profile.positives]) item.weight *= scale;
  profile.anchor = newAnchor;
}

/**
 * Bytes each list may take in the stored profile (its JSON, item ids escaped as JSON escapes them).
 * Counts alone do not bound a row: an item id may be 512 bytes, and a control character in it takes
 * six once escaped, so 1,000 exclusions could need 3 MB against DynamoDB's 400 KB item limit. With
 * these budgets the lists need at most 224 KiB plus 4 KiB per centroid (see `maxProfileBytes`).
 */
export const PROFILE_LIST_BUDGETS = {
  exclusions: 96 * 1024,
  seen: 48 * 1024,
  viewed: 16 * 1024,
  purchased: 16 * 1024,
  penalties: 24 * 1024,
  positives: 24 * 1024,
  forgotten: 16 * 1024,
  /** Per centroid, for its item ids. */
  centroidItems: 4 * 1024,
} as const;
/** What an entry costs besides its id, at most: `{"itemId":,"weight":<24-char float>,"lastAt":<ms>},`. */
const ENTRY_OVERHEAD_BYTES = 72;
const idBytes = (itemId: string) => Buffer.byteLength(JSON.stringify(itemId));

/** The longest prefix of `items` (already in keeping order) whose entries fit in `budget` bytes. */
function withinBytes<T extends { itemId: string }>(items: T[], budget: number): T[] {
  let used = 0;
  for (let i = 0; i < items.length; i++) {
    used += idBytes((items[i] as T).itemId) + ENTRY_OVERHEAD_BYTES;
    if (used > budget) return items.slice(0, i);
  }
  return items;
}

/**
 * Keeps the `max` most recent entries that fit in `budget` bytes, ties broken by item id, so the
 * result is order independent.
 */
function boundedByTime<T extends { itemId: string; at?: number; lastAt?: number }>(
  items: T[],
  max: number,
  budget: number,
): T[] {
  const time = (x: T) => x.at ?? x.lastAt ?? 0;
  items.sort((a, b) => time(b) - time(a) || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0));
  return withinBytes(items.slice(0, max), budget);
}

/** A centroid's item ids, most recent last: the last `max` that fit in the per-centroid budget. */
function recentCentroidItems(itemIds: string[], max: number): string[] {
  const newestFirst = itemIds.slice(-max).reverse();
  return withinBytes(
    newestFirst.map((itemId) => ({ itemId })),
    PROFILE_LIST_BUDGETS.centroidItems,
  )
    .map((entry) => entry.itemId)
    .reverse();
}

/**
 * Applies every byte budget to a profile, e.g. one stored before the budgets existed (whose lists
 * are trimmed only when an event touches them otherwise). Mutates and returns the profile.
 */
export function withinBudgets(profile: InterestProfile): InterestProfile {
  profile.exclusions = withinBytes(profile.exclusions, PROFILE_LIST_BUDGETS.exclusions);
  profile.seen = withinBytes(profile.seen, PROFILE_LIST_BUDGETS.seen);
  profile.viewed = withinBytes(profile.viewed, PROFILE_LIST_BUDGETS.viewed);
  profile.purchased = withinBytes(profile.purchased, PROFILE_LIST_BUDGETS.purchased);
  profile.penalties = withinBytes(profile.penalties, PROFILE_LIST_BUDGETS.penalties);
  profile.positives = withinBytes(profile.positives, PROFILE_LIST_BUDGETS.positives);
  if (profile.forgotten) profile.forgotten = withinBytes(profile.forgotten, PROFILE_LIST_BUDGETS.forgotten);
  for (const centroid of profile.centroids)
    centroid.itemIds = recentCentroidItems(centroid.itemIds, centroid.itemIds.length);
  return profile;
}

/**
 * An upper bound of a stored profile's bytes under `settings` and `dim`: the list budgets, each
 * centroid's base64 float64 sum and item ids, a user id of up to 256 characters escaped, and the
 * scalar fields. The tracker refuses, at cold start, settings whose bound leaves no room in a row.
 */
export function maxProfileBytes(settings: Pick<ProfileSettings, 'maxCentroids'>, dim: number): number {
  const lists =
    PROFILE_LIST_BUDGETS.exclusions +
    PROFILE_LIST_BUDGETS.seen +
    PROFILE_LIST_BUDGETS.viewed +
    PROFILE_LIST_BUDGETS.purchased +
    PROFILE_LIST_BUDGETS.penalties +
    PROFILE_LIST_BUDGETS.positives +
    PROFILE_LIST_BUDGETS.forgotten;
  // Besides the sum and the items: the id, the opening time, a mute and a boost.
  const centroid = Math.ceil((dim * 8) / 3) * 4 + PROFILE_LIST_BUDGETS.centroidItems + 256;
  return lists + settings.maxCentroids * centroid + 256 * 6 + 1024;
}

function upsertTimed(
  list: TimedItem[],
  itemId: string,
  at: number,
  max: number,
  budget: number,
): TimedItem[] {
  const existing = list.find((x) => x.itemId === itemId);
  if (existing) existing.at = Math.max(existing.at, at);
  else list.push({ itemId, at });
  return boundedByTime(list, max, budget);
}

function upsertWeighted(
  list: WeightedItem[],
  itemId: string,
  weight: number,
  at: number,
  max: number,
  budget: number,
): WeightedItem[] {
  const existing = list.find((x) => x.itemId === itemId);
  if (existing) {
    existing.weight += weight;
    existing.lastAt = Math.max(existing.lastAt, at);
  } else list.push({ itemId, weight, lastAt: at });
  return boundedByTime(list, max, budget);
}

function mergeClosestPair(centroids: InterestCentroid[], maxItems: number): void {
  let best: [number, number, number] = [0, 1, -Infinity];
  for (let i = 0; i < centroids.length; i++) {
    for (let j = i + 1; j < centroids.length; j++) {
      const similarity = cosine(
        (centroids[i] as InterestCentroid).sum,
        (centroids[j] as InterestCentroid).sum,
      );
      if (similarity > best[2]) best = [i, j, similarity];
    }
  }
  const [i, j] = best;
  // The merged interest keeps the older id (its earliest member event), and the later end of either
  // one's mute and boost: a merge never lifts an edit the shopper made.
  const [keep, gone] = openedBefore(centroids[j] as InterestCentroid, centroids[i] as InterestCentroid)
    ? [centroids[j] as InterestCentroid, centroids[i] as InterestCentroid]
    : [centroids[i] as InterestCentroid, centroids[j] as InterestCentroid];
  keep.mutedUntil = laterEnd(keep.mutedUntil, gone.mutedUntil);
  keep.boostedUntil = laterEnd(keep.boostedUntil, gone.boostedUntil);
  if (keep.mutedUntil === undefined) delete keep.mutedUntil;
  if (keep.boostedUntil === undefined) delete keep.boostedUntil;
  for (let d = 0; d < keep.sum.length; d++) keep.sum[d] = (keep.sum[d] as number) + (gone.sum[d] as number);
  keep.mass += gone.mass;
  keep.itemIds = recentCentroidItems(
    [...keep.itemIds.filter((id) => !gone.itemIds.includes(id)), ...gone.itemIds],
    maxItems,
  );
  keep.lastAt = Math.max(keep.lastAt, gone.lastAt);
  centroids.splice(centroids.indexOf(gone), 1);
}

const openedBefore = (a: InterestCentroid, b: InterestCentroid) =>
  (a.openedAt ?? 0) < (b.openedAt ?? 0) ||
  ((a.openedAt ?? 0) === (b.openedAt ?? 0) && (a.id ?? '') < (b.id ?? ''));
const laterEnd = (a: number | undefined, b: number | undefined) =>
  a === undefined ? b : b === undefined ? a : Math.max(a, b);

/** What every interest id looks like: `t` and 11 hex digits. */
export const INTEREST_ID_PATTERN = /^t[0-9a-f]{11}$/;

/** An interest's stable id: a hash of the event that opened it, as the fold orders events. */
export function interestId(event: Pick<ProfileEvent, 'at' | 'itemId' | 'type'>): string {
  return `t${createHash('sha256').update(`${event.at}\u0000${event.itemId}\u0000${event.type}`).digest('hex').slice(0, 11)}`;
}

const CENTROID_ITEMS = 20;

/** Applies one event; mutates and returns the profile. */
export function applyEvent(
  profile: InterestProfile,
  event: ProfileEvent,
  settings: ProfileSettings,
): InterestProfile {
  const { halfLifeDays } = settings;
  if ((event.at - profile.anchor) / (halfLifeDays * DAY_MS) > MAX_FRAME_HALF_LIVES)
    rebase(profile, event.at, halfLifeDays);
  const weight = frameWeight(profile.anchor, event.at, settings.weights[event.type], halfLifeDays);
  profile.eventCount += 1;
  profile.typeWeights[event.type] += weight;
  profile.lastEventAt = Math.max(profile.lastEventAt, event.at);
  profile.seen = upsertTimed(
    profile.seen,
    event.itemId,
    event.at,
    settings.maxSeen,
    PROFILE_LIST_BUDGETS.seen,
  );
  for (const kind of HISTORY_KINDS) {
    if (!HISTORY_TYPES[kind].has(event.type)) continue;
    // A repeat moves the item to the front (its latest time), so each list names an item once.
    profile[kind] = upsertTimed(
      profile[kind],
      event.itemId,
      event.at,
      kind === 'viewed' ? settings.maxViewed : settings.maxPurchased,
      PROFILE_LIST_BUDGETS[kind],
    );
  }
  if (EXCLUDING_TYPES.has(event.type)) {
    profile.exclusions = upsertTimed(
      profile.exclusions,
      event.itemId,
      event.at,
      settings.maxExclusions,
      PROFILE_LIST_BUDGETS.exclusions,
    );
  }

  if (NEGATIVE_TYPES.has(event.type)) {
    profile.penalties = upsertWeighted(
      profile.penalties,
      event.itemId,
      weight,
      event.at,
      settings.maxPenalties,
      PROFILE_LIST_BUDGETS.penalties,
    );
    return profile;
  }
  if (weight <= 0) return profile;
  // An item of a forgotten interest shapes no taste again, so forgetting survives a re-like.
  if (profile.forgotten?.some((f) => f.itemId === event.itemId)) return profile;
  const vector = event.vector;
  if (!vector || vector.length !== profile.dim) {
    throw new Error(`a ${event.type} event needs the item's ${profile.dim}-d vector`);
  }
  profile.positives = upsertWeighted(
    profile.positives,
    event.itemId,
    weight,
    event.at,
    settings.maxPositives,
    PROFILE_LIST_BUDGETS.positives,
  );

  let nearest: InterestCentroid | undefined;
  let nearestSimilarity = -Infinity;
  for (const centroid of profile.centroids) {
    const similarity = cosine(centroid.sum, vector);
    if (similarity > nearestSimilarity) {
      nearest = centroid;
      nearestSimilarity = similarity;
    }
  }
  if (nearest && nearestSimilarity >= settings.joinSimilarity) {
    for (let d = 0; d < vector.length; d++)
      nearest.sum[d] = (nearest.sum[d] as number) + weight * (vector[d] as number);
    nearest.mass += weight;
    nearest.itemIds = recentCentroidItems(
      [...nearest.itemIds.filter((id) => id !== event.itemId), event.itemId],
      CENTROID_ITEMS,
    );
    nearest.lastAt = Math.max(nearest.lastAt, event.at);
  } else {
    const sum = new Float64Array(vector.length);
    for (let d = 0; d < vector.length; d++) sum[d] = weight * (vector[d] as number);
    profile.centroids.push({
      id: interestId(event),
      openedAt: event.at,
      sum,
      mass: weight,
      itemIds: [event.itemId],
      lastAt: event.at,
    });
    while (profile.centroids.length > settings.maxCentroids)
      mergeClosestPair(profile.centroids, CENTROID_ITEMS);
  }
  return profile;
}

export const INTEREST_ACTIONS = ['mute', 'boost', 'reset', 'forget'] as const;
export type InterestAction = (typeof INTEREST_ACTIONS)[number];

/** A shopper's edit of one interest (issue 23), an event in their log like any other. */
export interface InterestEdit {
  interestId: string;
  action: InterestAction;
  /** Event time, ms. */
  at: number;
  /** End of a mute or boost (ms). */
  until?: number;
}

/** While boosted, an interest's weight counts this many times. */
export const BOOST_FACTOR = 2;

/**
 * Applies one edit; mutates and returns the profile. An id the profile does not hold (merged away
 * into an older one, or forgotten already) changes nothing. Mute and boost last until `until`;
 * reset lifts both; forget removes the interest and keeps its member items out of every taste.
 */
export function applyInterestEdit(
  profile: InterestProfile,
  edit: InterestEdit,
  settings: ProfileSettings,
): InterestProfile {
  const index = profile.centroids.findIndex((c) => c.id === edit.interestId);
  const centroid = profile.centroids[index];
  if (!centroid) return profile;
  profile.lastEventAt = Math.max(profile.lastEventAt, edit.at);
  switch (edit.action) {
    case 'mute':
      centroid.mutedUntil = edit.until ?? edit.at;
      break;
    case 'boost':
      centroid.boostedUntil = edit.until ?? edit.at;
      break;
    case 'reset':
      delete centroid.mutedUntil;
      delete centroid.boostedUntil;
      break;
    case 'forget': {
      profile.centroids.splice(index, 1);
      let forgotten = profile.forgotten ?? [];
      for (const itemId of centroid.itemIds)
        forgotten = upsertTimed(
          forgotten,
          itemId,
          edit.at,
          settings.maxForgotten,
          PROFILE_LIST_BUDGETS.forgotten,
        );
      profile.forgotten = forgotten;
      const members = new Set(centroid.itemIds);
      profile.positives = profile.positives.filter((p) => !members.has(p.itemId));
      break;
    }
  }
  return profile;
}

/**
 * The profile from scratch: a fold over events in time order (ties by item id, then type), each edit
 * after the events of its instant.
 */
export function foldEvents(
  userId: string,
  dim: number,
  events: ProfileEvent[],
  settings: ProfileSettings = DEFAULT_PROFILE_SETTINGS,
  edits: InterestEdit[] = [],
): InterestProfile {
  const ordered = [...events].sort(
    (a, b) =>
      a.at - b.at || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0) || a.type.localeCompare(b.type),
  );
  const orderedEdits = [...edits].sort(
    (a, b) => a.at - b.at || (a.interestId < b.interestId ? -1 : a.interestId > b.interestId ? 1 : 0),
  );
  const first = Math.min(ordered[0]?.at ?? Infinity, orderedEdits[0]?.at ?? Infinity);
  const profile = emptyProfile(userId, dim, Number.isFinite(first) ? first : 0);
  let e = 0;
  for (const event of ordered) {
    while (e < orderedEdits.length && (orderedEdits[e] as InterestEdit).at < event.at)
      applyInterestEdit(profile, orderedEdits[e++] as InterestEdit, settings);
    applyEvent(profile, event, settings);
  }
  while (e < orderedEdits.length) applyInterestEdit(profile, orderedEdits[e++] as InterestEdit, settings);
  return profile;
}

export const isMuted = (centroid: Pick<InterestCentroid, 'mutedUntil'>, now: number) =>
  centroid.mutedUntil !== undefined && centroid.mutedUntil > now;
export const isBoosted = (centroid: Pick<InterestCentroid, 'boostedUntil'>, now: number) =>
  centroid.boostedUntil !== undefined && centroid.boostedUntil > now;

/**
 * The profile as retrieval reads it at `now`: muted interests left out (and their member items out
 * of the recent positives, which seed co-engagement), boosted ones weighing BOOST_FACTOR times.
 * Returns the profile itself when no edit is in effect.
 */
export function servingProfile(profile: InterestProfile, now: number): InterestProfile {
  const muted = profile.centroids.filter((c) => isMuted(c, now));
  if (muted.length === 0 && !profile.centroids.some((c) => isBoosted(c, now))) return profile;
  const mutedItems = new Set(muted.flatMap((c) => c.itemIds));
  return {
    ...profile,
    centroids: profile.centroids
      .filter((c) => !isMuted(c, now))
      .map((c) => (isBoosted(c, now) ? { ...c, mass: c.mass * BOOST_FACTOR } : c)),
    positives: profile.positives.filter((p) => !mutedItems.has(p.itemId)),
  };
}

/** Decayed values at `now`, for ranking and for people. */
export function decayedTotals(profile: InterestProfile, now: number, settings: ProfileSettings) {
  const factor = decayFactor(profile, now, settings.halfLifeDays);
  const byType = Object.fromEntries(EVENT_TYPES.map((t) => [t, profile.typeWeights[t] * factor])) as Record<
    EventType,
    number
  >;
  return {
    byType,
    total: EVENT_TYPES.reduce((sum, t) => sum + byType[t], 0),
    centroidWeights: profile.centroids.map((c) => c.mass * factor),
    penaltyWeights: profile.penalties.map((p) => ({ itemId: p.itemId, weight: p.weight * factor })),
  };
}

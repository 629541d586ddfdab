import { createHash } from 'node:crypto';
import * as z from 'zod';
import { BASKET_TYPES } from '../domain/complements';
import { NotFound } from '../domain/errors';
import {
  describeInstant,
  describeIssues,
  type EventResult,
  eventRejectionCode,
  type TrackedEvent,
  TrackedEventSchema,
} from '../domain/event-schema';
import { uuidV7Generator } from '../domain/impressions';
import {
  applyEvent,
  applyInterestEdit,
  type EventType,
  emptyProfile,
  type InterestEdit,
  type InterestProfile,
  NEGATIVE_TYPES,
  type ProfileEvent,
  type ProfileSettings,
  withinBudgets,
} from '../domain/interest-profile';
import { DEFAULT_TRENDING, recentWeight } from '../domain/trending';
import { CommitConflict, Contention } from './errors';
import {
  type EventWriteStore,
  foldedIn,
  INTEREST_EDIT,
  type ItemSnapshot,
  isStale,
  type PopularityIncrement,
  type StoredEvent,
  type StoredProfile,
  type UserWriteState,
} from './ports';
import { refoldProfile, settingsId } from './refold';

/** Ids of interest edits (issue 23). */
const newEditId = uuidV7Generator();

export interface TrackingPolicy {
  settings: ProfileSettings;
  /** Events further in the future are rejected (clock skew allowance). */
  maxFutureMs: number;
  /** Events older than this are rejected on the live route (the import route allows up to the TTL). */
  maxAgeMs: number;
  /** Raw events are kept this long after their time. */
  eventTtlMs: number;
  /** Start of the popularity frame (see README): fixed, so popularity sums are order independent. */
  popularityEpoch: number;
  /** Half-life of the short-term popularity trending reads (functions/domain/trending.ts), ms. */
  trendingHalfLifeMs: number;
  /**
   * Co-engagement pairs a positive event forms with the user's most recent positive items. Each
   * pair costs two counter updates, applied off the request path (see co-engagement.ts); at most
   * 49 keeps one event's updates within one transaction.
   */
  coEngagementFanout: number;
  /**
   * Only events weighing at least this form co-engagement pairs (clicks and stronger, by default):
   * a view is the weakest and most common signal, and each pair costs two counter updates.
   */
  coEngagementMinWeight: number;
}

const DAY = 86_400_000;
export const DEFAULT_TRACKING_POLICY: Omit<TrackingPolicy, 'settings'> = {
  maxFutureMs: 5 * 60_000,
  maxAgeMs: 30 * DAY,
  eventTtlMs: 90 * DAY,
  popularityEpoch: Date.UTC(2025, 0, 1),
  trendingHalfLifeMs: DEFAULT_TRENDING.halfLifeMs,
  coEngagementFanout: 10,
  coEngagementMinWeight: 0.5,
};

export interface TrackDeps {
  /** Profiles and events, and the catalogue items they refer to (one DynamoDB adapter in production). */
  store: EventWriteStore;
  policy: TrackingPolicy;
  /** The active space: the model id whose vectors `store.getItems` hands out and profiles are folded in. */
  space: string;
  dim: number;
  now?: () => number;
  /**
   * This process's queue of user writes (see UserWriteQueue). Omitted: the deps object is the
   * process, so deps built per request must share one.
   */
  queue?: UserWriteQueue;
}

export { settingsId } from './refold';

/** Canonical payload as sent (timestamp as given, not as defaulted), so a retry hashes the same. */
function payloadHash(event: TrackedEvent): string {
  const canonical = JSON.stringify([
    event.userId,
    event.itemId,
    event.type,
    event.timestamp ?? null,
    event.context ?? null,
  ]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 22);
}

interface Candidate {
  index: number;
  event: TrackedEvent;
  hash: string;
  at: number;
}

const MAX_EVENTS_PER_COMMIT = 40;
const MAX_ATTEMPTS = 60;

/**
 * Requests for one user handled by one process are applied one after another: they would only
 * lose the optimistic race to each other. Across processes (Lambda instances) the transaction's
 * conditions decide, and the loser retries. `work` is told whether it had to wait for an earlier
 * request of the user (whose commit makes what was read before stale).
 *
 * A handler builds its TrackDeps per request (the space it folds in can change at run time), so the
 * queue is its own object, made once per process and handed in as `TrackDeps.queue`.
 */
export class UserWriteQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(userId: string, work: (waited: boolean) => Promise<T>): Promise<T> {
    const previous = this.tails.get(userId);
    const start = () => work(previous !== undefined);
    const next = (previous ?? Promise.resolve()).then(start, start);
    const settled = next.catch(() => undefined);
    this.tails.set(userId, settled);
    void settled.then(() => {
      if (this.tails.get(userId) === settled) this.tails.delete(userId);
    });
    return next;
  }
}

/** Deps without a queue of their own: one queue per deps object (a process that builds them once). */
const fallbackQueues = new WeakMap<TrackDeps, UserWriteQueue>();
function queueOf(deps: TrackDeps): UserWriteQueue {
  if (deps.queue) return deps.queue;
  let queue = fallbackQueues.get(deps);
  if (!queue) {
    queue = new UserWriteQueue();
    fallbackQueues.set(deps, queue);
  }
  return queue;
}

/**
 * Validates, de-duplicates and applies a batch of events. Each user's new events and their updated
 * profile are committed together (see ProfileRepository.commit); a lost race re-reads and re-applies.
 * `allowedUser` (from authentication) restricts whose events the batch may carry.
 */
export async function recordEvents(
  deps: TrackDeps,
  rawEvents: unknown[],
  options: { maxAgeMs?: number } = {},
): Promise<EventResult[]> {
  const now = (deps.now ?? Date.now)();
  const maxAgeMs = Math.min(options.maxAgeMs ?? deps.policy.maxAgeMs, deps.policy.eventTtlMs);
  const results: EventResult[] = new Array(rawEvents.length);
  /** Events that pass every check of their own, in request order. */
  const checked: Candidate[] = [];

  rawEvents.forEach((raw, index) => {
    const parsed = TrackedEventSchema.safeParse(raw);
    const eventId =
      typeof (raw as { eventId?: unknown })?.eventId === 'string'
        ? (raw as { eventId: string }).eventId
        : undefined;
    if (!parsed.success) {
      results[index] = {
        index,
        eventId,
        status: 'rejected',
        code: eventRejectionCode(parsed.error),
        message: describeIssues(parsed.error),
      };
      return;
    }
    const event = parsed.data;
    const at = event.timestamp ?? now;
    if (at > now + deps.policy.maxFutureMs) {
      results[index] = {
        index,
        eventId,
        status: 'rejected',
        code: 'timestamp_in_future',
        message: `${describeInstant(at)} is ahead of the server clock`,
      };
      return;
    }
    if (at < now - maxAgeMs) {
      results[index] = {
        index,
        eventId,
        status: 'rejected',
        code: 'timestamp_too_old',
        message: `events older than ${Math.round(maxAgeMs / DAY)} days are not accepted here`,
      };
      return;
    }
    checked.push({ index, event, hash: payloadHash(event), at });
  });

  // One read for the whole request: the items, and each user's profile head and stored events.
  const eventIds = new Map<string, Set<string>>();
  for (const { event } of checked)
    eventIds.set(event.userId, (eventIds.get(event.userId) ?? new Set()).add(event.eventId));
  const read =
    checked.length > 0
      ? await deps.store.readForCommit(
          checked.map((c) => c.event.itemId),
          [...eventIds].map(([userId, ids]) => ({ userId, eventIds: [...ids] })),
        )
      : { items: new Map<string, ItemSnapshot>(), users: new Map<string, UserWriteState>() };
  const { items } = read;
  const byUser = new Map<string, Candidate[]>();
  const firstSeen = new Set<string>();
  /** Same user and eventId as an earlier event of this request that claimed the id. */
  const repeats = new Map<string, Candidate[]>();
  for (const candidate of checked) {
    const { index, event } = candidate;
    const item = items.get(event.itemId);
    const reject = (code: string, message: string) => {
      results[index] = { index, eventId: event.eventId, status: 'rejected', code, message };
    };
    if (!item || item.status === 'deleted')
      reject('unknown_item', `no item ${event.itemId} in the catalogue`);
    else if (item.status !== 'ready' && !NEGATIVE_TYPES.has(event.type))
      reject('item_not_ready', `item ${event.itemId} is ${item.status}`);
    else if (!item.vector && !NEGATIVE_TYPES.has(event.type))
      reject('item_not_ready', `item ${event.itemId} has no vector for the active model yet`);
    else {
      // Only an event that is going to be committed claims its eventId within the request: a rejected
      // one stores nothing, so a later event with the same id is judged as if it came alone. A repeat
      // is judged against what is stored after the commit, even with the same payload: the first may
      // conflict with an event stored before, and then the repeat duplicates nothing.
      const key = `${event.userId}\u0000${event.eventId}`;
      if (firstSeen.has(key)) {
        repeats.set(event.userId, [...(repeats.get(event.userId) ?? []), candidate]);
        continue;
      }
      firstSeen.add(key);
      const list = byUser.get(event.userId) ?? [];
      list.push(candidate);
      byUser.set(event.userId, list);
    }
  }

  // Users are independent: their commits run side by side. One user's chunks go one after another,
  // each starting from the profile the previous one committed.
  await Promise.all(
    [...byUser].map(async ([userId, userCandidates]) => {
      let known = read.users.get(userId);
      for (let start = 0; start < userCandidates.length; start += MAX_EVENTS_PER_COMMIT) {
        const chunk = userCandidates.slice(start, start + MAX_EVENTS_PER_COMMIT);
        const committed = await queueOf(deps).run(userId, (waited) =>
          commitForUser(deps, userId, chunk, items, now, waited ? undefined : known),
        );
        for (const outcome of committed.outcomes) results[outcome.index] = outcome;
        known = committed.after;
      }
    }),
  );
  for (const [userId, userRepeats] of repeats) {
    const stored = await deps.store.getEvents(
      userId,
      userRepeats.map((r) => r.event.eventId),
    );
    for (const { index, event, hash } of userRepeats) {
      const { eventId } = event;
      results[index] =
        stored.get(eventId)?.payloadHash === hash
          ? { index, eventId, status: 'duplicate' }
          : {
              index,
              eventId,
              status: 'rejected',
              code: 'event_id_conflict',
              message: 'this eventId was stored with another payload',
            };
    }
  }
  return results;
}

/**
 * Commits one user's events (at most MAX_EVENTS_PER_COMMIT) with the profile folded from them.
 * `known` is what the request read of the user (the first attempt uses it; a lost race re-reads).
 * Returns the outcomes and, when events were committed, the user's state after the commit, which
 * the next chunk of the same request starts from.
 */
async function commitForUser(
  deps: TrackDeps,
  userId: string,
  candidates: Candidate[],
  items: Map<string, ItemSnapshot>,
  now: number,
  known: UserWriteState | undefined,
): Promise<{ outcomes: EventResult[]; after?: UserWriteState }> {
  const { policy } = deps;
  const currentSettings = settingsId(policy.settings);
  let state = known;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (!state) {
      const reread = await deps.store.readForCommit(
        [],
        [{ userId, eventIds: candidates.map((c) => c.event.eventId) }],
      );
      state = reread.users.get(userId) ?? { head: { epoch: 0 }, events: new Map() };
    }
    const { head, events: stored } = state;
    state = undefined;
    // No row: a new profile in a new epoch, so that events an unfinished erasure left are stale.
    const epoch = head.version === undefined ? now : head.epoch;
    const outcomes: EventResult[] = [];
    const fresh: Candidate[] = [];
    for (const candidate of candidates) {
      const existing = stored.get(candidate.event.eventId);
      const { index } = candidate;
      const eventId = candidate.event.eventId;
      if (!existing || isStale(existing, epoch)) fresh.push(candidate);
      else if (existing.payloadHash === candidate.hash)
        outcomes.push({ index, eventId, status: 'duplicate' });
      else
        outcomes.push({
          index,
          eventId,
          status: 'rejected',
          code: 'event_id_conflict',
          message: 'this eventId was stored with another payload',
        });
    }
    if (fresh.length === 0) return { outcomes };

    const current = head.stored;
    let profile: InterestProfile;
    if (!current) profile = emptyProfile(userId, deps.dim, Math.min(...fresh.map((c) => c.at)));
    else if (
      current.settingsId !== currentSettings ||
      current.profile.dim !== deps.dim ||
      !foldedIn(current, deps.space)
    ) {
      // Another space (a model switch, or a legacy profile) is refolded here and persisted by the commit.
      profile = await rebuildProfile(deps, userId, epoch);
    } else profile = structuredClone(current.profile);

    const ordered = [...fresh].sort((a, b) => a.at - b.at);
    const profileEvents: ProfileEvent[] = ordered.map((c) => ({
      type: c.event.type,
      itemId: c.event.itemId,
      at: c.at,
      ...(NEGATIVE_TYPES.has(c.event.type) ? {} : { vector: items.get(c.event.itemId)?.vector }),
    }));
    const pairs = coEngagementPartners(
      policy,
      profileEvents,
      profile.positives.map((p) => p.itemId),
    );
    for (const event of profileEvents) applyEvent(profile, event, policy.settings);
    const next: StoredProfile = {
      profile: withinBudgets(profile),
      version: (head.version ?? 0) + 1,
      settingsId: currentSettings,
      space: deps.space,
      epoch,
    };
    const events: StoredEvent[] = ordered.map((c, i) => ({
      userId,
      eventId: c.event.eventId,
      itemId: c.event.itemId,
      type: c.event.type,
      at: c.at,
      payloadHash: c.hash,
      ...(c.event.context?.recommendationId ? { recommendationId: c.event.context.recommendationId } : {}),
      ...(c.event.context?.recommendationId && c.event.context.position !== undefined
        ? { position: c.event.context.position }
        : {}),
      ...purchasePrice(c.event.type, items.get(c.event.itemId)?.price),
      receivedAt: now,
      expiresAt: Math.ceil((c.at + policy.eventTtlMs) / 1000),
      ...pairs[i],
      ...basketFields(policy, c, items.get(c.event.itemId)?.category),
    }));
    const popularity = profileEvents.flatMap((e, i): PopularityIncrement[] => {
      if (NEGATIVE_TYPES.has(e.type)) return [];
      const recent = recentWeight(
        { at: e.at, typeWeight: policy.settings.weights[e.type] },
        policy.popularityEpoch,
        policy.trendingHalfLifeMs,
        now,
      );
      return [
        {
          itemId: e.itemId,
          weight: popularityWeight(policy, e),
          ...(recent ? { recent } : {}),
          eventId: (ordered[i] as Candidate).event.eventId,
        },
      ];
    });
    try {
      await deps.store.commit(
        userId,
        events,
        next,
        head.version === undefined ? undefined : { version: head.version, epoch: head.epoch },
        popularity,
        now,
      );
    } catch (error) {
      if (!(error instanceof CommitConflict)) throw error;
      await sleep(Math.min(500, 5 * 2 ** Math.min(attempt, 7)) * (0.5 + Math.random()));
      continue;
    }
    const after = new Map(stored);
    for (const event of events) after.set(event.eventId, { ...event, epoch });
    return {
      outcomes: [
        ...outcomes,
        ...fresh.map((c): EventResult => ({ index: c.index, eventId: c.event.eventId, status: 'accepted' })),
      ],
      after: { head: { version: next.version, epoch, stored: next }, events: after },
    };
  }
  throw new Contention(`too many concurrent writes to the profile of ${userId}; retry the request`);
}

export function popularityWeight(policy: TrackingPolicy, event: Pick<ProfileEvent, 'type' | 'at'>): number {
  return (
    policy.settings.weights[event.type] *
    2 ** ((event.at - policy.popularityEpoch) / (policy.settings.halfLifeDays * DAY))
  );
}

/**
 * The co-engagement each event forms (in time order, one entry per event): pairs with the user's
 * recent positive items, `recentPositives` (most recent first) followed by the batch's own. The
 * event row carries them and the Events stream's consumer adds them to the counters, so a request
 * writes its events and profile only, whatever its size.
 */
export function coEngagementPartners(
  policy: TrackingPolicy,
  events: ProfileEvent[],
  recentPositives: string[],
): Array<{ coItems?: string[]; coWeight?: number }> {
  const seen = recentPositives.slice(0, policy.coEngagementFanout);
  return events.map((event) => {
    const typeWeight = policy.settings.weights[event.type];
    if (NEGATIVE_TYPES.has(event.type) || typeWeight <= 0) return {};
    // A weak event forms no pairs itself, but its item is a partner for later strong ones (as the
    // profile's recent positives, which include viewed items, are).
    if (typeWeight < policy.coEngagementMinWeight) {
      seen.unshift(event.itemId);
      return {};
    }
    const partners = seen.slice(0, policy.coEngagementFanout).filter((other) => other !== event.itemId);
    seen.unshift(event.itemId);
    return partners.length > 0 ? { coItems: partners, coWeight: popularityWeight(policy, event) } : {};
  });
}

/**
 * What marks a basket event (add_to_cart, purchase) for the co-purchase counters: its frame weight
 * and its item's category. The Events stream's consumer pairs it with the user's earlier ones.
 */
function basketFields(
  policy: TrackingPolicy,
  candidate: Candidate,
  category: string | undefined,
): Pick<StoredEvent, 'basketWeight' | 'category'> {
  if (!BASKET_TYPES.has(candidate.event.type)) return {};
  const basketWeight = popularityWeight(policy, { type: candidate.event.type, at: candidate.at });
  if (!(basketWeight > 0)) return {};
  return { basketWeight, ...(category !== undefined ? { category } : {}) };
}

/** A purchase's revenue for attribution (issue 25): the item's price at the time, when it has one. */
const purchasePrice = (type: EventType, price: number | undefined): Pick<StoredEvent, 'price'> =>
  type === 'purchase' && price !== undefined ? { price } : {};
const HOUR = 3_600_000;
/** The longest mute or boost: a year. */
export const MAX_INTEREST_EDIT_HOURS = 8760;

/** PATCH /users/{userId}/interests/{interestId}: mute or boost for some hours, or lift both. */
export const InterestPatchSchema = z.discriminatedUnion('action', [
  z.strictObject({
    action: z.literal('mute'),
    hours: z
      .number()
      .int()
      .min(1)
      .max(MAX_INTEREST_EDIT_HOURS)
      .default(7 * 24),
  }),
  z.strictObject({
    action: z.literal('boost'),
    hours: z
      .number()
      .int()
      .min(1)
      .max(MAX_INTEREST_EDIT_HOURS)
      .default(30 * 24),
  }),
  z.strictObject({ action: z.literal('reset') }),
]);
export type InterestPatch = z.output<typeof InterestPatchSchema> | { action: 'forget' };

export interface InterestEdited {
  userId: string;
  interestId: string;
  action: InterestEdit['action'];
  /** End of the mute or boost, ISO 8601. */
  until?: string;
}

/**
 * A shopper's edit of one of their interests (issue 23), written like events are: the edit as an
 * `interest_edit` row of the Events table and the profile it changes, in one transaction, so a
 * rebuild from the raw events replays it and an erasure removes it. 404 when the profile holds no
 * interest of that id (never one, merged into an older one, or forgotten).
 */
export async function editInterest(
  deps: TrackDeps,
  userId: string,
  interestId: string,
  patch: InterestPatch,
): Promise<InterestEdited> {
  const now = (deps.now ?? Date.now)();
  const until = 'hours' in patch ? now + patch.hours * HOUR : undefined;
  const edit: InterestEdit = { interestId, action: patch.action, at: now, ...(until ? { until } : {}) };
  // Time-ordered (UUIDv7, monotonic in a process): the Events table returns a user's edits in the
  // order they were made, which the fold keeps for edits of one interest in the same millisecond.
  const eventId = `interest-edit-${newEditId(now)}`;
  const currentSettings = settingsId(deps.policy.settings);
  return queueOf(deps).run(userId, async () => {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const read = await deps.store.readForCommit([], [{ userId, eventIds: [] }]);
      const head = read.users.get(userId)?.head;
      const current = head?.stored;
      if (!head || !current || head.version === undefined) throw new NotFound('interest', interestId);
      const profile =
        current.settingsId !== currentSettings ||
        current.profile.dim !== deps.dim ||
        !foldedIn(current, deps.space)
          ? await rebuildProfile(deps, userId, head.epoch)
          : structuredClone(current.profile);
      if (!profile.centroids.some((c) => c.id === interestId)) throw new NotFound('interest', interestId);
      applyInterestEdit(profile, edit, deps.policy.settings);
      const event: StoredEvent = {
        userId,
        eventId,
        itemId: interestId,
        type: INTEREST_EDIT,
        at: now,
        edit: { interestId, action: patch.action, ...(until ? { until } : {}) },
        payloadHash: createHash('sha256')
          .update(JSON.stringify([userId, interestId, patch.action, until ?? null]))
          .digest('base64url')
          .slice(0, 22),
        receivedAt: now,
        // A forget outlives the member events it refers to, which are older.
        expiresAt: Math.ceil((now + deps.policy.eventTtlMs) / 1000),
      };
      const next: StoredProfile = {
        profile: withinBudgets(profile),
        version: head.version + 1,
        settingsId: currentSettings,
        space: deps.space,
        epoch: head.epoch,
      };
      try {
        await deps.store.commit(userId, [event], next, { version: head.version, epoch: head.epoch }, [], now);
      } catch (error) {
        if (!(error instanceof CommitConflict)) throw error;
        await sleep(Math.min(500, 5 * 2 ** Math.min(attempt, 7)) * (0.5 + Math.random()));
        continue;
      }
      return {
        userId,
        interestId,
        action: patch.action,
        ...(until ? { until: new Date(until).toISOString() } : {}),
      };
    }
    throw new Contention(`too many concurrent writes to the profile of ${userId}; retry the request`);
  });
}

/** Folds every stored event of `epoch` again (after a change of weights, half-life or model). */
export async function rebuildProfile(deps: TrackDeps, userId: string, epoch = 0): Promise<InterestProfile> {
  const { profile } = await refoldProfile({ history: deps.store, catalogue: deps.store }, userId, {
    epoch,
    dim: deps.dim,
    settings: deps.policy.settings,
  });
  return profile;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

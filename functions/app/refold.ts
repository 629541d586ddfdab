import { createHash } from 'node:crypto';
import {
  foldEvents,
  type InterestEdit,
  type InterestProfile,
  NEGATIVE_TYPES,
  PROFILE_FOLD_VERSION,
  type ProfileEvent,
  type ProfileSettings,
} from '../domain/interest-profile';
import {
  type CatalogueSnapshots,
  type EventHistory,
  isItemEvent,
  isStale,
  type StoredEvent,
  type StoredProfile,
} from './ports';

/**
 * A hash of what a profile depends on besides its events, the settings and the fold's version: a
 * change means profiles are rebuilt from raw events.
 */
export function settingsId(settings: ProfileSettings): string {
  return createHash('sha256')
    .update(JSON.stringify({ fold: PROFILE_FOLD_VERSION, ...settings }))
    .digest('hex')
    .slice(0, 16);
}

/** Whether a stored profile was folded by this fold, with these settings. */
export const foldedWith = (stored: Pick<StoredProfile, 'settingsId'>, settings: ProfileSettings): boolean =>
  stored.settingsId === settingsId(settings);

/** Where a profile is refolded from: the user's raw events and the items' vectors in the active space. */
export interface RefoldSources {
  history: EventHistory;
  catalogue: CatalogueSnapshots;
}

export interface Refolded {
  profile: InterestProfile;
  /** Events of the epoch that were read (those of deleted items or without a vector included). */
  events: number;
}

/**
 * The profile folded again from every stored event of `epoch`, with the vectors `sources.catalogue`
 * holds (the active space): after a change of weights, half-life or model. The write path's rebuild
 * and recommend's refold on read both come here, so they fold alike.
 */
export async function refoldProfile(
  sources: RefoldSources,
  userId: string,
  options: { epoch: number; dim: number; settings: ProfileSettings },
): Promise<Refolded> {
  const events = (await sources.history.allEvents(userId)).filter((event) => !isStale(event, options.epoch));
  const itemEvents = events.filter(isItemEvent);
  const items = await sources.catalogue.getItems(itemEvents.map((e) => e.itemId));
  const profileEvents: ProfileEvent[] = [];
  for (const event of itemEvents) {
    const vector = items.get(event.itemId)?.vector;
    // Items deleted since, or without a vector in the active space, no longer shape the tastes.
    if (!NEGATIVE_TYPES.has(event.type) && !vector) continue;
    profileEvents.push({
      type: event.type,
      itemId: event.itemId,
      at: event.at,
      ...(vector ? { vector } : {}),
    });
  }
  return {
    profile: foldEvents(userId, options.dim, profileEvents, options.settings, interestEdits(events)),
    events: events.length,
  };
}

/** The interest edits among stored events, as the fold takes them. */
export function interestEdits(events: readonly StoredEvent[]): InterestEdit[] {
  return events.flatMap((event) =>
    event.edit
      ? [
          {
            interestId: event.edit.interestId,
            action: event.edit.action,
            at: event.at,
            ...(event.edit.until !== undefined ? { until: event.edit.until } : {}),
          },
        ]
      : [],
  );
}

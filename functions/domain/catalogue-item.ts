import type { ItemAttributes } from './item-metadata';

/** A catalogue item: one per item id, whatever folder or extension its image has. */
export type ItemStatus = 'ready' | 'rejected' | 'deleted';

/** Which object (and which event about it) the item's current state came from. */
export interface ItemSource {
  bucket: string;
  key: string;
  versionId?: string;
  etag?: string;
  size?: number;
  /** Normalised sequencer: comparable between events of the same key. */
  sequencer: string;
  /** Event time (ms): the only order there is between events of different keys. */
  eventAt: number;
}

/**
 * A replacement image that could not be embedded while the item had a good vector: the item keeps
 * serving the good one and records this, with the failed event's place in the order of events.
 */
export interface ItemUpdateError {
  code: string;
  message: string;
  key: string;
  etag?: string;
  versionId?: string;
  sequencer: string;
  eventAt: number;
  /** When it was recorded (ms). */
  at: number;
}

export interface CatalogueItem extends ItemAttributes {
  itemId: string;
  status: ItemStatus;
  source: ItemSource;
  /** Unit-length float32 vectors by model id. */
  vectors: Record<string, Float32Array>;
  dim?: number;
  rejection?: { code: string; message: string };
  lastUpdateError?: ItemUpdateError;
  metadataWarnings?: string[];
  createdAt: number;
  updatedAt: number;
  deletedAt?: number;
}

/**
 * Is the stored state at least as new as this event? Same key: the sequencer orders them; another
 * key: the event time. A recorded failed update counts as applied, so its duplicates and older events
 * are not processed again. The item repository's conditional writes apply the same rule.
 */
export function isStale(stored: CatalogueItem | undefined, incoming: ItemSource): boolean {
  if (!stored) return false;
  return [stored.source, stored.lastUpdateError].some(
    (applied) => applied !== undefined && atLeastAsNew(applied, incoming),
  );
}

function atLeastAsNew(
  applied: Pick<ItemSource, 'key' | 'sequencer' | 'eventAt'>,
  incoming: Pick<ItemSource, 'key' | 'sequencer' | 'eventAt'>,
): boolean {
  if (applied.key === incoming.key) return applied.sequencer >= incoming.sequencer;
  return applied.eventAt >= incoming.eventAt;
}

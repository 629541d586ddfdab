import { type CatalogueItem, type ItemSource, isStale } from '../domain/catalogue-item';
import { type CatalogueObject, classifyCatalogueKey, normaliseSequencer } from '../domain/catalogue-key';
import { InvalidImage } from '../domain/errors';
import { checkCatalogueUpload } from '../domain/image-structure';
import { parseItemMetadata } from '../domain/item-metadata';
import { projectVector } from '../domain/learned-similarity';
import type { ProjectionArtefact } from '../domain/learned-space';
import type { ImageEmbedder, ItemRepository, ObjectChange, ObjectStore } from './ports';

export interface IngestDeps {
  repository: ItemRepository;
  objects: ObjectStore;
  /** Every model the catalogue is embedded with: the active one, plus any being rolled out. */
  embedders: ImageEmbedder[];
  /**
   * The learned projections new uploads must be served in at once (the active one, and one being
   * promoted), as the spaces registry says now (cached for a short TTL). Read after the item is
   * written: see `promoteProjection` for why that order closes the race with a promotion.
   */
  projections?: () => Promise<ProjectionArtefact[]>;
  now?: () => number;
}

export type IngestOutcome =
  | { outcome: 'ready'; itemId: string; modelIds: string[] }
  | { outcome: 'metadata_updated'; itemId: string }
  | { outcome: 'rejected'; itemId: string; code: string }
  /** The replacement could not be embedded; the item keeps its last good vector and shows the error. */
  | { outcome: 'update_rejected'; itemId: string; code: string }
  | { outcome: 'deleted'; itemId: string }
  | { outcome: 'stale'; itemId: string; reason: string }
  | { outcome: 'ignored'; key: string; reason: string };

/** Tries of a conditional delete that lost to a concurrent write before it gives up (and is retried). */
const DELETE_ATTEMPTS = 3;

/**
 * Applies one change of an object in the catalogue bucket. Returns what happened; throws only for
 * transient trouble (the message is then retried and, after the configured tries, dead-lettered).
 */
export async function ingest(deps: IngestDeps, change: ObjectChange): Promise<IngestOutcome> {
  const now = deps.now ?? Date.now;
  const { key } = change;
  const object = classifyCatalogueKey(key);
  if ('ignored' in object) return { outcome: 'ignored', key, reason: object.ignored };
  const source: ItemSource = {
    bucket: change.bucket,
    key,
    sequencer: normaliseSequencer(change.sequencer),
    eventAt: change.eventTime || now(),
    ...(change.versionId ? { versionId: change.versionId } : {}),
    ...(change.etag ? { etag: change.etag } : {}),
    ...(change.size !== undefined ? { size: change.size } : {}),
  };

  if (change.kind === 'removed') {
    // After a version is removed for good the key may still have a current version, and then that
    // version is the item's state.
    const current =
      change.versionRemoved && source.versionId ? await deps.objects.head(source.bucket, key) : undefined;
    if (!current) return removeSource(deps, object.itemId, source);
    const stored = await deps.repository.get(object.itemId);
    if (stored && stored.source.key !== key) return notTheCurrentImage(object.itemId, stored);
    const { versionId: _removed, etag: _etag, size: _size, ...rest } = source;
    return ingestObject(deps, object, {
      ...rest,
      ...(current.versionId ? { versionId: current.versionId } : {}),
    });
  }
  return ingestObject(deps, object, source);
}

const notTheCurrentImage = (itemId: string, stored: CatalogueItem): IngestOutcome => ({
  outcome: 'stale',
  itemId,
  reason: `not the item's current image, which is ${stored.source.key}`,
});

/**
 * The object at `source.key` is gone. That removes the item only when it is the item's current
 * image: another copy of the same id (another folder, another extension) that the item has moved on
 * from leaves it alone. Ordered like every write: a tombstone is only written over exactly the state
 * that was read, and only when the delete is newer than it.
 */
export async function removeSource(
  deps: IngestDeps,
  itemId: string,
  source: ItemSource,
): Promise<IngestOutcome> {
  const now = deps.now ?? Date.now;
  for (let attempt = 1; ; attempt++) {
    const stored = await deps.repository.get(itemId);
    if (stored && stored.source.key !== source.key) {
      // The refused replacement is gone: nothing is left to warn about.
      if (stored.lastUpdateError?.key === source.key)
        await deps.repository.clearUpdateErrorIfDeleted(itemId, source);
      return notTheCurrentImage(itemId, stored);
    }
    if (isStale(stored, source)) return { outcome: 'stale', itemId, reason: 'a newer event was applied' };
    // Against other keys a tombstone is as old as the image it removed: a copy created after that
    // image took over before the delete, so the delete would not have applied to it. With no row the
    // image's create has not arrived yet, its age is unknown, and any copy that exists may take over.
    const tombstone = { ...source, eventAt: stored?.source.eventAt ?? 0 };
    if (await deps.repository.tombstoneIfUnchanged(itemId, tombstone, stored?.source, now()))
      return { outcome: 'deleted', itemId };
    if (attempt === DELETE_ATTEMPTS)
      throw new Error(`item ${itemId} changed ${attempt} times while its image was being removed`);
  }
}

/** The object at `source.key` (as of the event in `source`) is the item's image: embed or update it. */
export async function ingestObject(
  deps: IngestDeps,
  object: CatalogueObject,
  source: ItemSource,
): Promise<IngestOutcome> {
  const now = deps.now ?? Date.now;
  const { itemId, key } = object;
  const stored = await deps.repository.get(itemId);
  if (isStale(stored, source)) {
    // This very event was applied before (a retry): a crash between the item's write and its
    // projected vectors must not leave it out of a projected space for good.
    if (
      stored?.status === 'ready' &&
      stored.source.key === key &&
      stored.source.sequencer === source.sequencer
    )
      await addProjected(deps, stored);
    return { outcome: 'stale', itemId, reason: 'a newer event was applied' };
  }

  const head = await deps.objects.head(source.bucket, key, source.versionId);
  if (!head) {
    // Deleted or replaced since this event: the newer event carries the state; nothing to embed.
    return { outcome: 'stale', itemId, reason: 'the object version no longer exists' };
  }
  source.etag = source.etag ?? head.etag;
  source.size = source.size ?? head.size;
  // Pins the bytes read below to the version whose etag was just taken (when the bucket is versioned).
  if (!source.versionId && head.versionId) source.versionId = head.versionId;
  const { attributes, warnings } = parseItemMetadata(head.metadata, object.folderCategory);
  const modelIds = deps.embedders.map((e) => e.modelId);

  if (stored && sameContent(stored, source, modelIds)) {
    const applied = await deps.repository.updateAttributesIfNewer(
      itemId,
      attributes,
      warnings,
      source,
      now(),
      stored.lastUpdateError?.key === key,
    );
    if (applied) return { outcome: 'metadata_updated', itemId };
    // The condition also fails when the content changed after our read: fall through and re-embed.
  }

  const timestamp = now();
  const base: CatalogueItem = {
    itemId,
    ...attributes,
    status: 'ready',
    source,
    vectors: {},
    ...(warnings.length ? { metadataWarnings: warnings } : {}),
    createdAt: stored && stored.status !== 'deleted' ? stored.createdAt : timestamp,
    updatedAt: timestamp,
  };
  try {
    const bytes = await deps.objects.read(source.bucket, key, source.versionId);
    if (!bytes) return { outcome: 'stale', itemId, reason: 'the object version no longer exists' };
    // The catalogue keeps and serves what it ingests, so it holds files to stricter rules than image
    // search, which shares the embedder but never stores the file.
    checkCatalogueUpload(key, bytes, { maxBytes: Math.min(...deps.embedders.map((e) => e.limits.maxBytes)) });
    for (const embedder of deps.embedders)
      base.vectors[embedder.modelId] = (await embedder.embed(bytes)).vector;
    base.dim = deps.embedders[0]?.dim;
  } catch (error) {
    if (!(error instanceof InvalidImage)) throw error;
    if (stored?.status === 'ready') {
      // A shop replacing a photo expects the product to stay visible until a good photo arrives:
      // the item keeps its last good vector and shows why the update failed.
      const applied = await deps.repository.recordUpdateErrorIfCurrent(
        itemId,
        {
          code: error.code,
          message: error.message,
          key,
          ...(source.etag ? { etag: source.etag } : {}),
          ...(source.versionId ? { versionId: source.versionId } : {}),
          sequencer: source.sequencer,
          eventAt: source.eventAt,
          at: now(),
        },
        stored.source,
        now(),
      );
      return applied
        ? { outcome: 'update_rejected', itemId, code: error.code }
        : { outcome: 'stale', itemId, reason: 'a newer event was applied' };
    }
    const rejected: CatalogueItem = {
      ...base,
      status: 'rejected',
      vectors: {},
      rejection: { code: error.code, message: error.message },
    };
    const applied = await deps.repository.putIfNewer(rejected, now());
    return applied
      ? { outcome: 'rejected', itemId, code: error.code }
      : { outcome: 'stale', itemId, reason: 'a newer event was applied' };
  }
  const applied = await deps.repository.putIfNewer(base, now());
  if (!applied) return { outcome: 'stale', itemId, reason: 'a newer event was applied' };
  return { outcome: 'ready', itemId, modelIds: [...modelIds, ...(await addProjected(deps, base))] };
}

/**
 * Each learned projection's vector of a written item that lacks it, from its base vector; conditional
 * on the item still holding that content (a newer upload's own embed writes its vectors). The spaces
 * written.
 */
async function addProjected(deps: IngestDeps, item: CatalogueItem): Promise<string[]> {
  if (!deps.projections) return [];
  const now = deps.now ?? Date.now;
  const written: string[] = [];
  for (const projection of await deps.projections()) {
    const base = item.vectors[projection.baseModelId];
    if (!base || item.vectors[projection.space]) continue;
    const vector = projectVector(projection, base);
    if (await deps.repository.addVectorIfCurrent(item.itemId, projection.space, vector, item.source, now()))
      written.push(projection.space);
  }
  return written;
}

/** The stored item already holds this exact content, fully processed for every model. */
function sameContent(stored: CatalogueItem, source: ItemSource, modelIds: string[]): boolean {
  if (stored.status === 'deleted' || !source.etag || stored.source.etag !== source.etag) return false;
  if (stored.status === 'rejected') return true;
  return modelIds.every((id) => stored.vectors[id] !== undefined);
}

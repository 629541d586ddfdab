import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateScan,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ItemAttributes } from '../../domain/item-metadata';

export type ItemStatus = 'ready' | 'rejected' | 'deleted';

/** Which S3 object (and which event about it) the item's current state came from. */
export interface ItemSource {
  bucket: string;
  key: string;
  versionId?: string;
  etag?: string;
  size?: number;
  /** Normalised S3 sequencer: comparable between events of the same key. */
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

/** The single row format; `changeFeed` + `changedAt` feed the incremental index refresh. */
interface ItemRow extends Omit<CatalogueItem, 'vectors'> {
  vectors?: Record<string, Uint8Array>;
  changeFeed: 'items';
  changedAt: number;
  /** The active model's vector as a list of numbers, when a DynamoDB vector index serves. */
  [vectorIndexAttribute: string]: unknown;
}

export const CHANGE_FEED = 'items';

export function vectorToBytes(vector: Float32Array): Uint8Array {
  // A copy: DocumentClient cannot marshal Float32Array, and views would share memory.
  return new Uint8Array(vector.buffer.slice(vector.byteOffset, vector.byteOffset + vector.byteLength));
}

export function bytesToVector(bytes: Uint8Array): Float32Array {
  return new Float32Array(bytes.slice().buffer);
}

export interface VectorIndexTarget {
  /** The model whose vector the index holds. */
  modelId: string;
  /** The top-level attribute the index is defined on. */
  attribute: string;
  dim: number;
}

/**
 * Event-ordered writes to the items table. Every write is conditional on the incoming event being
 * newer than the stored state (same key: sequencer; another key: event time), so duplicates, retries
 * and late deliveries can never overwrite newer state or resurrect a deleted item.
 */
export class CatalogueRepository {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    readonly tableName: string,
    private readonly vectorIndex?: VectorIndexTarget,
  ) {
    this.documents = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  async get(itemId: string, consistent = true): Promise<CatalogueItem | undefined> {
    const { Item } = await this.documents.send(
      new GetCommand({ TableName: this.tableName, Key: { itemId }, ConsistentRead: consistent }),
    );
    return Item ? fromRow(Item as ItemRow, this.vectorIndex?.attribute) : undefined;
  }

  /** Writes the whole item (a new or replaced image) if the event is newer; false if it was not. */
  async putIfNewer(item: CatalogueItem, now: number): Promise<boolean> {
    const row: ItemRow = {
      ...item,
      vectors: Object.fromEntries(
        Object.entries(item.vectors).map(([model, v]) => [model, vectorToBytes(v)]),
      ),
      changeFeed: CHANGE_FEED,
      changedAt: now,
    };
    if (Object.keys(item.vectors).length === 0) delete row.vectors;
    const indexed = this.vectorIndex && item.vectors[this.vectorIndex.modelId];
    if (this.vectorIndex && indexed) {
      if (indexed.length !== this.vectorIndex.dim) {
        throw new Error(
          `vector index wants ${this.vectorIndex.dim} dimensions; model gives ${indexed.length}`,
        );
      }
      row[this.vectorIndex.attribute] = Array.from(indexed);
    }
    return this.conditional(
      new PutCommand({
        TableName: this.tableName,
        Item: row,
        ...newerThanStored(item.source),
      }),
    );
  }

  /** Same content, new metadata: attributes change, vectors stay. */
  async updateAttributesIfNewer(
    itemId: string,
    attributes: ItemAttributes,
    warnings: string[],
    source: ItemSource,
    now: number,
    /** The bucket holds the good content again where an update had failed. */
    clearUpdateError = false,
  ): Promise<boolean> {
    const condition = newerThanStored(source);
    const names: Record<string, string> = { ...condition.ExpressionAttributeNames };
    const values: Record<string, unknown> = { ...condition.ExpressionAttributeValues };
    const set: string[] = [];
    const remove: string[] = [];
    const assign = (name: string, value: unknown) => {
      names[`#${name}`] = name;
      if (value === undefined) remove.push(`#${name}`);
      else {
        values[`:${name}`] = value;
        set.push(`#${name} = :${name}`);
      }
    };
    for (const field of ['title', 'category', 'price', 'tags'] as const) assign(field, attributes[field]);
    assign('available', attributes.available);
    assign('metadataWarnings', warnings.length ? warnings : undefined);
    if (clearUpdateError) assign('lastUpdateError', undefined);
    assign('source', source);
    assign('updatedAt', now);
    assign('changedAt', now);
    names['#etag'] = 'etag';
    values[':etag'] = source.etag;
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { itemId },
        UpdateExpression: `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
        // Only when the stored content is this content: otherwise the caller re-embeds.
        ConditionExpression: `(${condition.ConditionExpression}) AND #source.#etag = :etag`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  /**
   * Deletes leave a tombstone with the delete's source, so late creates of that key stay dead. Written
   * only over exactly the state the caller read (`expected`, or no row at all): whether a delete
   * applies depends on that state, since only a delete of the item's current image removes it.
   */
  async tombstoneIfUnchanged(
    itemId: string,
    source: ItemSource,
    expected: ItemSource | undefined,
    now: number,
  ): Promise<boolean> {
    const removed = ['#vectors', '#rejection', '#lastUpdateError'];
    const names: Record<string, string> = {
      '#status': 'status',
      '#source': 'source',
      '#vectors': 'vectors',
      '#rejection': 'rejection',
      '#lastUpdateError': 'lastUpdateError',
      '#deletedAt': 'deletedAt',
      '#updatedAt': 'updatedAt',
      '#createdAt': 'createdAt',
      '#changeFeed': 'changeFeed',
      '#changedAt': 'changedAt',
      '#available': 'available',
    };
    const values: Record<string, unknown> = {
      ':deleted': 'deleted',
      ':source': source,
      ':now': now,
      ':feed': CHANGE_FEED,
      ':true': true,
    };
    if (this.vectorIndex) {
      names['#indexed'] = this.vectorIndex.attribute;
      removed.push('#indexed');
    }
    let condition = 'attribute_not_exists(itemId)';
    if (expected) {
      Object.assign(names, { '#key': 'key', '#sequencer': 'sequencer' });
      Object.assign(values, { ':expectedKey': expected.key, ':expectedSequencer': expected.sequencer });
      condition = '#source.#key = :expectedKey AND #source.#sequencer = :expectedSequencer';
    }
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { itemId },
        UpdateExpression:
          'SET #status = :deleted, #source = :source, #deletedAt = :now, #updatedAt = :now, ' +
          '#createdAt = if_not_exists(#createdAt, :now), #changeFeed = :feed, #changedAt = :now, ' +
          `#available = if_not_exists(#available, :true) REMOVE ${removed.join(', ')}`,
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  /**
   * Records a replacement that could not be embedded on a ready item, which keeps its vectors. Only
   * while the item still serves `expected` and no later failure was recorded.
   */
  async recordUpdateErrorIfCurrent(
    itemId: string,
    error: ItemUpdateError,
    expected: ItemSource,
    now: number,
  ): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { itemId },
        UpdateExpression: 'SET #lastUpdateError = :error, #updatedAt = :now',
        ConditionExpression:
          '#status = :ready AND #source.#key = :expectedKey AND #source.#sequencer = :expectedSequencer AND ' +
          '(attribute_not_exists(#lastUpdateError) OR (#lastUpdateError.#key = :key AND ' +
          '#lastUpdateError.#sequencer < :sequencer) OR (#lastUpdateError.#key <> :key AND ' +
          '#lastUpdateError.#eventAt < :eventAt))',
        ExpressionAttributeNames: {
          '#lastUpdateError': 'lastUpdateError',
          '#updatedAt': 'updatedAt',
          '#status': 'status',
          '#source': 'source',
          '#key': 'key',
          '#sequencer': 'sequencer',
          '#eventAt': 'eventAt',
        },
        ExpressionAttributeValues: {
          ':error': error,
          ':now': now,
          ':ready': 'ready',
          ':expectedKey': expected.key,
          ':expectedSequencer': expected.sequencer,
          ':key': error.key,
          ':sequencer': error.sequencer,
          ':eventAt': error.eventAt,
        },
      }),
    );
  }

  /** Forgets a failed replacement once its object is deleted (a delete newer than the failure). */
  async clearUpdateErrorIfDeleted(itemId: string, deleted: ItemSource): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { itemId },
        UpdateExpression: 'REMOVE #lastUpdateError',
        ConditionExpression: '#lastUpdateError.#key = :key AND #lastUpdateError.#sequencer < :sequencer',
        ExpressionAttributeNames: {
          '#lastUpdateError': 'lastUpdateError',
          '#key': 'key',
          '#sequencer': 'sequencer',
        },
        ExpressionAttributeValues: { ':key': deleted.key, ':sequencer': deleted.sequencer },
      }),
    );
  }

  /** Every item's state and source, for reconciling the table with its bucket. */
  async *itemSources(): AsyncIterable<Pick<CatalogueItem, 'itemId' | 'status' | 'source'>> {
    for await (const page of paginateScan(
      { client: this.documents },
      {
        TableName: this.tableName,
        ProjectionExpression: 'itemId, #status, #source',
        ExpressionAttributeNames: { '#status': 'status', '#source': 'source' },
      },
    )) {
      for (const row of page.Items ?? []) yield row as Pick<CatalogueItem, 'itemId' | 'status' | 'source'>;
    }
  }

  /**
   * Adds one model's vector to an item whose content is still the one that was embedded (the
   * backfill path). Never touches a deleted, rejected or replaced item.
   */
  async addVectorIfCurrent(
    itemId: string,
    modelId: string,
    vector: Float32Array,
    expected: ItemSource,
    now: number,
  ) {
    const names: Record<string, string> = {
      '#vectors': 'vectors',
      '#model': modelId,
      '#status': 'status',
      '#source': 'source',
      '#sequencer': 'sequencer',
      '#key': 'key',
      '#changedAt': 'changedAt',
      '#updatedAt': 'updatedAt',
    };
    const values: Record<string, unknown> = {
      ':vector': vectorToBytes(vector),
      ':ready': 'ready',
      ':sequencer': expected.sequencer,
      ':key': expected.key,
      ':now': now,
    };
    let update = 'SET #vectors.#model = :vector, #changedAt = :now, #updatedAt = :now';
    if (this.vectorIndex?.modelId === modelId) {
      names['#indexed'] = this.vectorIndex.attribute;
      values[':indexed'] = Array.from(vector);
      update += ', #indexed = :indexed';
    }
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { itemId },
        UpdateExpression: update,
        ConditionExpression:
          '#status = :ready AND #source.#sequencer = :sequencer AND #source.#key = :key AND attribute_exists(#vectors)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  private async conditional(command: PutCommand | UpdateCommand): Promise<boolean> {
    try {
      await this.documents.send(command as PutCommand);
      return true;
    } catch (error) {
      if (
        error instanceof ConditionalCheckFailedException ||
        (error as { name?: string }).name === 'ConditionalCheckFailedException'
      ) {
        return false;
      }
      throw error;
    }
  }
}

/** The ordering rule, as a DynamoDB condition: the stored state must be older than the event. */
function newerThanStored(source: ItemSource) {
  return {
    ConditionExpression:
      'attribute_not_exists(itemId) OR (#source.#key = :key AND #source.#sequencer < :sequencer) OR ' +
      '(#source.#key <> :key AND #source.#eventAt < :eventAt)',
    ExpressionAttributeNames: {
      '#source': 'source',
      '#key': 'key',
      '#sequencer': 'sequencer',
      '#eventAt': 'eventAt',
    },
    ExpressionAttributeValues: {
      ':key': source.key,
      ':sequencer': source.sequencer,
      ':eventAt': source.eventAt,
    },
  };
}

export function fromRow(row: ItemRow, vectorIndexAttribute?: string): CatalogueItem {
  const { vectors, changeFeed: _feed, changedAt: _changed, ...rest } = row;
  if (vectorIndexAttribute) delete rest[vectorIndexAttribute];
  const item = rest as unknown as CatalogueItem;
  item.vectors = Object.fromEntries(
    Object.entries(vectors ?? {}).map(([model, bytes]) => [model, bytesToVector(bytes)]),
  );
  return item;
}

/**
 * Is the stored state at least as new as this event? Same rule as the write conditions; a recorded
 * failed update counts as applied, so its duplicates and older events are not processed again.
 */
export function isStale(stored: CatalogueItem | undefined, incoming: ItemSource): boolean {
  if (!stored) return false;
  return [stored.source, stored.lastUpdateError].some(
    (applied) => applied !== undefined && atLeastAsNew(applied, incoming),
  );
}

function atLeastAsNew(
  applied: Pick<ItemSource, 'key' | 'sequencer' | 'eventAt'>,
  incoming: ItemSource,
): boolean {
  if (applied.key === incoming.key) return applied.sequencer >= incoming.sequencer;
  return applied.eventAt >= incoming.eventAt;
}

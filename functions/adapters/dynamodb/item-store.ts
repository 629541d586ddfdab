import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateScan,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ItemRepository } from '../../app/ports';
import type { CatalogueItem, ItemSource, ItemUpdateError } from '../../domain/catalogue-item';
import type { ItemAttributes } from '../../domain/item-metadata';
import {
  CHANGE_FEED,
  fromRow,
  type ItemRow,
  indexedVector,
  toRow,
  type VectorIndexTarget,
  vectorToBytes,
} from './item-table';

/**
 * The item repository on the Items table. Every write is conditional on the incoming event being
 * newer than the stored state (same key: sequencer; another key: event time), so duplicates, retries
 * and late deliveries can never overwrite newer state or resurrect a deleted item.
 */
export class CatalogueRepository implements ItemRepository {
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
    const row = toRow(item, now, this.vectorIndex);
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
    for (const field of ['title', 'category', 'price', 'tags', 'publishedAt'] as const)
      assign(field, attributes[field]);
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
      values[':indexed'] = indexedVector(vector);
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

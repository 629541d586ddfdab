import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ITableV2, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../../functions/contract/environment';
import {
  CO_ENGAGEMENT_STREAM,
  EVENTS_TABLE,
  PROFILES_TABLE,
  STATS_TABLE,
} from '../../functions/contract/storage';
import type { ModelManifest } from '../../functions/embedding/model-manifest';
import { tableFromDefinition } from './data-tables';
import { deadLetterQueue } from './dead-letter-queue';
import { LookalikeFunction } from './lookalike-function';

export interface InterestTrackingProps {
  readonly itemsTable: ITableV2;
  readonly activeModel: ModelManifest;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** Raw events are kept this long. @default 90 */
  readonly eventTtlDays?: number;
  /** Live events older than this are refused (the import route allows up to the TTL). @default 30 */
  readonly eventMaxAgeDays?: number;
  /** Half-life of every decayed weight, in days. @default 30 */
  readonly halfLifeDays?: number;
  /** Per-type event weights, e.g. { like: 2 }; unset types keep their defaults. @default see README */
  readonly eventWeights?: Record<string, number>;
  /** K, the most interest centroids per user. @default 4 */
  readonly maxInterestCentroids?: number;
}

/**
 * POST /events, POST /events/import and DELETE /users/{userId}: events, profiles and aggregates.
 * Co-engagement counters are updated by a consumer of the Events table's stream, not by requests.
 */
export class InterestTracking extends Construct {
  public readonly eventsTable: TableV2;
  public readonly profilesTable: TableV2;
  public readonly statsTable: TableV2;
  public readonly trackFunction: LookalikeFunction;
  /** Adds each accepted event's co-engagement pairs to the counters (the Events stream's consumer). */
  public readonly coEngagementFunction: LookalikeFunction;
  /** Stream batches the co-engagement consumer failed on after its retries. */
  public readonly coEngagementDeadLetters: Queue;
  /** Settings the recommender must share with the tracker (same weights and half-life). */
  public readonly profileEnvironment: Record<string, string>;

  constructor(scope: Construct, id: string, props: InterestTrackingProps) {
    super(scope, id);
    const eventTtlDays = props.eventTtlDays ?? 90;
    const eventMaxAgeDays = props.eventMaxAgeDays ?? 30;
    if (eventMaxAgeDays > eventTtlDays) {
      throw new Error(
        `InterestTracking: eventMaxAgeDays (${eventMaxAgeDays}) cannot exceed eventTtlDays (${eventTtlDays})`,
      );
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.eventsTable = tableFromDefinition(this, EVENTS_TABLE, removalPolicy);
    this.profilesTable = tableFromDefinition(this, PROFILES_TABLE, removalPolicy);
    this.statsTable = tableFromDefinition(this, STATS_TABLE, removalPolicy);

    this.profileEnvironment = {
      [ENV.ACTIVE_MODEL_ID]: props.activeModel.modelId,
      [ENV.MODEL_DIMENSION]: String(props.activeModel.output.dim),
      ...(props.halfLifeDays !== undefined ? { [ENV.HALF_LIFE_DAYS]: String(props.halfLifeDays) } : {}),
      ...(props.eventWeights ? { [ENV.EVENT_WEIGHTS]: JSON.stringify(props.eventWeights) } : {}),
      ...(props.maxInterestCentroids !== undefined
        ? { [ENV.MAX_INTEREST_CENTROIDS]: String(props.maxInterestCentroids) }
        : {}),
    };
    this.trackFunction = new LookalikeFunction(this, 'Track', {
      name: 'track',
      memorySize: 512,
      environment: {
        ...this.profileEnvironment,
        [ENV.EVENT_TTL_DAYS]: String(eventTtlDays),
        [ENV.EVENT_MAX_AGE_DAYS]: String(eventMaxAgeDays),
      },
    })
      // Events: the commit transaction's puts, reads, and an erasure's conditional deletes.
      .useTable(this.eventsTable, ENV.EVENTS_TABLE, ['BatchGetItem', 'Query', 'PutItem', 'DeleteItem'])
      // Profiles: the head read with the items and events (one BatchGetItem), the commit's put, the
      // erasure's tombstone (update) and its removal.
      .useTable(this.profilesTable, ENV.PROFILES_TABLE, [
        'GetItem',
        'BatchGetItem',
        'PutItem',
        'UpdateItem',
        'DeleteItem',
      ])
      // Stats: the popularity counters inside the commit transaction; attribution's daily rows
      // (GET /admin/metrics, a Query per day) and the user's attribution cells an erasure deletes.
      .useTable(this.statsTable, ENV.STATS_TABLE, ['UpdateItem', 'Query', 'BatchWriteItem'])
      .useTable(props.itemsTable, ENV.ITEMS_TABLE, ['BatchGetItem']);

    this.coEngagementFunction = new LookalikeFunction(this, 'CoEngagement', {
      name: 'co-engagement',
      memorySize: 512,
      timeout: Duration.minutes(1),
    })
      // Stats: the counters' and markers' updates; attribution's user cells, read (BatchGetItem)
      // and put on their version in the same transaction as the daily rows (issue 25).
      .useTable(this.statsTable, ENV.STATS_TABLE, ['UpdateItem', 'BatchGetItem', 'PutItem'])
      // Events: a basket event's user's earlier basket events, for the co-purchase counters.
      .useTable(this.eventsTable, ENV.EVENTS_TABLE, ['Query']);
    this.coEngagementDeadLetters = deadLetterQueue(
      this,
      'CoEngagementFailures',
      "the co-engagement consumer's stream mapping",
    );
    this.coEngagementFunction.function.addEventSource(
      new DynamoEventSource(this.eventsTable, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: CO_ENGAGEMENT_STREAM.batchSize,
        maxBatchingWindow: Duration.seconds(1),
        // A failed record is retried from itself (the ones before it are checkpointed); each
        // record is counted in a transaction with a marker that it was, so a redelivery counts once.
        reportBatchItemFailures: true,
        retryAttempts: CO_ENGAGEMENT_STREAM.retryAttempts,
        onFailure: new SqsDlq(this.coEngagementDeadLetters),
      }),
    );
  }
}

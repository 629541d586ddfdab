import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ITableV2, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../../functions/contract/environment';
import { DEFAULT_PAGE_TOKEN_TTL_MINUTES } from '../../functions/contract/paging';
import { IMPRESSION_COUNTS_STREAM, IMPRESSIONS_TABLE } from '../../functions/contract/storage';
import { tableFromDefinition } from './data-tables';
import { deadLetterQueue } from './dead-letter-queue';
import { LookalikeFunction } from './lookalike-function';

export interface ImpressionsProps {
  /** Where the per-item impression counts are kept (the interest store's aggregates). */
  readonly statsTable: ITableV2;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** Days an impression (a list served) is kept. @default 30 */
  readonly ttlDays?: number;
  /**
   * Minutes a list's `nextToken` is good for; at most the impressions' TTL (the token is checked
   * against its list's row). @default 60
   */
  readonly pageTokenTtlMinutes?: number;
}

/**
 * Impressions (issue 21): the table of lists served (one row each, written by recommend), and the
 * consumer of its stream that keeps the per-item impression counts in the Stats table.
 */
export class Impressions extends Construct {
  public readonly table: TableV2;
  /** Days a row is kept. */
  public readonly ttlDays: number;
  /** Minutes a page token is good for. */
  public readonly pageTokenTtlMinutes: number;
  /** Adds each list's items to the impression counts (the Impressions stream's consumer). */
  public readonly countsFunction: LookalikeFunction;
  /** Stream batches the counts consumer failed on after its retries. */
  public readonly countsDeadLetters: Queue;

  constructor(scope: Construct, id: string, props: ImpressionsProps) {
    super(scope, id);
    this.ttlDays = props.ttlDays ?? 30;
    if (!Number.isInteger(this.ttlDays) || this.ttlDays < 1 || this.ttlDays > 3650) {
      throw new Error(`Impressions: ttlDays must be a whole number of days in 1..3650, got ${this.ttlDays}`);
    }
    this.pageTokenTtlMinutes = props.pageTokenTtlMinutes ?? DEFAULT_PAGE_TOKEN_TTL_MINUTES;
    if (
      !Number.isInteger(this.pageTokenTtlMinutes) ||
      this.pageTokenTtlMinutes < 1 ||
      this.pageTokenTtlMinutes > this.ttlDays * 1440
    ) {
      throw new Error(
        `Impressions: pageTokenTtlMinutes must be a whole number of minutes from 1 to the impressions' TTL (${this.ttlDays * 1440}), got ${this.pageTokenTtlMinutes}`,
      );
    }
    this.table = tableFromDefinition(this, IMPRESSIONS_TABLE, props.removalPolicy ?? RemovalPolicy.RETAIN);

    this.countsFunction = new LookalikeFunction(this, 'Counts', {
      name: 'impression-counts',
      memorySize: 512,
      timeout: Duration.minutes(1),
      // The counters' and markers' updates; attribution's user cells, read and put on their version
      // in the same transaction as the daily rows (issue 25).
    }).useTable(props.statsTable, ENV.STATS_TABLE, ['UpdateItem', 'BatchGetItem', 'PutItem']);
    this.countsDeadLetters = deadLetterQueue(
      this,
      'CountsFailures',
      "the impression counts consumer's stream mapping",
    );
    this.countsFunction.function.addEventSource(
      new DynamoEventSource(this.table, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: IMPRESSION_COUNTS_STREAM.batchSize,
        maxBatchingWindow: Duration.seconds(1),
        // A failed record is retried from itself; each record is counted in a transaction with a
        // marker that it was, so a redelivery counts once.
        reportBatchItemFailures: true,
        retryAttempts: IMPRESSION_COUNTS_STREAM.retryAttempts,
        onFailure: new SqsDlq(this.countsDeadLetters),
      }),
    );
  }

  /**
   * The recommend function records each list it serves (PutItem, with the TTL it stamps) and reads a
   * list's row back for its next page (GetItem of the row a `nextToken` names).
   */
  recordFrom(fn: LookalikeFunction, options: { rotation?: boolean } = {}): void {
    // Rotation reads the user's last lists back (a Query of the user's partition).
    fn.useTable(
      this.table,
      ENV.IMPRESSIONS_TABLE,
      options.rotation ? ['PutItem', 'GetItem', 'Query'] : ['PutItem', 'GetItem'],
    );
    fn.function.addEnvironment(ENV.IMPRESSION_TTL_DAYS, String(this.ttlDays));
    fn.function.addEnvironment(ENV.PAGE_TOKEN_TTL_MINUTES, String(this.pageTokenTtlMinutes));
  }

  /**
   * Attribution (issue 25): the Events stream's consumer reads the lists the events name (one
   * BatchGetItem by user and recommendationId).
   */
  attributeFrom(fn: LookalikeFunction): void {
    fn.useTable(this.table, ENV.IMPRESSIONS_TABLE, ['BatchGetItem']);
  }

  /** The track function's erasure reads a user's partition and deletes it. */
  eraseFrom(fn: LookalikeFunction): void {
    fn.useTable(this.table, ENV.IMPRESSIONS_TABLE, ['Query', 'BatchWriteItem']);
  }
}

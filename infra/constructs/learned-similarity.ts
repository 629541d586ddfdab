import { Duration } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ENV, type ServingBackend } from '../../functions/contract/environment';
import { INDEX_PREFIX } from '../../functions/contract/storage';
import type { ModelManifest } from '../../functions/embedding/model-manifest';
import { LookalikeFunction } from './lookalike-function';

export interface LearnedSimilarityProps {
  /** Raw events (scanned) and profiles (scanned for each user's erasure epoch). */
  readonly eventsTable: ITableV2;
  readonly profilesTable: ITableV2;
  /** Scanned for the base space's vectors. */
  readonly itemsTable: ITableV2;
  /** Reports go under index/learned/reports/. */
  readonly bucket: IBucket;
  /** The base space the projection is learned on. */
  readonly activeModel: ModelManifest;
  /** Under `dynamodb-vector` a run gates and reports, and its promotion is refused (the index holds base vectors). */
  readonly backend: ServingBackend;
  /**
   * When the trainer runs: an EventBridge schedule, or false for never (runs only when invoked).
   * @default Schedule.rate(Duration.days(1))
   */
  readonly schedule?: Schedule | false;
}

/**
 * The learned-similarity trainer (functions/handlers/train-similarity.ts) and its EventBridge
 * schedule. The function reads the raw events and the base space (scans: a daily job's cost, about
 * one read unit per 4 KB of the Events, Profiles and Items tables), writes its report, and promotes a
 * projection the gate passes (scheduled runs at most once per 7 days): the learned space's
 * promotion (functions/app/learned-space.ts) re-projects every ready item and writes its snapshot.
 */
export class LearnedSimilarity extends Construct {
  public readonly trainFunction: LookalikeFunction;
  public readonly rule?: Rule;

  constructor(scope: Construct, id: string, props: LearnedSimilarityProps) {
    super(scope, id);
    this.trainFunction = new LookalikeFunction(this, 'Train', {
      name: 'train-similarity',
      // Scans and the gate's two rankings of every evaluated user: CPU-bound, one vCPU at 1,769 MB.
      memorySize: 1769,
      timeout: Duration.minutes(15),
      environment: {
        [ENV.ACTIVE_MODEL_ID]: props.activeModel.modelId,
        [ENV.MODEL_DIMENSION]: String(props.activeModel.output.dim),
        [ENV.SERVING_BACKEND]: props.backend,
      },
    });
    this.trainFunction
      .useTable(props.eventsTable, ENV.EVENTS_TABLE, ['Scan'])
      .useTable(props.profilesTable, ENV.PROFILES_TABLE, ['Scan'])
      // The base space's vectors (Scan); a promotion re-projects each ready item (UpdateItem, on
      // condition that its content is the one read) and writes the space's snapshot as the compactor
      // does (BatchGetItem, Query on the change index).
      .useTable(props.itemsTable, ENV.ITEMS_TABLE, ['Scan', 'UpdateItem', 'BatchGetItem'], {
        indexActions: ['Query'],
      })
      // Reports (index/learned/reports/), the projection artefact, the space's snapshot and pointer,
      // and the spaces registry: all under index/, as the compactor writes snapshots.
      .useBucketObjects(props.bucket, ENV.CATALOGUE_BUCKET, INDEX_PREFIX, [
        'GetObject',
        'PutObject',
        'DeleteObject',
      ])
      .grantListing(props.bucket, INDEX_PREFIX);
    const schedule = props.schedule ?? Schedule.rate(Duration.days(1));
    if (schedule) {
      this.rule = new Rule(this, 'Schedule', {
        description: 'Runs the learned-similarity trainer (gate, report, promotion)',
        schedule,
      });
      // EventBridge delivers its own scheduled event (source aws.events), which the handler reads as
      // a scheduled run; one try a day is enough.
      this.rule.addTarget(new LambdaFunction(this.trainFunction.function, { retryAttempts: 0 }));
    }
  }
}

import { Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type { Schedule } from 'aws-cdk-lib/aws-events';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { ExplorationConfigInput } from '../functions/contract/exploration';
import type { PlacementsConfigInput } from '../functions/contract/placements';
import { ITEMS_TABLE, VECTOR_ATTRIBUTE, VECTOR_INDEX_NAME } from '../functions/contract/storage';
import { CatalogueIngestion } from './constructs/catalogue-ingestion';
import { addItemVectorIndex, tableFromDefinition } from './constructs/data-tables';
import { Impressions } from './constructs/impressions';
import { InterestTracking } from './constructs/interest-tracking';
import { LearnedSimilarity } from './constructs/learned-similarity';
import { LookalikeFunction } from './constructs/lookalike-function';
import { Merchandising } from './constructs/merchandising';
import { ActiveModelGuard } from './constructs/model-guard';
import { ModelLayers } from './constructs/model-layers';
import { Observability } from './constructs/observability';
import { type JwtSettings, RecommendationsApi, type ServingBackend } from './constructs/recommendations-api';
import { Reembedding, type ReembeddingProps } from './constructs/reembedding';

export interface LookalikeStackProps extends StackProps {
  /**
   * Folder with the model's manifest.json and ONNX file.
   * @default layers/model/dist
   */
  readonly modelDir?: string;
  /**
   * Folders of models deployed beside the model layer's (each a manifest.json and its ONNX file, as
   * `npm run model` builds them; the CDK app reads `-c models=<dir>,<dir>`). Every upload is embedded
   * in each of them too, and `npm run backfill -- --model <id>` fills in the older items, so that
   * `npm run rollout -- switch` can serve one of them.
   * @default none
   */
  readonly models?: string[];
  /**
   * The model (vector space) the functions serve, by model id: the model layer's, or one of `models`.
   * Switching to another deployed model, or back, is a deploy of this prop alone (the CDK app reads
   * `-c activeModelId=<id>`); `npm run rollout -- switch` checks coverage and writes the space's index
   * snapshot first. Pinning it keeps a stack on its model when the model layer changes on upgrade.
   * With `servingBackend: 'dynamodb-vector'` it must have the model layer's dimension (the index's).
   * @default the model layer's model (modelDir's manifest)
   */
  readonly activeModelId?: string;
  /**
   * Folder with the runtime layer (nodejs/node_modules).
   * @default layers/runtime
   */
  readonly runtimeDir?: string;
  /**
   * RETAIN keeps tables and the bucket when the stack is deleted; DESTROY is for throwaway dev stacks.
   * @default RemovalPolicy.RETAIN
   */
  readonly dataRemovalPolicy?: RemovalPolicy;
  /** Tries of an upload's notification before it is dead-lettered. @default 5 */
  readonly ingestMaxReceiveCount?: number;
  /**
   * 'exact' (in-memory: the ceiling for `expectedCatalogueItems` is in the README, "Capacity") or
   * 'dynamodb-vector'. @default 'exact'
   */
  readonly servingBackend?: ServingBackend;
  /**
   * Items the catalogue is expected to hold: sizes the recommend function's memory for the exact
   * index, and warns at synth past its ceiling (README, "Capacity"). @default unknown: 2048 MB, no warning
   */
  readonly expectedCatalogueItems?: number;
  /** The recommend function's memory (MB). @default sized from expectedCatalogueItems (see RecommendationsApiProps) */
  readonly recommendMemorySize?: number;
  /** Use an existing identity provider instead of creating a Cognito user pool. @default a new user pool */
  readonly jwt?: JwtSettings;
  /** JWT claim with the shop's user id. @default 'sub' */
  readonly userClaim?: string;
  /**
   * Exploration slots for new items (share, age limit, per placement); `{ share: 0 }` turns it off.
   * @default DEFAULT_EXPLORATION (functions/contract/exploration.ts; see the README, "Exploration")
   */
  readonly exploration?: ExplorationConfigInput;
  /**
   * The placements lists may name, each with its defaults (`limit`, `mmrLambda`); another is a 400
   * (`unknown_placement`). @default DEFAULT_PLACEMENTS (home, product, category, cart, checkout,
   * account, search, email; functions/contract/placements.ts)
   */
  readonly placements?: PlacementsConfigInput;
  /** Rotation: demote items of a user's last `lists` lists by `weight` (default 0.3). @default off */
  readonly rotation?: { readonly lists: number; readonly weight?: number };
  /** Browser origins allowed to call the API. @default none */
  readonly allowedOrigins?: string[];
  /** Days raw events are kept. @default 90 */
  readonly eventTtlDays?: number;
  /** Half-life of interest, popularity and penalty weights, in days. @default 30 */
  readonly halfLifeDays?: number;
  /** Days an impression (a list served, in the Impressions table) is kept. @default 30 */
  readonly impressionTtlDays?: number;
  /** Minutes a list's `nextToken` (its next page) is good for, up to the impressions' TTL. @default 60 */
  readonly pageTokenTtlMinutes?: number;
  /**
   * How long a recommend instance reuses the merchandising rules before checking their version
   * (at most 5000 ms: a rule change is served within 5 s). @default 4000
   */
  readonly rulesCacheMs?: number;
  /** Alarms notify this topic. @default a new SNS topic (subscribe to it after deploying) */
  readonly alarmTopic?: ITopic;
  /**
   * The distributed re-embedding (`npm run backfill -- --distributed`): batches at once, tolerated
   * failures, retries, and an S3 Inventory report to read instead of listing the catalogue prefix.
   * @default 50 batches at once, 100 keys a batch, 1% tolerated failures, 4 retries, listing
   */
  readonly reembedding?: Pick<
    ReembeddingProps,
    'maxConcurrency' | 'maxItemsPerBatch' | 'toleratedFailurePercentage' | 'retryAttempts' | 'inventory'
  >;
  /**
   * When the learned-similarity trainer runs (gate, report, promotion; scheduled runs promote at
   * most once per 7 days); false: only when invoked (`npm run train` locally).
   * @default Schedule.rate(Duration.days(1))
   */
  readonly learnedSimilaritySchedule?: Schedule | false;
}

/** Composes Lookalike's capabilities; the props are the knobs a user turns. */
export class LookalikeStack extends Stack {
  public readonly layers: ModelLayers;
  public readonly ingestion: CatalogueIngestion;
  public readonly tracking: InterestTracking;
  public readonly impressions: Impressions;
  public readonly merchandising: Merchandising;
  public readonly api: RecommendationsApi;
  public readonly reembedding: Reembedding;
  public readonly observability: Observability;
  public readonly modelGuard: ActiveModelGuard;
  public readonly learnedSimilarity: LearnedSimilarity;

  constructor(scope: Construct, id: string, props: LookalikeStackProps = {}) {
    super(scope, id, props);
    // Server access logs are delivered under a bucket policy, not the legacy LogDeliveryWrite ACL.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const removalPolicy = props.dataRemovalPolicy ?? RemovalPolicy.RETAIN;
    this.layers = new ModelLayers(this, 'Layers', {
      modelDir: props.modelDir,
      runtimeDir: props.runtimeDir,
      models: props.models,
      activeModelId: props.activeModelId,
    });
    const itemsTable = tableFromDefinition(this, ITEMS_TABLE, removalPolicy);
    const active = this.layers.active.manifest;
    const layerDim = this.layers.manifest.output.dim;
    if (props.servingBackend === 'dynamodb-vector' && active.output.dim !== layerDim) {
      throw new Error(
        `LookalikeStack: the DynamoDB vector index holds ${layerDim}-d vectors and activeModelId ${active.modelId} is ` +
          `${active.output.dim}-d; a switch with servingBackend 'dynamodb-vector' keeps the dimension (see the README, "Spaces")`,
      );
    }
    const vectorIndex =
      props.servingBackend === 'dynamodb-vector'
        ? { attribute: VECTOR_ATTRIBUTE, modelId: active.modelId, dimensions: layerDim }
        : undefined;
    const extraModelManifests = this.layers.extraModels.map((model) => model.manifestPathInLambda);
    if (vectorIndex) {
      addItemVectorIndex(itemsTable, ITEMS_TABLE, { indexName: VECTOR_INDEX_NAME, ...vectorIndex });
    }
    const accessLogs = new Bucket(this, 'AccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      lifecycleRules: [{ expiration: Duration.days(365) }],
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log bucket of the catalogue bucket; logging it into itself would loop.',
    });
    this.ingestion = new CatalogueIngestion(this, 'Catalogue', {
      itemsTable,
      layers: this.layers,
      removalPolicy,
      maxReceiveCount: props.ingestMaxReceiveCount,
      vectorIndex,
      extraModelManifests,
      accessLogsBucket: accessLogs,
    });
    this.tracking = new InterestTracking(this, 'Interest', {
      itemsTable,
      activeModel: active,
      removalPolicy,
      eventTtlDays: props.eventTtlDays,
      halfLifeDays: props.halfLifeDays,
    });
    // Profiles are folded in the space served: track follows the spaces registry (ids only).
    this.tracking.trackFunction.readSpacesRegistry(this.ingestion.bucket, { artefacts: false });
    this.api = new RecommendationsApi(this, 'Recommendations', {
      itemsTable,
      bucket: this.ingestion.bucket,
      layers: this.layers,
      tracking: this.tracking,
      backend: props.servingBackend,
      expectedCatalogueItems: props.expectedCatalogueItems,
      recommendMemorySize: props.recommendMemorySize,
      jwt: props.jwt,
      userClaim: props.userClaim,
      allowedOrigins: props.allowedOrigins,
      exploration: props.exploration,
      placements: props.placements,
      rotation: props.rotation,
    });
    // Every list served is recorded (recommend), counted per item (the stream's consumer), and erased
    // with its user (track).
    this.impressions = new Impressions(this, 'Impressions', {
      statsTable: this.tracking.statsTable,
      removalPolicy,
      ttlDays: props.impressionTtlDays,
      pageTokenTtlMinutes: props.pageTokenTtlMinutes,
    });
    this.impressions.recordFrom(this.api.recommendFunction, {
      rotation: (props.rotation?.lists ?? 0) > 0,
    });
    this.impressions.eraseFrom(this.tracking.trackFunction);
    this.impressions.attributeFrom(this.tracking.coEngagementFunction);
    // Merchandising rules: managed through /rules (track, the API's writer), applied by recommend.
    this.merchandising = new Merchandising(this, 'Merchandising', {
      removalPolicy,
      rulesCacheMs: props.rulesCacheMs,
    });
    this.merchandising.manageFrom(this.tracking.trackFunction);
    this.merchandising.readFrom(this.api.recommendFunction);
    this.reembedding = new Reembedding(this, 'Reembedding', {
      ...props.reembedding,
      itemsTable,
      bucket: this.ingestion.bucket,
      layers: this.layers,
      vectorIndex,
      extraModelManifests,
      removalPolicy,
    });
    this.learnedSimilarity = new LearnedSimilarity(this, 'LearnedSimilarity', {
      eventsTable: this.tracking.eventsTable,
      profilesTable: this.tracking.profilesTable,
      itemsTable,
      bucket: this.ingestion.bucket,
      activeModel: active,
      backend: props.servingBackend ?? 'exact',
      schedule: props.learnedSimilaritySchedule,
    });
    this.observability = new Observability(this, 'Observability', {
      functions: {
        Embed: this.ingestion.embedFunction.function,
        Track: this.tracking.trackFunction.function,
        Recommend: this.api.recommendFunction.function,
        Compact: this.api.compactFunction.function,
        CoEngagement: this.tracking.coEngagementFunction.function,
        ImpressionCounts: this.impressions.countsFunction.function,
        TrainSimilarity: this.learnedSimilarity.trainFunction.function,
      },
      deadLetterQueues: {
        Uploads: this.ingestion.deadLetterQueue,
        Compaction: this.api.compactDeadLetters,
        CoEngagement: this.tracking.coEngagementDeadLetters,
        ImpressionCounts: this.impressions.countsDeadLetters,
      },
      api: this.api.api,
      stateMachines: { Reembedding: this.reembedding.stateMachine },
      alarmTopic: props.alarmTopic,
      createAlarmTopic: props.alarmTopic === undefined,
    });
    // The deploy-time guard of the served space runs before any function is created or updated: a
    // deploy that would serve a space the catalogue's items are not in fails and rolls back.
    this.modelGuard = new ActiveModelGuard(this, 'ModelGuard', {
      itemsTable,
      bucket: this.ingestion.bucket,
      layers: this.layers,
    });
    for (const construct of this.node.findAll()) {
      if (construct instanceof LookalikeFunction && construct !== this.modelGuard.function)
        this.modelGuard.protect(construct.function);
    }
    // Custom resources that CDK adds for bucket notifications and auto-deletion of throwaway buckets.
    for (const child of this.node.children) {
      if (!/^(BucketNotificationsHandler|Custom::S3AutoDeleteObjects)/.test(child.node.id)) continue;
      Validations.of(child).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: "CDK's own custom-resource handler; the managed policy grants only CloudWatch Logs writes.",
      });
      Validations.of(child).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          "CDK's bucket-notification handler calls s3:PutBucketNotification, which it scopes at deploy time; it runs only during deployments.",
      });
      Validations.of(child).acknowledge({
        id: 'AwsSolutions-L1',
        reason: "CDK's own custom-resource handler; its runtime is chosen by aws-cdk-lib, not by this stack.",
      });
    }
  }
}

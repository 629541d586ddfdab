import { type CfnResource, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import {
  DefinitionBody,
  DistributedMap,
  type IItemReader,
  ItemBatcher,
  LogLevel,
  ResultWriterV2,
  S3ManifestItemReader,
  S3ObjectsItemReader,
  StateMachine,
  StateMachineType,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { ENV } from '../../functions/contract/environment';
import { CATALOGUE_PREFIX, REEMBED_RESULTS_PREFIX } from '../../functions/contract/storage';
import { ingestionEnvironment, type VectorIndexWrite } from './catalogue-ingestion';
import { LookalikeFunction } from './lookalike-function';
import type { ModelLayers } from './model-layers';

/** Where an S3 Inventory report of the catalogue bucket lands, to read instead of listing the bucket. */
export interface InventoryManifest {
  /** The inventory's destination bucket. */
  readonly bucket: IBucket;
  /** The key of the report's manifest.json (e.g. `inventory/catalogue/daily/2026-11-30T01-00Z/manifest.json`). */
  readonly manifestKey: string;
  /** Only objects under this prefix of the destination bucket are read. @default the manifest's folder */
  readonly prefix?: string;
}

export interface ReembeddingProps {
  readonly itemsTable: ITableV2;
  /** The catalogue bucket: its catalogue prefix is listed, and the results are written beside it. */
  readonly bucket: IBucket;
  readonly layers: ModelLayers;
  /** Batches processed at once (each a Lambda invocation). @default 50 */
  readonly maxConcurrency?: number;
  /** Keys per batch (one Lambda invocation). @default 100 */
  readonly maxItemsPerBatch?: number;
  /** Percentage of batches that may fail (after their retries) before the execution fails. @default 1 */
  readonly toleratedFailurePercentage?: number;
  /** Tries of a batch after its first (throttling, a transient fault, some keys failed). @default 4 */
  readonly retryAttempts?: number;
  /** @default 3008 (MB); more memory also means more CPU for the CNN */
  readonly memorySize?: number;
  /** @default 15 minutes (a batch of 100 images takes well under that) */
  readonly timeout?: Duration;
  /** Manifests (paths inside the function) of models being rolled out beside the active one. @default none */
  readonly extraModelManifests?: string[];
  /** When set, the active model's vector is also written as a list of numbers for the vector index. */
  readonly vectorIndex?: VectorIndexWrite;
  /** Read this S3 Inventory report instead of listing the catalogue prefix. @default list the prefix */
  readonly inventory?: InventoryManifest;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The ListObjectsV2 reader of the catalogue prefix, allowed to list that prefix only (CDK's own
 * grants s3:ListBucket on the whole bucket).
 */
class CatalogueListing extends S3ObjectsItemReader {
  constructor(private readonly catalogue: IBucket) {
    super({ bucket: catalogue, prefix: CATALOGUE_PREFIX });
  }
  override providePolicyStatements(): PolicyStatement[] {
    return [
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['s3:ListBucket'],
        resources: [this.catalogue.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${CATALOGUE_PREFIX}*`] } },
      }),
    ];
  }
}

/** An S3 Inventory manifest reader allowed to read the report's folder only. */
class InventoryReader extends S3ManifestItemReader {
  constructor(private readonly inventory: InventoryManifest) {
    super({ bucket: inventory.bucket, key: inventory.manifestKey });
  }
  override providePolicyStatements(): PolicyStatement[] {
    return [
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['s3:GetObject'],
        resources: [this.inventory.bucket.arnForObjects(`${inventoryPrefix(this.inventory)}*`)],
      }),
    ];
  }
}

/** The ResultWriter, allowed to write under the results prefix only (CDK's own grants the whole bucket). */
class ResultsUnderPrefix extends ResultWriterV2 {
  constructor(private readonly results: IBucket) {
    super({ bucket: results, prefix: REEMBED_RESULTS_PREFIX });
  }
  override providePolicyStatements(): PolicyStatement[] {
    return [
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['s3:PutObject', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
        resources: [this.results.arnForObjects(`${REEMBED_RESULTS_PREFIX}*`)],
      }),
    ];
  }
}

const inventoryPrefix = (inventory: InventoryManifest) =>
  inventory.prefix ?? inventory.manifestKey.slice(0, inventory.manifestKey.lastIndexOf('/') + 1);

/** Lambda errors worth another try of a batch: throttling, service faults, and keys that failed. */
export const RETRIED_ERRORS = [
  'Lambda.TooManyRequestsException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.Unknown',
  'States.Timeout',
  'BatchIncomplete',
];

/**
 * Re-embedding at scale: a Step Functions state machine whose Distributed Map lists the catalogue
 * prefix (or reads an S3 Inventory report), batches the keys to the reembed function (the embed
 * function's ingestion, through the backfill's per-key rules: ordered, conditional writes, so uploads
 * may go on meanwhile and a rerun writes nothing new), and writes each batch's counts to S3 with its
 * ResultWriter. Start it with `npm run backfill -- --distributed --stack <name> [--model <id>]`.
 */
export class Reembedding extends Construct {
  public readonly function: LookalikeFunction;
  public readonly stateMachine: StateMachine;
  public readonly map: DistributedMap;
  public readonly maxConcurrency: number;

  constructor(scope: Construct, id: string, props: ReembeddingProps) {
    super(scope, id);
    // ResultWriterV2 (and its prefix-scoped grant below) is rendered only under this flag.
    this.node.setContext('@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2', true);
    const maxConcurrency = props.maxConcurrency ?? 50;
    const maxItemsPerBatch = props.maxItemsPerBatch ?? 100;
    const toleratedFailurePercentage = props.toleratedFailurePercentage ?? 1;
    const retryAttempts = props.retryAttempts ?? 4;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1 || maxConcurrency > 10_000)
      throw new Error(`Reembedding: maxConcurrency must be an integer in 1..10000, got ${maxConcurrency}`);
    if (!Number.isInteger(maxItemsPerBatch) || maxItemsPerBatch < 1 || maxItemsPerBatch > 1000)
      throw new Error(`Reembedding: maxItemsPerBatch must be an integer in 1..1000, got ${maxItemsPerBatch}`);
    if (
      !Number.isFinite(toleratedFailurePercentage) ||
      toleratedFailurePercentage < 0 ||
      toleratedFailurePercentage > 100
    )
      throw new Error(
        `Reembedding: toleratedFailurePercentage must be in 0..100, got ${toleratedFailurePercentage}`,
      );
    if (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 10)
      throw new Error(`Reembedding: retryAttempts must be an integer in 0..10, got ${retryAttempts}`);
    this.maxConcurrency = maxConcurrency;

    this.function = new LookalikeFunction(this, 'Reembed', {
      name: 'reembed',
      layers: props.layers.embeddingLayers(),
      memorySize: props.memorySize ?? 3008,
      timeout: props.timeout ?? Duration.minutes(15),
      environment: ingestionEnvironment(props),
    })
      // The embed function's grants: the same writes, on the same rows.
      .useTable(props.itemsTable, ENV.ITEMS_TABLE, ['GetItem', 'PutItem', 'UpdateItem'])
      .useBucketObjects(props.bucket, ENV.CATALOGUE_BUCKET, CATALOGUE_PREFIX, [
        'GetObject',
        'GetObjectVersion',
      ])
      .grantListing(props.bucket, CATALOGUE_PREFIX)
      // Items it creates get the active learned projection's vector at once, as the embed function's do.
      .readSpacesRegistry(props.bucket, { artefacts: true });

    const invoke = new LambdaInvoke(this, 'EmbedBatch', {
      lambdaFunction: this.function.function,
      // The function's own output (the batch's counts), not Lambda's envelope.
      payloadResponseOnly: true,
      // One retry policy, below, rather than CDK's default one beside it.
      retryOnServiceExceptions: false,
    });
    invoke.addRetry({
      errors: RETRIED_ERRORS,
      interval: Duration.seconds(2),
      backoffRate: 2,
      maxAttempts: retryAttempts,
      maxDelay: Duration.minutes(1),
    });

    const itemReader: IItemReader = props.inventory
      ? new InventoryReader(props.inventory)
      : new CatalogueListing(props.bucket);
    this.map = new DistributedMap(this, 'EachBatch', {
      itemReader,
      maxConcurrency,
      toleratedFailurePercentage,
      itemBatcher: new ItemBatcher({
        maxItemsPerBatch,
        // Execution input: `models` (ids; [] for every model the function has). The CLI always sets it.
        batchInput: {
          'models.$': '$.models',
          inventory: props.inventory !== undefined,
        },
      }),
      resultWriterV2: new ResultsUnderPrefix(props.bucket),
      comment: 'Each batch of catalogue keys, brought up to date with the selected models',
    });
    this.map.itemProcessor(invoke);

    const logs = new LogGroup(this, 'Logs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      // A known name, so that `npm run backfill -- --distributed --stack <name>` finds it.
      stateMachineName: `${Stack.of(this).stackName}-reembed`,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromChainable(this.map),
      tracingEnabled: true,
      logs: { destination: logs, level: LogLevel.ALL, includeExecutionData: false },
      comment: 'Re-embeds the catalogue: every image brought up to date with the selected models',
    });

    // The map runs each batch as a child execution of this state machine, so CDK lets its role
    // start, describe and stop executions of itself: their names are not known in advance.
    const stack = Stack.of(this);
    const logicalId = stack.resolve((this.stateMachine.node.defaultChild as CfnResource).logicalId);
    const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
    const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
    const name = JSON.stringify({ 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: logicalId }] }] });
    for (const suffix of [':*', '/*:*'])
      Validations.of(this.stateMachine).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:${region}:${account}:execution:${name}${suffix}]`,
        reason:
          'The Distributed Map runs each batch as a child execution of this state machine: executions of itself only, whose names Step Functions chooses.',
      });
    Validations.of(this.stateMachine).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${stack.resolve((props.bucket.node.defaultChild as CfnResource).logicalId)}.Arn>/${REEMBED_RESULTS_PREFIX}*]`,
      reason: `The ResultWriter writes each execution's result files under ${REEMBED_RESULTS_PREFIX} only; Step Functions names them.`,
    });
    // An imported report bucket has no logical id; its ARN is then a literal in the finding.
    const reports = props.inventory?.bucket.node.defaultChild as CfnResource | undefined;
    if (props.inventory && reports)
      Validations.of(this.stateMachine).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${stack.resolve(reports.logicalId)}.Arn>/${inventoryPrefix(props.inventory)}*]`,
        reason:
          'The inventory reader reads the report folder only: its manifest and the data files it names.',
      });
    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray tracing and CloudWatch Logs delivery (logs:CreateLogDelivery and related, xray:PutTraceSegments): these actions support no resource-level permissions.',
    });
    Validations.of(this.stateMachine).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).resolve(
        (this.function.function.node.defaultChild as CfnResource).logicalId,
      )}.Arn>:*]`,
      reason:
        'lambda:InvokeFunction on the reembed function and its versions only (CDK grants the qualified ARN with it).',
    });
  }
}

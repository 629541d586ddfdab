import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  EventType,
  type IBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { SqsDestination } from 'aws-cdk-lib/aws-s3-notifications';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../../functions/contract/environment';
import { CATALOGUE_PREFIX } from '../../functions/contract/storage';
import { deadLetterQueue } from './dead-letter-queue';
import { LookalikeFunction } from './lookalike-function';
import type { ModelLayers } from './model-layers';

/**
 * The variables every function that runs ingestion gets (the embed and the re-embedding functions):
 * the models beside the active one, and where the `dynamodb-vector` index reads the active vector.
 */
export function ingestionEnvironment(props: {
  readonly extraModelManifests?: readonly string[];
  readonly vectorIndex?: VectorIndexWrite;
}): Record<string, string> {
  const environment: Record<string, string> = {};
  if (props.extraModelManifests?.length)
    environment[ENV.EXTRA_MODEL_MANIFESTS] = props.extraModelManifests.join(',');
  if (props.vectorIndex) {
    environment[ENV.VECTOR_INDEX_ATTRIBUTE] = props.vectorIndex.attribute;
    environment[ENV.VECTOR_INDEX_MODEL_ID] = props.vectorIndex.modelId;
    environment[ENV.VECTOR_INDEX_DIMENSION] = String(props.vectorIndex.dimensions);
  }
  return environment;
}

export interface VectorIndexWrite {
  /** Top-level attribute the DynamoDB vector index is defined on. */
  readonly attribute: string;
  readonly modelId: string;
  readonly dimensions: number;
}

export interface CatalogueIngestionProps {
  readonly itemsTable: ITableV2;
  readonly layers: ModelLayers;
  /** @default RemovalPolicy.RETAIN: catalogues are data */
  readonly removalPolicy?: RemovalPolicy;
  /** Tries before a message goes to the dead-letter queue. @default 5 */
  readonly maxReceiveCount?: number;
  /** @default 5 */
  readonly batchSize?: number;
  /** @default 2048 (MB); more memory also means more CPU for the CNN */
  readonly memorySize?: number;
  /** Manifests (paths inside the function) of models being rolled out beside the active one. @default none */
  readonly extraModelManifests?: string[];
  /** When set, the active model's vector is also written as a list of numbers for the vector index. */
  readonly vectorIndex?: VectorIndexWrite;
  /** Where S3 server access logs go. @default no access logging */
  readonly accessLogsBucket?: IBucket;
}

/** Catalogue bucket -> S3 notifications -> SQS (with DLQ) -> embed Lambda -> items table. */
export class CatalogueIngestion extends Construct {
  public readonly bucket: Bucket;
  public readonly queue: Queue;
  public readonly deadLetterQueue: Queue;
  public readonly embedFunction: LookalikeFunction;

  constructor(scope: Construct, id: string, props: CatalogueIngestionProps) {
    super(scope, id);
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    const batchSize = props.batchSize ?? 5;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new Error(
        `CatalogueIngestion: maxReceiveCount must be an integer in 1..1000, got ${maxReceiveCount}`,
      );
    }
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10) {
      throw new Error(`CatalogueIngestion: batchSize must be an integer in 1..10, got ${batchSize}`);
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.bucket = new Bucket(this, 'Bucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      ...(props.accessLogsBucket
        ? { serverAccessLogsBucket: props.accessLogsBucket, serverAccessLogsPrefix: 'catalogue-bucket/' }
        : {}),
      lifecycleRules: [
        {
          noncurrentVersionExpiration: Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
    });

    const timeout = Duration.minutes(2);
    this.deadLetterQueue = deadLetterQueue(this, 'DeadLetters', 'the uploads queue');
    this.queue = new Queue(this, 'Uploads', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Six times the function timeout, as AWS recommends for SQS event sources.
      visibilityTimeout: Duration.seconds(timeout.toSeconds() * 6),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
    });

    const destination = new SqsDestination(this.queue);
    this.bucket.addEventNotification(EventType.OBJECT_CREATED, destination, { prefix: CATALOGUE_PREFIX });
    this.bucket.addEventNotification(EventType.OBJECT_REMOVED, destination, { prefix: CATALOGUE_PREFIX });

    this.embedFunction = new LookalikeFunction(this, 'Embed', {
      name: 'embed',
      layers: props.layers.embeddingLayers(),
      memorySize: props.memorySize ?? 2048,
      timeout,
      environment: ingestionEnvironment(props),
    })
      .useTable(props.itemsTable, ENV.ITEMS_TABLE, ['GetItem', 'PutItem', 'UpdateItem'])
      // Each notification names the bucket it reads; CATALOGUE_BUCKET is where the spaces registry is.
      .grantObjects(this.bucket, CATALOGUE_PREFIX, ['GetObject', 'GetObjectVersion'])
      // A deleted or replaced object may be gone by the time its notification is handled.
      .grantListing(this.bucket, CATALOGUE_PREFIX)
      // New uploads get the active learned projection's vector (and a pending one's) at once.
      .readSpacesRegistry(this.bucket, { artefacts: true });
    this.embedFunction.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize,
        maxBatchingWindow: Duration.seconds(1),
        reportBatchItemFailures: true,
      }),
    );
  }
}

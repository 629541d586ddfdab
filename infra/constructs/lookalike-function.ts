import { join } from 'node:path';
import { type CfnResource, Duration, Stack, Validations } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type ILayerVersion, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ENV, type ResourceEnvName } from '../../functions/contract/environment';
import {
  INDEX_PREFIX,
  PROJECTION_ARTEFACT_SUFFIX,
  SPACES_REGISTRY_KEY,
} from '../../functions/contract/storage';
import {
  EXTERNAL_MODULES,
  FUNCTION_ARCHITECTURE,
  FUNCTION_RUNTIME,
  MANIFEST_PATH_IN_LAMBDA,
  REPO_ROOT,
} from './model-layers';

export interface LookalikeFunctionProps {
  /** The handler this function runs: functions/handlers/<name>.ts. */
  readonly name: string;
  /** Lambda layers; functions that embed images take the runtime and model layers. */
  readonly layers?: ILayerVersion[];
  /** @default 1024 */
  readonly memorySize?: number;
  /** @default 30 seconds */
  readonly timeout?: Duration;
  readonly environment?: Record<string, string>;
}

/** A handler from functions/handlers/<name>.ts, bundled with esbuild, with the house defaults. */
export class LookalikeFunction extends Construct {
  public readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: LookalikeFunctionProps) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'Logs', { retention: RetentionDays.ONE_MONTH });
    this.function = new NodejsFunction(this, 'Function', {
      entry: join(REPO_ROOT, 'functions', 'handlers', `${props.name}.ts`),
      handler: 'handler',
      runtime: FUNCTION_RUNTIME,
      architecture: FUNCTION_ARCHITECTURE,
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? Duration.seconds(30),
      layers: props.layers,
      tracing: Tracing.ACTIVE,
      logGroup,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      projectRoot: REPO_ROOT,
      environment: {
        POWERTOOLS_SERVICE_NAME: props.name,
        POWERTOOLS_METRICS_NAMESPACE: 'Lookalike',
        // Where the model layer puts the manifest: only functions that embed carry the layer.
        ...(props.layers?.length ? { [ENV.LOOKALIKE_MODEL_MANIFEST]: MANIFEST_PATH_IN_LAMBDA } : {}),
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        externalModules: EXTERNAL_MODULES,
        format: OutputFormat.CJS,
        // The packages' ES module builds first: esbuild drops what a function does not import (the
        // S3 client's other commands and their serialisers), which CommonJS builds do not let it.
        // The recommend bundle goes from 1.19 to 0.93 MB and its require from ~265 to ~205 ms
        // (README, "Capacity").
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        target: 'node24',
      },
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason:
        'The AWS managed basic execution policy grants only CloudWatch Logs writes (CreateLogGroup, CreateLogStream, PutLogEvents), which every function needs.',
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions, so they need Resource "*".',
    });
  }

  /**
   * Grants exactly these actions on the table, and `indexActions` on its secondary indexes (Query,
   * say: item reads have no meaning on an index), and passes its name in `envName`.
   */
  useTable(
    table: ITableV2,
    envName: ResourceEnvName,
    actions: string[],
    { indexActions = [] as string[] } = {},
  ): this {
    this.function.addEnvironment(envName, table.tableName);
    if (actions.length) {
      this.function.addToRolePolicy(
        new PolicyStatement({
          effect: Effect.ALLOW,
          actions: actions.map((a) => `dynamodb:${a}`),
          resources: [table.tableArn],
        }),
      );
    }
    if (indexActions.length) {
      Validations.of(this).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(table).resolve((table.node.defaultChild as CfnResource).logicalId)}.Arn>/index/*]`,
        reason:
          "Queries on the table's own secondary indexes (the change feed and the vector index); nothing else.",
      });
      this.function.addToRolePolicy(
        new PolicyStatement({
          effect: Effect.ALLOW,
          actions: indexActions.map((a) => `dynamodb:${a}`),
          resources: [`${table.tableArn}/index/*`],
        }),
      );
    }
    return this;
  }

  /** Grants these actions on objects under `prefix` and passes the bucket name in `envName`. */
  useBucketObjects(bucket: IBucket, envName: ResourceEnvName, prefix: string, actions: string[]): this {
    this.function.addEnvironment(envName, bucket.bucketName);
    return this.grantObjects(bucket, prefix, actions);
  }

  /**
   * Grants s3:ListBucket on the bucket for keys under `prefix` only (an `s3:prefix` condition). A role
   * that reads keys that may be missing needs it: without it S3 answers a missing key with 403
   * AccessDenied, not 404, since it evaluates ListBucket with the key as the prefix.
   */
  grantListing(bucket: IBucket, prefix: string): this {
    this.function.addToRolePolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } },
      }),
    );
    return this;
  }

  /**
   * Passes the bucket's name and grants reading the spaces registry (`index/spaces.json`) and, with
   * `artefacts`, the learned projections' artefacts (`index/*.projection.json`): what a function
   * following the registry at run time reads. The listing grant is scoped to those keys, so a
   * missing registry is a 404, not a 403.
   */
  readSpacesRegistry(bucket: IBucket, { artefacts }: { artefacts: boolean }): this {
    this.function.addEnvironment(ENV.CATALOGUE_BUCKET, bucket.bucketName);
    const keys = [
      SPACES_REGISTRY_KEY,
      ...(artefacts ? [`${INDEX_PREFIX}*${PROJECTION_ARTEFACT_SUFFIX}`] : []),
    ];
    if (artefacts)
      Validations.of(this).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(bucket).resolve((bucket.node.defaultChild as CfnResource).logicalId)}.Arn>/${INDEX_PREFIX}*${PROJECTION_ARTEFACT_SUFFIX}]`,
        reason:
          "GetObject on the learned projections' artefacts only (index/<space>.projection.json): their space ids are not known in advance.",
      });
    this.function.addToRolePolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['s3:GetObject'],
        resources: keys.map((key) => bucket.arnForObjects(key)),
      }),
    );
    this.function.addToRolePolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': keys } },
      }),
    );
    return this;
  }

  /** Grants these actions on objects under `prefix` only. */
  grantObjects(bucket: IBucket, prefix: string, actions: string[]): this {
    Validations.of(this).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(bucket).resolve((bucket.node.defaultChild as CfnResource).logicalId)}.Arn>/${prefix}*]`,
      reason: `Object-level actions (${actions.join(', ')}) on the ${prefix} prefix only: object keys are not known in advance.`,
    });
    this.function.addToRolePolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: actions.map((a) => `s3:${a}`),
        resources: [bucket.arnForObjects(`${prefix}*`)],
      }),
    );
    return this;
  }
}

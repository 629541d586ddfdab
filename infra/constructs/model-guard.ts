import { type CfnResource, CustomResource, Duration, Stack, Validations } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct, type IConstruct } from 'constructs';
import { MODEL_GUARD_PROPERTY, MODEL_GUARD_RESOURCE_TYPE } from '../../functions/contract/model-guard';
import { SPACES_REGISTRY_KEY } from '../../functions/contract/storage';
import { LookalikeFunction } from './lookalike-function';
import type { ModelLayers } from './model-layers';

export interface ActiveModelGuardProps {
  /** Sampled (a capped scan) for the spaces its ready items hold vectors in. */
  readonly itemsTable: ITableV2;
  /** Its spaces registry (index/spaces.json) is read. */
  readonly bucket: IBucket;
  /** The active model and every model deployed beside it. */
  readonly layers: ModelLayers;
}

/**
 * The deploy-time guard of the served space: a custom resource whose function
 * (functions/handlers/model-guard.ts) fails the deploy when the catalogue holds ready items and the
 * active model is neither the registry's switched-to space nor the space the items are in. Every
 * function that serves depends on it (`protect`), so CloudFormation runs it first and, on failure,
 * rolls back before any function serves the new space.
 */
export class ActiveModelGuard extends Construct {
  public readonly function: LookalikeFunction;
  public readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: ActiveModelGuardProps) {
    super(scope, id);
    const { itemsTable, bucket, layers } = props;
    this.function = new LookalikeFunction(this, 'Check', {
      name: 'model-guard',
      memorySize: 256,
      timeout: Duration.minutes(1),
    });
    // Read-only, and only what the guard reads: the table's rows (a scan capped at 1,000 rows), the
    // registry object, and a listing of that one key (a missing key is a 404, not a 403, with it).
    this.function.function.addToRolePolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['dynamodb:Scan'],
        resources: [itemsTable.tableArn],
      }),
    );
    this.function.function.addToRolePolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['s3:GetObject'],
        resources: [bucket.arnForObjects(SPACES_REGISTRY_KEY)],
      }),
    );
    this.function.function.addToRolePolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringEquals: { 's3:prefix': SPACES_REGISTRY_KEY } },
      }),
    );

    const provider = new Provider(this, 'Provider', {
      onEventHandler: this.function.function,
      logGroup: new LogGroup(this, 'ProviderLogs', { retention: RetentionDays.ONE_MONTH }),
    });
    Validations.of(provider).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason:
        "The custom-resources Provider's framework function (aws-cdk-lib's own); the managed policy grants only CloudWatch Logs writes.",
    });
    Validations.of(provider).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).resolve((this.function.function.node.defaultChild as CfnResource).logicalId)}.Arn>:*]`,
      reason:
        "The Provider framework invokes the guard function's versions and aliases (lambda:InvokeFunction on <arn>:*), as aws-cdk-lib grants it; nothing else.",
    });
    Validations.of(provider).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        "The custom-resources Provider's framework function; its runtime is chosen by aws-cdk-lib, not by this stack.",
    });

    const deployed = [...layers.models.keys()];
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: MODEL_GUARD_RESOURCE_TYPE,
      properties: {
        [MODEL_GUARD_PROPERTY.activeModelId]: layers.active.manifest.modelId,
        [MODEL_GUARD_PROPERTY.deployedModelIds]: deployed,
        [MODEL_GUARD_PROPERTY.catalogueBucket]: bucket.bucketName,
        [MODEL_GUARD_PROPERTY.itemsTable]: itemsTable.tableName,
      },
    });
  }

  /** Makes `scope` (a function that serves) wait for the guard: it is updated only once the guard passed. */
  protect(scope: IConstruct): void {
    scope.node.addDependency(this.resource);
  }
}

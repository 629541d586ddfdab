/**
 * The distributed re-embedding as deployed: the state machine's definition (valid ASL, checked with
 * asl-validator), its Distributed Map's reader, batcher, concurrency, failure tolerance, retries and
 * result writer, the least-privilege IAM of the state machine, and the alarm on failed executions.
 */

import validateAsl from 'asl-validator';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { ENV } from '../../functions/contract/environment';
import { CATALOGUE_PREFIX, REEMBED_RESULTS_PREFIX } from '../../functions/contract/storage';
import { ModelLayers } from '../../infra/constructs/model-layers';
import { Reembedding, type ReembeddingProps } from '../../infra/constructs/reembedding';
import { synthesize } from '../support/synth';

type Json = Record<string, unknown>;
type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown; Effect: string };

const { template } = synthesize();

/** The definition with every CloudFormation token replaced by a placeholder ARN or name: plain ASL. */
function definitionOf(tpl: Template): Json {
  const machines = Object.values(tpl.findResources('AWS::StepFunctions::StateMachine'));
  expect(machines).toHaveLength(1);
  const body = (machines[0] as { Properties: { DefinitionString: unknown } }).Properties.DefinitionString;
  const text = (function render(part: unknown): string {
    if (typeof part === 'string') return part;
    const join = (part as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
    if (join) return join[1].map(render).join(join[0]);
    const ref = (part as { Ref?: string }).Ref;
    if (ref === 'AWS::Partition') return 'aws';
    if (ref) return `${ref.toLowerCase()}`;
    const att = (part as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
    if (att) return `arn:aws:lambda:eu-west-1:123456789012:function:${att[0]}`;
    throw new Error(`unexpected token in the definition: ${JSON.stringify(part)}`);
  })(body);
  return JSON.parse(text) as Json;
}

const mapOf = (definition: Json) => (definition.States as Record<string, Json>).EachBatch as Json;

/** Every statement of the state machine role's policies. */
function stateMachineStatements(tpl: Template): Statement[] {
  const machine = Object.values(tpl.findResources('AWS::StepFunctions::StateMachine'))[0] as {
    Properties: { RoleArn: { 'Fn::GetAtt': [string, string] } };
  };
  const role = machine.Properties.RoleArn['Fn::GetAtt'][0];
  return Object.values(tpl.findResources('AWS::IAM::Policy'))
    .map(
      (p) =>
        (p as { Properties: { Roles: Array<{ Ref: string }>; PolicyDocument: { Statement: Statement[] } } })
          .Properties,
    )
    .filter((p) => p.Roles.some((r) => r.Ref === role))
    .flatMap((p) => p.PolicyDocument.Statement);
}
const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe('the re-embedding state machine', () => {
  const definition = definitionOf(template);
  const map = mapOf(definition);

  it('is valid Amazon States Language', () => {
    const result = validateAsl(definition);
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('refuses a broken definition (the validator is not a rubber stamp)', () => {
    const broken = structuredClone(definition);
    delete (mapOf(broken).ItemProcessor as Json).StartAt;
    expect(validateAsl(broken).isValid).toBe(false);
  });

  it('lists the catalogue prefix and batches its keys to the reembed function, 50 batches at once', () => {
    expect(map.Type).toBe('Map');
    expect(map.ItemProcessor).toMatchObject({
      ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
    });
    expect(map.MaxConcurrency).toBe(50);
    expect(map.ToleratedFailurePercentage).toBe(1);
    expect(map.ItemReader).toEqual({
      Resource: 'arn:aws:states:::s3:listObjectsV2',
      Parameters: { Bucket: expect.stringMatching(/^cataloguebucket/), Prefix: CATALOGUE_PREFIX },
    });
    // The execution input's model ids reach every batch; the keys are not URL-encoded.
    expect(map.ItemBatcher).toEqual({
      MaxItemsPerBatch: 100,
      BatchInput: { 'models.$': '$.models', inventory: false },
    });
    expect(map.ResultWriter).toEqual({
      Resource: 'arn:aws:states:::s3:putObject',
      Parameters: { Bucket: expect.stringMatching(/^cataloguebucket/), Prefix: REEMBED_RESULTS_PREFIX },
    });
  });

  it('retries a batch with exponential backoff, throttling and incomplete batches included', () => {
    const states = (map.ItemProcessor as { States: Record<string, Json> }).States;
    const task = states[(map.ItemProcessor as { StartAt: string }).StartAt] as Json;
    expect(task.Resource).toMatch(/function:ReembeddingReembedFunction/);
    // One retry policy (not CDK's default one beside it).
    expect(task.Retry).toEqual([
      {
        ErrorEquals: expect.arrayContaining([
          'Lambda.TooManyRequestsException',
          'Lambda.ServiceException',
          'States.Timeout',
          'BatchIncomplete',
        ]),
        IntervalSeconds: 2,
        BackoffRate: 2,
        MaxAttempts: 4,
        MaxDelaySeconds: 60,
      },
    ]);
    // An unknown model cannot get better by retrying.
    expect(JSON.stringify(task.Retry)).not.toContain('UnknownModel');
    expect(JSON.stringify(task.Retry)).not.toContain('States.ALL');
  });

  it('logs every execution and traces it', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'Lookalike-reembed',
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
      TracingConfiguration: { Enabled: true },
    });
  });

  it('may invoke only its function, list only the catalogue prefix and write only the results prefix', () => {
    const statements = stateMachineStatements(template);
    const s3 = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')));
    expect(s3).toHaveLength(2);
    expect(s3).toEqual(
      expect.arrayContaining([
        {
          Action: 's3:ListBucket',
          Effect: 'Allow',
          Resource: { 'Fn::GetAtt': [expect.stringMatching(/^CatalogueBucket/), 'Arn'] },
          Condition: { StringLike: { 's3:prefix': [`${CATALOGUE_PREFIX}*`] } },
        },
        {
          Action: ['s3:PutObject', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
          Effect: 'Allow',
          Resource: {
            'Fn::Join': [
              '',
              [
                { 'Fn::GetAtt': [expect.stringMatching(/^CatalogueBucket/), 'Arn'] },
                `/${REEMBED_RESULTS_PREFIX}*`,
              ],
            ],
          },
        },
      ]),
    );
    const invokes = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('lambda:')));
    expect(invokes).toHaveLength(1);
    expect(actionsOf(invokes[0] as Statement)).toEqual(['lambda:InvokeFunction']);
    expect(JSON.stringify((invokes[0] as Statement).Resource)).toMatch(/ReembeddingReembedFunction/);
    expect(JSON.stringify((invokes[0] as Statement).Resource)).not.toMatch(
      /Embed(?!Function)|Recommend|Track/,
    );
    // Step Functions' child executions of this state machine only; no DynamoDB, no other S3 action.
    const states = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('states:')));
    expect(JSON.stringify(states)).not.toContain('"*"');
    expect(statements.flatMap(actionsOf).filter((a) => /^(dynamodb|s3):\*|^\*$/.test(a))).toEqual([]);
    expect(statements.flatMap(actionsOf).filter((a) => a.startsWith('dynamodb:'))).toEqual([]);
  });

  it('runs the reembed function with the model layers and the embed function grants', () => {
    const functions = template.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'reembed' } } },
    });
    const [reembed] = Object.values(functions) as Array<{ Properties: Json }>;
    expect(reembed?.Properties).toMatchObject({
      MemorySize: 3008,
      Timeout: 900,
      Layers: [expect.anything(), expect.anything()],
      Environment: {
        Variables: expect.objectContaining({
          [ENV.ITEMS_TABLE]: expect.anything(),
          [ENV.CATALOGUE_BUCKET]: expect.anything(),
          [ENV.LOOKALIKE_MODEL_MANIFEST]: expect.any(String),
        }),
      },
    });
  });

  it('alarms on failed and timed-out executions', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: Match.stringLikeRegexp('^Reembedding executions that failed'),
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^ObservabilityAlarms') }],
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'failed + timedOut' }),
        Match.objectLike({
          Id: 'failed',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({
              MetricName: 'ExecutionsFailed',
              Dimensions: [
                {
                  Name: 'StateMachineArn',
                  Value: { Ref: Match.stringLikeRegexp('^ReembeddingStateMachine') },
                },
              ],
            }),
          }),
        }),
        Match.objectLike({
          Id: 'timedOut',
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'ExecutionsTimedOut' }) }),
        }),
      ]),
    });
  });
});

/** The construct alone, in a stack that is not bundled (the props' effect on the definition and IAM). */
function reembeddingStack(props: Partial<ReembeddingProps>): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Variant', { env: { account: '123456789012', region: 'eu-west-1' } });
  const itemsTable = new TableV2(stack, 'Items', {
    partitionKey: { name: 'pk', type: AttributeType.STRING },
  });
  const bucket = new Bucket(stack, 'CatalogueBucket');
  const layers = new ModelLayers(stack, 'Layers', {});
  new Reembedding(stack, 'Reembedding', { itemsTable, bucket, layers, ...props });
  return Template.fromStack(stack);
}

describe('the re-embedding props', () => {
  it('set the concurrency, batch size, failure tolerance and retries', () => {
    const tpl = reembeddingStack({
      maxConcurrency: 7,
      maxItemsPerBatch: 25,
      toleratedFailurePercentage: 5,
      retryAttempts: 2,
    });
    const map = mapOf(definitionOf(tpl));
    expect(validateAsl(definitionOf(tpl)).isValid).toBe(true);
    expect(map).toMatchObject({
      MaxConcurrency: 7,
      ToleratedFailurePercentage: 5,
      ItemBatcher: { MaxItemsPerBatch: 25 },
    });
    expect(JSON.stringify(map.ItemProcessor)).toContain('"MaxAttempts":2');
  });

  it('read an S3 Inventory manifest instead of listing, and may read only the report folder', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Inventory', { env: { account: '123456789012', region: 'eu-west-1' } });
    const itemsTable = new TableV2(stack, 'Items', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
    });
    const bucket = new Bucket(stack, 'CatalogueBucket');
    const reports = new Bucket(stack, 'Reports');
    const layers = new ModelLayers(stack, 'Layers', {});
    new Reembedding(stack, 'Reembedding', {
      itemsTable,
      bucket,
      layers,
      inventory: {
        bucket: reports,
        manifestKey: 'inventory/catalogue/daily/2026-11-30T01-00Z/manifest.json',
      },
    });
    const tpl = Template.fromStack(stack);
    const definition = definitionOf(tpl);
    expect(validateAsl(definition).isValid).toBe(true);
    const map = mapOf(definition);
    expect(map.ItemReader).toEqual({
      Resource: 'arn:aws:states:::s3:getObject',
      ReaderConfig: { InputType: 'MANIFEST' },
      Parameters: {
        Bucket: expect.stringMatching(/^reports/),
        Key: 'inventory/catalogue/daily/2026-11-30T01-00Z/manifest.json',
      },
    });
    // Inventory keys are URL-encoded: the function is told to decode them.
    expect(map.ItemBatcher).toMatchObject({ BatchInput: { inventory: true } });
    const reads = stateMachineStatements(tpl).filter((s) => actionsOf(s).includes('s3:GetObject'));
    expect(reads.map((s) => s.Resource)).toContainEqual({
      'Fn::Join': [
        '',
        [
          { 'Fn::GetAtt': [expect.stringMatching(/^Reports/), 'Arn'] },
          '/inventory/catalogue/daily/2026-11-30T01-00Z/*',
        ],
      ],
    });
    expect(stateMachineStatements(tpl).some((s) => actionsOf(s).includes('s3:ListBucket'))).toBe(false);
  });

  it.each([
    [{ maxConcurrency: 0 }, /maxConcurrency must be an integer in 1\.\.10000/],
    [{ maxItemsPerBatch: 1001 }, /maxItemsPerBatch must be an integer in 1\.\.1000/],
    [{ toleratedFailurePercentage: 101 }, /toleratedFailurePercentage must be in 0\.\.100/],
    [{ retryAttempts: -1 }, /retryAttempts must be an integer in 0\.\.10/],
  ])('refuse %j', (props, message) => {
    expect(() => reembeddingStack(props)).toThrow(message);
  });
});

/**
 * The deploy-time model guard: a custom resource with the active model id, the deployed ids, the
 * catalogue bucket and the Items table; every function that serves waits for it (so a failed guard
 * rolls the deploy back before any function serves another space); its role only reads what it reads.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { MODEL_GUARD_PROPERTY, MODEL_GUARD_RESOURCE_TYPE } from '../../functions/contract/model-guard';
import { SPACES_REGISTRY_KEY } from '../../functions/contract/storage';
import { LookalikeStack, type LookalikeStackProps } from '../../infra/lookalike-stack';
import { synthesize } from '../support/synth';

const MODEL_DIR = join(__dirname, '..', '..', 'layers', 'model', 'dist');
const DEFAULT_ID = (JSON.parse(readFileSync(join(MODEL_DIR, 'manifest.json'), 'utf8')) as { modelId: string })
  .modelId;

type Resource = {
  Type: string;
  Properties: Record<string, unknown>;
  DependsOn?: string[];
};

const { template, json } = synthesize();
const resources = json.Resources as Record<string, Resource>;

function onlyResource(type: string): [string, Resource] {
  const found = Object.entries(resources).filter(([, r]) => r.Type === type);
  expect(found).toHaveLength(1);
  return found[0] as [string, Resource];
}

const logicalIdOf = (type: string, prefix: string) => {
  const ids = Object.entries(resources)
    .filter(([id, r]) => r.Type === type && id.startsWith(prefix))
    .map(([id]) => id);
  expect(ids).toHaveLength(1);
  return ids[0] as string;
};

function guardFunction(): Resource {
  const found = functionsByName().get('model-guard');
  if (!found) throw new Error('no model-guard function');
  return found[1];
}

/** Our functions by POWERTOOLS_SERVICE_NAME: logical id and resource. */
function functionsByName(): Map<string, [string, Resource]> {
  const byName = new Map<string, [string, Resource]>();
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const env = (resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables;
    if (typeof env?.POWERTOOLS_SERVICE_NAME === 'string')
      byName.set(env.POWERTOOLS_SERVICE_NAME, [id, resource]);
  }
  return byName;
}

describe('the deploy-time model guard', () => {
  const [guardId, guard] = onlyResource(MODEL_GUARD_RESOURCE_TYPE);
  const itemsTable = logicalIdOf('AWS::DynamoDB::GlobalTable', 'Items');
  const bucket = logicalIdOf('AWS::S3::Bucket', 'CatalogueBucket');

  it('is a custom resource given the active model, the deployed models, the bucket and the Items table', () => {
    expect(guard.Properties).toMatchObject({
      [MODEL_GUARD_PROPERTY.activeModelId]: DEFAULT_ID,
      [MODEL_GUARD_PROPERTY.deployedModelIds]: [DEFAULT_ID],
      [MODEL_GUARD_PROPERTY.catalogueBucket]: { Ref: bucket },
      [MODEL_GUARD_PROPERTY.itemsTable]: { Ref: itemsTable },
    });
  });

  it('runs before every function that serves: each depends on it', () => {
    const functions = functionsByName();
    expect([...functions.keys()].sort()).toEqual([
      'co-engagement',
      'compact',
      'embed',
      'impression-counts',
      'model-guard',
      'recommend',
      'reembed',
      'track',
      'train-similarity',
    ]);
    for (const [name, [, fn]] of functions) {
      if (name === 'model-guard') continue;
      expect({ name, dependsOn: fn.DependsOn ?? [] }).toEqual({
        name,
        dependsOn: expect.arrayContaining([guardId]),
      });
    }
  });

  it("has a read-only role: a scan of the Items table, the registry object and that key's listing", () => {
    const role = (guardFunction().Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const statements = Object.values(resources)
      .filter(
        (r) =>
          r.Type === 'AWS::IAM::Policy' &&
          ((r.Properties?.Roles ?? []) as Array<{ Ref: string }>).some((ref) => ref.Ref === role),
      )
      .flatMap(
        (r) => (r.Properties?.PolicyDocument as { Statement: unknown[] } | undefined)?.Statement ?? [],
      );
    const bucketArn = { 'Fn::GetAtt': [bucket, 'Arn'] };
    expect(statements).toEqual(
      expect.arrayContaining([
        { Effect: 'Allow', Action: 'dynamodb:Scan', Resource: { 'Fn::GetAtt': [itemsTable, 'Arn'] } },
        {
          Effect: 'Allow',
          Action: 's3:GetObject',
          Resource: { 'Fn::Join': ['', [bucketArn, `/${SPACES_REGISTRY_KEY}`]] },
        },
        {
          Effect: 'Allow',
          Action: 's3:ListBucket',
          Resource: bucketArn,
          Condition: { StringEquals: { 's3:prefix': SPACES_REGISTRY_KEY } },
        },
      ]),
    );
    // Nothing else but X-Ray's two trace actions.
    const actions = statements.flatMap((s) => [(s as { Action: string | string[] }).Action].flat()).sort();
    expect(actions).toEqual([
      'dynamodb:Scan',
      's3:GetObject',
      's3:ListBucket',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
  });

  it('logs to its own log group, kept a month, like every function', () => {
    const logGroup = (guardFunction().Properties.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
    expect(resources[logGroup]).toMatchObject({
      Type: 'AWS::Logs::LogGroup',
      Properties: { RetentionInDays: 30 },
    });
    template.resourceCountIs(MODEL_GUARD_RESOURCE_TYPE, 1);
  });
});

describe('the guard follows the rollout props', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'model-guard-infra-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  function guardProperties(props: LookalikeStackProps) {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new LookalikeStack(app, 'Guarded', {
      env: { account: '123456789012', region: 'eu-west-1' },
      ...props,
    });
    const found = Template.fromStack(stack).findResources(MODEL_GUARD_RESOURCE_TYPE);
    return Object.values(found)[0]?.Properties as Record<string, unknown>;
  }

  it('is given the activeModelId switched to and every deployed model, the model layer first', () => {
    const dir = join(scratch, 'second-128');
    cpSync(MODEL_DIR, dir, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, modelId: 'second-128' }));
    expect(guardProperties({ models: [dir], activeModelId: 'second-128' })).toMatchObject({
      [MODEL_GUARD_PROPERTY.activeModelId]: 'second-128',
      [MODEL_GUARD_PROPERTY.deployedModelIds]: [DEFAULT_ID, 'second-128'],
    });
  });

  it('serves the model of modelDir (the pin of a previous model) when no activeModelId is set', () => {
    const dir = join(scratch, 'previous');
    cpSync(MODEL_DIR, dir, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, modelId: 'previous-128' }));
    expect(guardProperties({ modelDir: dir })).toMatchObject({
      [MODEL_GUARD_PROPERTY.activeModelId]: 'previous-128',
      [MODEL_GUARD_PROPERTY.deployedModelIds]: ['previous-128'],
    });
  });
});

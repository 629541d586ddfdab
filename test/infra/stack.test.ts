import { readFileSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { AttributeType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import ts from 'typescript';
import { ENV } from '../../functions/contract/environment';
import { CatalogueIngestion } from '../../infra/constructs/catalogue-ingestion';
import { LAYER_MODULES, ModelLayers } from '../../infra/constructs/model-layers';
import { directoryBytes, synthesize } from '../support/synth';

const { template, json, outdir } = synthesize();

/** Module names the code passes to `require` as a literal (parsed, so strings that mention require() do not count). */
function requiredModules(code: string): string[] {
  const cached = requiredModulesCache.get(code);
  if (cached) return cached;
  const found = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'require') {
      const [specifier] = node.arguments;
      if (specifier && ts.isStringLiteralLike(specifier)) found.add(specifier.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile('index.js', code, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS));
  requiredModulesCache.set(code, [...found]);
  return [...found];
}
const requiredModulesCache = new Map<string, string[]>();
const resources = json.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
/** Ours, not the custom resources CDK adds (the bucket-notification handler). */
const ourFunctions = () =>
  ofType('AWS::Lambda::Function').filter(
    ([, f]) =>
      (f.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
        ?.POWERTOOLS_SERVICE_NAME,
  );
/** A function's bundled code in cdk.out. */
const assetDir = (id: string) =>
  join(
    outdir,
    `asset.${(resources[id]?.Properties.Code as { S3Key?: string } | undefined)?.S3Key?.replace('.zip', '') ?? ''}`,
  );

describe('layers and functions', () => {
  it('publishes the runtime and model layers for the newest Node.js runtime on x86_64', () => {
    const layers = ofType('AWS::Lambda::LayerVersion');
    expect(layers).toHaveLength(2);
    for (const [, layer] of layers) {
      expect(layer.Properties.CompatibleRuntimes).toEqual(['nodejs24.x']);
      expect(layer.Properties.CompatibleArchitectures).toEqual(['x86_64']);
    }
  });

  it('runs every function on nodejs24.x, x86_64, with tracing', () => {
    const functions = ourFunctions();
    expect(functions).toHaveLength(9);
    for (const [, fn] of functions) {
      expect(fn.Properties.Runtime).toBe('nodejs24.x');
      expect(fn.Properties.Architectures).toEqual(['x86_64']);
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
    }
  });

  it('keeps layers plus the embed bundle under 200 MB unzipped, with the native packages left out of the bundle', () => {
    const embed = ofType('AWS::Lambda::Function').find(([id]) => id.includes('Embed'));
    expect(embed).toBeDefined();
    const [embedId] = embed as [string, unknown];
    const layerIds = ofType('AWS::Lambda::LayerVersion').map(([id]) => id);
    const layerDirs = layerIds.map((id) =>
      join(
        outdir,
        `asset.${String((resources[id]?.Properties.Content as { S3Key?: string } | undefined)?.S3Key).replace('.zip', '')}`,
      ),
    );
    const bytes = [...layerDirs, assetDir(embedId)].map(directoryBytes);
    const total = bytes.reduce((a, b) => a + b, 0);
    console.log(
      `layers + embed bundle: ${bytes.map((b) => (b / 1e6).toFixed(1)).join(' + ')} = ${(total / 1e6).toFixed(1)} MB unzipped`,
    );
    expect(total).toBeLessThan(200 * 1024 * 1024);
    // The code alone (its source map is beside it): onnxruntime-node and sharp stay in the layer.
    expect(statSync(join(assetDir(embedId), 'index.js')).size).toBeLessThan(5 * 1024 * 1024);
    expect(requiredModules(readFileSync(join(assetDir(embedId), 'index.js'), 'utf8'))).toEqual(
      expect.arrayContaining(LAYER_MODULES),
    );
  });

  it('bundles the AWS SDK into every function and leaves only the layer packages to require', () => {
    const functions = ourFunctions();
    expect(functions).toHaveLength(9);
    for (const [id] of functions) {
      const code = readFileSync(join(assetDir(id), 'index.js'), 'utf8');
      const packages = requiredModules(code).filter((name) => !isBuiltin(name));
      // Anything else would come from the Lambda runtime (its own SDK release) or be missing.
      expect({ id, outsideLayer: packages.filter((name) => !LAYER_MODULES.includes(name)) }).toEqual({
        id,
        outsideLayer: [],
      });
      // The SDK's user-agent constant: the client code is inside the bundle.
      expect(code).toContain('"aws-sdk-js"');
    }
  });

  it('ships the model manifest at /opt/model/manifest.json', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ LOOKALIKE_MODEL_MANIFEST: '/opt/model/manifest.json' }) },
    });
  });

  it('gives the functions only variables the contract names, besides the Powertools and Node settings', () => {
    const named = new Set<string>([
      ...Object.values(ENV),
      'POWERTOOLS_SERVICE_NAME',
      'POWERTOOLS_METRICS_NAMESPACE',
      'NODE_OPTIONS',
    ]);
    const unnamed = ourFunctions().flatMap(([id, f]) =>
      Object.keys((f.Properties.Environment as { Variables: Record<string, unknown> }).Variables)
        .filter((name) => !named.has(name))
        .map((name) => `${id}: ${name}`),
    );
    expect(unnamed).toEqual([]);
  });
});

describe('catalogue ingestion', () => {
  it('creates a private, encrypted, versioned, TLS-only bucket', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('sends created and removed objects under catalogue/ to the queue', () => {
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        QueueConfigurations: Match.arrayWith([
          Match.objectLike({
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'catalogue/' }] } },
          }),
          Match.objectLike({
            Events: ['s3:ObjectRemoved:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'catalogue/' }] } },
          }),
        ]),
      },
    });
  });

  it('dead-letters a message after 5 tries and reports partial batch failures', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: Match.anyValue() },
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 720,
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 5,
    });
  });

  it('creates the items table on demand, encrypted, with PITR and the change index', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'itemId', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'byChange',
          KeySchema: [
            { AttributeName: 'changeFeed', KeyType: 'HASH' },
            { AttributeName: 'changedAt', KeyType: 'RANGE' },
          ],
        }),
      ],
      Replicas: [
        Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }),
      ],
    });
  });

  it('grants the embed function only what it uses', () => {
    const policies = ofType('AWS::IAM::Policy').filter(([id]) => id.includes('Embed'));
    expect(policies).toHaveLength(1);
    const [, policy] = policies[0] as [string, { Properties: Record<string, unknown> }];
    const statements = (
      policy.Properties.PolicyDocument as {
        Statement: Array<{ Action: string | string[]; Resource: unknown }>;
      }
    ).Statement;
    const actions = statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();
    expect(actions).toEqual(
      [
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        's3:GetObject',
        's3:GetObjectVersion',
        's3:ListBucket',
        // The spaces registry and the learned projections' artefacts, and a listing of those keys only.
        's3:GetObject',
        's3:ListBucket',
        'sqs:ChangeMessageVisibility',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:ReceiveMessage',
        'xray:PutTraceSegments',
        'xray:PutTelemetryRecords',
      ].sort(),
    );
    const s3 = statements.find(
      (s) =>
        String(s.Action).startsWith('s3:') ||
        (Array.isArray(s.Action) && String(s.Action[0]).startsWith('s3:')),
    );
    expect(JSON.stringify(s3?.Resource)).toContain('/catalogue/*');
    const registry = JSON.stringify(statements.filter((s) => JSON.stringify(s).includes('spaces.json')));
    expect(registry).toContain('/index/spaces.json');
    expect(registry).toContain('/index/*.projection.json');
    expect(registry).not.toContain('/index/*"');
    for (const s of statements.filter(
      (s) =>
        !String(s.Action).startsWith('xray:') &&
        !(Array.isArray(s.Action) && String(s.Action[0]).startsWith('xray:')),
    )) {
      expect(JSON.stringify(s.Resource)).not.toBe('"*"');
    }
  });

  it('rejects invalid settings with a clear message', () => {
    const stack = new Stack(new App(), 'Invalid');
    const table = new TableV2(stack, 'T', { partitionKey: { name: 'itemId', type: AttributeType.STRING } });
    const layers = new ModelLayers(stack, 'Layers');
    expect(() => new CatalogueIngestion(stack, 'C', { itemsTable: table, layers, batchSize: 50 })).toThrow(
      /batchSize must be an integer in 1\.\.10, got 50/,
    );
    expect(
      () => new CatalogueIngestion(stack, 'D', { itemsTable: table, layers, maxReceiveCount: 0 }),
    ).toThrow(/maxReceiveCount/);
  });
});

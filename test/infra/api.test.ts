import { App } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { ROUTES, routeKey } from '../../functions/contract/routes';
import { LookalikeStack } from '../../infra/lookalike-stack';
import { synthesize } from '../support/synth';

const { template, json } = synthesize();
const resources = json.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const statementsOf = (fragment: string) =>
  ofType('AWS::IAM::Policy')
    .filter(([id]) => id.includes(fragment))
    .flatMap(
      ([, p]) =>
        (
          p.Properties.PolicyDocument as {
            Statement: Array<{ Action: string | string[]; Resource: unknown }>;
          }
        ).Statement,
    );
const actionsOf = (fragment: string) =>
  statementsOf(fragment)
    .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]))
    .filter((a) => !a.startsWith('xray:'))
    .sort();

describe('HTTP API', () => {
  it('creates every route of the route table, with the authorizer its auth names', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route');
    expect(routes.map(([, r]) => r.Properties.RouteKey).sort()).toEqual(ROUTES.map(routeKey).sort());
    for (const route of ROUTES) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: routeKey(route),
        AuthorizationType: route.auth === 'iam' ? 'AWS_IAM' : 'JWT',
      });
    }
  });

  it('validates tokens of a Cognito user pool it creates when no issuer is given', () => {
    template.resourceCountIs('AWS::Cognito::UserPool', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      JwtConfiguration: { Audience: [Match.anyValue()], Issuer: Match.anyValue() },
    });
  });

  it('throttles, logs access and deploys the default stage', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.anyValue() },
    });
  });

  it('uses an external issuer when one is given, and refuses a bad one', () => {
    const app = new App();
    const external = new LookalikeStack(app, 'External', {
      jwt: { issuer: 'https://id.example.com', audience: ['shop-app'] },
      allowedOrigins: ['https://shop.example.com'],
    });
    const { Template } = require('aws-cdk-lib/assertions') as typeof import('aws-cdk-lib/assertions');
    const externalTemplate = Template.fromStack(external);
    externalTemplate.resourceCountIs('AWS::Cognito::UserPool', 0);
    externalTemplate.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      JwtConfiguration: { Audience: ['shop-app'], Issuer: 'https://id.example.com' },
    });
    externalTemplate.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.objectLike({ AllowOrigins: ['https://shop.example.com'] }),
    });
    expect(
      () => new LookalikeStack(new App(), 'Bad', { jwt: { issuer: 'http://insecure', audience: [] } }),
    ).toThrow(/issuer must be an https URL/);
  });
});

describe('exploration', () => {
  // The recommend function's variables (its logical id names the construct path).
  const recommendEnvironment = (stackJson: typeof json) =>
    Object.entries(
      stackJson.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
    )
      .filter(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith('RecommendationsRecommend'))
      .map(([, r]) => (r.Properties.Environment as { Variables: Record<string, unknown> }).Variables)[0];

  it("leaves EXPLORATION unset by default (the code's default), passes the prop as JSON, and refuses a bad one at synth", () => {
    expect(recommendEnvironment(json)?.EXPLORATION).toBeUndefined();
    const app = new App();
    const custom = new LookalikeStack(app, 'Explore', {
      exploration: { share: 0.1, placements: { home: { share: 0.3 }, pdp: { share: 0 } } },
      placements: { home: {}, pdp: { limit: 4, mmrLambda: 0.9 } },
    });
    const { Template } = require('aws-cdk-lib/assertions') as typeof import('aws-cdk-lib/assertions');
    const environment = recommendEnvironment(Template.fromStack(custom).toJSON() as typeof json);
    expect(JSON.parse(environment?.EXPLORATION as string)).toEqual({
      share: 0.1,
      placements: { home: { share: 0.3 }, pdp: { share: 0 } },
    });
    expect(
      () =>
        new LookalikeStack(new App(), 'BadExplore', {
          exploration: { share: 2, placements: { 'Home Page': {} } },
        }),
    ).toThrow(/exploration: share: .*; placements.Home Page: Invalid key/);
  });

  it('leaves PLACEMENTS unset by default, passes the prop as JSON, and refuses a bad one or exploration of an unknown placement at synth', () => {
    expect(recommendEnvironment(json)?.PLACEMENTS).toBeUndefined();
    const { Template } = require('aws-cdk-lib/assertions') as typeof import('aws-cdk-lib/assertions');
    const custom = new LookalikeStack(new App(), 'Placed', { placements: { home: {}, pdp: { limit: 4 } } });
    const environment = recommendEnvironment(Template.fromStack(custom).toJSON() as typeof json);
    expect(JSON.parse(environment?.PLACEMENTS as string)).toEqual({ home: {}, pdp: { limit: 4 } });
    expect(
      () =>
        new LookalikeStack(new App(), 'BadPlaces', { placements: { home: { limit: 0 }, 'Home Page': {} } }),
    ).toThrow(/placements: home.limit: .*; Home Page: Invalid key/);
    expect(() => new LookalikeStack(new App(), 'NoPlaces', { placements: {} })).toThrow(
      /placements: \(root\): name at least one placement/,
    );
    // The default placements do not include pdp: exploration settings for it would never apply.
    expect(
      () =>
        new LookalikeStack(new App(), 'ExploreUnknown', {
          exploration: { placements: { pdp: { share: 0 } } },
        }),
    ).toThrow(/exploration names placements the stack does not accept: pdp \(placements: home, product/);
  });
});

describe('interest tracking', () => {
  it('keeps raw events with a TTL and every table on demand with point-in-time recovery', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [
        { AttributeName: 'userId', KeyType: 'HASH' },
        { AttributeName: 'eventId', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    // Stats: the co-engagement consumer's markers of counted stream records expire.
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    const tables = ofType('AWS::DynamoDB::GlobalTable');
    // Items, Events, Profiles, Stats, Impressions and Rules.
    expect(tables).toHaveLength(6);
    for (const [, table] of tables) {
      expect(table.Properties.BillingMode).toBe('PAY_PER_REQUEST');
      expect(JSON.stringify(table.Properties.Replicas)).toContain('"PointInTimeRecoveryEnabled":true');
    }
  });

  it('grants the track function what it uses, on its tables and the spaces registry only', () => {
    expect(actionsOf('Track')).toEqual(
      [
        // The spaces registry (which space profiles are folded in) and a listing of that key.
        's3:GetObject',
        's3:ListBucket',
        'dynamodb:BatchGetItem',
        'dynamodb:BatchGetItem',
        'dynamodb:BatchGetItem',
        'dynamodb:DeleteItem',
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
        'dynamodb:UpdateItem',
        // An erasure reads the user's impressions and deletes them.
        'dynamodb:Query',
        'dynamodb:BatchWriteItem',
        // An erasure reads the user's attribution cells on Stats and deletes them (issue 25).
        'dynamodb:Query',
        'dynamodb:BatchWriteItem',
        // The merchandising rules (/rules): read, and changed in transactions with the set's row.
        'dynamodb:GetItem',
        'dynamodb:Query',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
      ].sort(),
    );
    const s3 = statementsOf('Track').filter((s) => [s.Action].flat().includes('s3:GetObject'));
    // The registry object only: track never reads a projection's artefact nor an index snapshot.
    expect(s3).toHaveLength(1);
    expect(JSON.stringify(s3[0]?.Resource)).toContain('/index/spaces.json');
    expect(JSON.stringify(s3[0]?.Resource)).not.toContain('projection');
  });

  it('counts co-engagement from the Events stream, off the request path, with partial failures and a DLQ', () => {
    const [eventsId] = ofType('AWS::DynamoDB::GlobalTable').find(([id]) => id.includes('Events')) ?? [''];
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [
        { AttributeName: 'userId', KeyType: 'HASH' },
        { AttributeName: 'eventId', KeyType: 'RANGE' },
      ],
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [eventsId, 'StreamArn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 100,
      MaximumRetryAttempts: 5,
      StartingPosition: 'TRIM_HORIZON',
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
    // Its only writes: the counters, and attribution's per-user cells (put on their version; issue 25).
    expect(
      actionsOf('CoEngagement')
        .filter((a) => /Put|Update|Delete|Write/.test(a) && a.startsWith('dynamodb:'))
        .sort(),
    ).toEqual(['dynamodb:PutItem', 'dynamodb:UpdateItem']);
    // Its one read (co-purchases, issue 22): a basket event's user's earlier basket events, on the
    // Events table itself.
    const onEvents = statementsOf('CoEngagement').filter((s) =>
      JSON.stringify(s.Resource).includes(eventsId),
    );
    // (Besides the stream's own read actions, which the event source mapping grants.)
    expect(
      onEvents
        .flatMap((s) => [s.Action].flat())
        .filter((a) => !/Stream|GetRecords|GetShardIterator/.test(a))
        .sort(),
    ).toEqual(['dynamodb:Query']);
    expect(JSON.stringify(onEvents.map((s) => s.Resource))).not.toContain('/index/');
  });

  it('passes the recommender the names of the tables it reads, the Events table to refold profiles on read', () => {
    const functions = ofType('AWS::Lambda::Function').map(
      ([, f]) =>
        (f.Properties.Environment as { Variables: Record<string, unknown> } | undefined)?.Variables ?? {},
    );
    const recommend = functions.find((variables) => variables.POWERTOOLS_SERVICE_NAME === 'recommend');
    expect(Object.keys(recommend ?? {})).toEqual(
      expect.arrayContaining([
        'ITEMS_TABLE',
        'PROFILES_TABLE',
        'STATS_TABLE',
        'CATALOGUE_BUCKET',
        'EVENTS_TABLE',
        'RULES_TABLE',
      ]),
    );
  });

  it("lets the recommender only query a user's events (a refold after a model switch), never write them", () => {
    const [eventsId] = ofType('AWS::DynamoDB::GlobalTable').find(([id]) => id.includes('Events')) ?? [''];
    const onEvents = statementsOf('RecommendFunction').filter((s) =>
      JSON.stringify(s.Resource).includes(eventsId),
    );
    expect(onEvents.flatMap((s) => [s.Action].flat()).sort()).toEqual(['dynamodb:Query']);
    // The table itself, not its indexes.
    expect(JSON.stringify(onEvents.map((s) => s.Resource))).not.toContain('/index/');
  });

  it('lets the recommender read user data and write nothing but the impression of each list it serves', () => {
    const actions = actionsOf('Recommend');
    expect(actions.filter((a) => /Put|Update|Delete|Write/.test(a) && a.startsWith('dynamodb:'))).toEqual([
      'dynamodb:PutItem',
    ]);
    const [impressionsId] = ofType('AWS::DynamoDB::GlobalTable').find(([id]) =>
      id.includes('Impressions'),
    ) ?? [''];
    const put = statementsOf('RecommendFunction').filter((s) =>
      [s.Action].flat().includes('dynamodb:PutItem'),
    );
    expect(put.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [impressionsId, 'Arn'] }]);
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query', 's3:GetObject']));
  });
});

describe('reads of keys that may be missing', () => {
  // Without s3:ListBucket, S3 answers a missing key with 403 AccessDenied instead of 404.
  it.each([
    ['RecommendFunction', 'index/*'],
    ['CompactFunction', 'index/*'],
    ['EmbedFunction', 'catalogue/*', 'index/spaces.json', 'index/*.projection.json'],
    ['TrackFunction', 'index/spaces.json'],
  ])('lets %s list the bucket under %s only', (fragment, ...prefixes) => {
    const listing = statementsOf(fragment).filter((s) => [s.Action].flat().includes('s3:ListBucket'));
    expect(
      listing
        .flatMap(
          (s) =>
            ((s as { Condition?: unknown }).Condition as { StringLike: { 's3:prefix': string[] } })
              .StringLike['s3:prefix'],
        )
        .sort(),
    ).toEqual([...prefixes].sort());
    for (const statement of listing)
      expect(statement).toMatchObject({
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^CatalogueBucket/), 'Arn'] },
      });
  });

  it('grants item reads on the items table and only queries on its indexes', () => {
    for (const fragment of ['RecommendFunction', 'CompactFunction']) {
      for (const statement of statementsOf(fragment)) {
        const onIndex = JSON.stringify(statement.Resource).includes('/index/*');
        if (!onIndex || ![statement.Action].flat()[0]?.startsWith('dynamodb:')) continue;
        expect([statement.Action].flat()).toEqual(['dynamodb:Query']);
      }
    }
  });
});

describe('index compaction', () => {
  it('carries no layers and reserves no concurrency (the pointer write is conditional instead)', () => {
    const compact = ofType('AWS::Lambda::Function').find(
      ([, f]) =>
        (f.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
          ?.POWERTOOLS_SERVICE_NAME === 'compact',
    );
    expect(compact?.[1].Properties.Layers).toBeUndefined();
    expect(compact?.[1].Properties.ReservedConcurrentExecutions).toBeUndefined();
  });

  it('delivers access logs under a bucket policy, not the legacy LogDeliveryWrite ACL', () => {
    for (const [, bucket] of ofType('AWS::S3::Bucket'))
      expect(bucket.Properties.AccessControl).toBeUndefined();
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'logging.s3.amazonaws.com' }, Action: 's3:PutObject' }),
        ]),
      },
    });
  });
});

describe('serving backends', () => {
  it('adds no vector index to the items table with the exact backend', () => {
    for (const [, table] of ofType('AWS::DynamoDB::GlobalTable'))
      expect(table.Properties.VectorIndexes).toBeUndefined();
  });

  it('creates a cosine vector index of the model dimension and writes vectors for it with dynamodb-vector', () => {
    const vector = synthesize('dynamodb-vector', { servingBackend: 'dynamodb-vector' });
    const dim = (
      JSON.parse(require('node:fs').readFileSync('layers/model/dist/manifest.json', 'utf8')) as {
        output: { dim: number };
      }
    ).output.dim;
    vector.template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      VectorIndexes: [
        {
          IndexName: 'byVector',
          Dimensions: dim,
          DistanceFunction: 'COSINE',
          VectorAttribute: { AttributeName: 'embedding' },
          Projection: Match.anyValue(),
          SearchSchema: [{ AttributeName: 'category', SearchSchemaElementType: 'INLINE_FILTER' }],
        },
      ],
      AttributeDefinitions: Match.arrayWith([{ AttributeName: 'category', AttributeType: 'S' }]),
    });
    vector.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          VECTOR_INDEX_ATTRIBUTE: 'embedding',
          VECTOR_INDEX_DIMENSION: String(dim),
        }),
      },
    });
    vector.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ SERVING_BACKEND: 'dynamodb-vector' }) },
    });
    const searchVectors = JSON.stringify(vector.json.Resources).includes('dynamodb:SearchVectors');
    expect(searchVectors).toBe(true);
  });
});

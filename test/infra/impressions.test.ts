/**
 * The Impressions capability (issue 21): the table of lists served (keys, the byDay index, TTL,
 * stream, on demand with PITR), the consumer of its stream that keeps the per-item counts, and the
 * grants: recommend may only put impressions, track's erasure only query and batch-delete them, the
 * consumer only update Stats counters.
 */
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { IMPRESSIONS_TABLE } from '../../functions/contract/storage';
import { LookalikeStack } from '../../infra/lookalike-stack';
import { synthesize } from '../support/synth';

const { template, json } = synthesize();
const resources = json.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const [impressionsId] = ofType('AWS::DynamoDB::GlobalTable').find(([id]) => id.includes('Impressions')) ?? [
  '',
];
const [statsId] = ofType('AWS::DynamoDB::GlobalTable').find(([id]) => id.includes('Stats')) ?? [''];
type Statement = { Action: string | string[]; Resource: unknown };
const statementsOf = (fragment: string): Statement[] =>
  ofType('AWS::IAM::Policy')
    .filter(([id]) => id.includes(fragment))
    .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
/** The DynamoDB actions a function's role has on the Impressions table (or its indexes). */
const onImpressions = (fragment: string) =>
  statementsOf(fragment)
    .filter((s) => JSON.stringify(s.Resource).includes(impressionsId as string))
    .flatMap((s) => [s.Action].flat())
    .sort();
const environmentOf = (service: string) =>
  (
    ofType('AWS::Lambda::Function').find(
      ([, f]) =>
        (f.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
          ?.POWERTOOLS_SERVICE_NAME === service,
    )?.[1].Properties.Environment as { Variables: Record<string, unknown> } | undefined
  )?.Variables;

describe('the Impressions table', () => {
  it('keys a list by user and recommendation id, indexes it by day, expires it, streams new images', () => {
    expect(impressionsId).toBeTruthy();
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byDay',
          KeySchema: [
            { AttributeName: 'day', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      Replicas: [
        Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }),
      ],
    });
    expect(IMPRESSIONS_TABLE.globalIndexes?.[0]?.indexName).toBe('byDay');
  });

  it('tells recommend the table and a 30-day TTL, and takes the stack prop', () => {
    expect(environmentOf('recommend')).toMatchObject({
      IMPRESSIONS_TABLE: { Ref: impressionsId },
      IMPRESSION_TTL_DAYS: '30',
    });
    const custom = Template.fromStack(new LookalikeStack(new App(), 'Custom', { impressionTtlDays: 7 }));
    custom.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'recommend', IMPRESSION_TTL_DAYS: '7' }),
      },
    });
    expect(() => new LookalikeStack(new App(), 'Bad', { impressionTtlDays: 0 })).toThrow(
      /ttlDays must be a whole number of days in 1..3650/,
    );
  });
});

describe('grants on impressions', () => {
  it("lets recommend put an impression and get a list's row back (its next page): no query, update or delete, nothing on the index", () => {
    expect(onImpressions('RecommendFunction')).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem']);
    const recommend = Object.values(resources).find(
      (r) =>
        r.Type === 'AWS::Lambda::Function' &&
        (r.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
          ?.POWERTOOLS_SERVICE_NAME === 'recommend',
    );
    expect(
      (recommend?.Properties.Environment as { Variables?: object } | undefined)?.Variables,
    ).toMatchObject({
      PAGE_TOKEN_TTL_MINUTES: '60',
    });
  });

  it('refuses a page token TTL longer than the impressions are kept', () => {
    expect(
      () => new LookalikeStack(new App(), 'LongTokens', { impressionTtlDays: 1, pageTokenTtlMinutes: 1441 }),
    ).toThrow(
      /pageTokenTtlMinutes must be a whole number of minutes from 1 to the impressions' TTL \(1440\)/,
    );
    expect(
      () => new LookalikeStack(new App(), 'DayTokens', { impressionTtlDays: 1, pageTokenTtlMinutes: 1440 }),
    ).not.toThrow();
  });

  it("adds a Query of the user's partition for recommend only when rotation is on, and sets its variables", () => {
    const rotating = Template.fromStack(
      new LookalikeStack(new App(), 'Rotating', { rotation: { lists: 3, weight: 0.5 } }),
    ).toJSON() as typeof json;
    const rotatingResources = rotating.Resources as typeof resources;
    const [rotatingTable] =
      Object.entries(rotatingResources).find(
        ([id, r]) => r.Type === 'AWS::DynamoDB::GlobalTable' && id.includes('Impressions'),
      ) ?? [];
    const actions = Object.entries(rotatingResources)
      .filter(([id, r]) => r.Type === 'AWS::IAM::Policy' && id.includes('RecommendFunction'))
      .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
      .filter((st) => JSON.stringify(st.Resource).includes(rotatingTable as string))
      .flatMap((st) => [st.Action].flat())
      .sort();
    expect(actions).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query']);
    const recommend = Object.values(rotatingResources).find(
      (r) =>
        r.Type === 'AWS::Lambda::Function' &&
        (r.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
          ?.POWERTOOLS_SERVICE_NAME === 'recommend',
    );
    expect(recommend).toBeDefined();
    const variables = (recommend?.Properties.Environment as { Variables: object } | undefined)?.Variables;
    expect(variables).toMatchObject({
      ROTATION_LISTS: '3',
      ROTATION_WEIGHT: '0.5',
    });
    expect(() => new LookalikeStack(new App(), 'BadRotation', { rotation: { lists: 1.5 } })).toThrow(
      /rotation.lists must be a whole number/,
    );
  });

  it("lets track's erasure query a user's partition and batch-delete it, on the table only", () => {
    expect(onImpressions('TrackFunction')).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:Query']);
    const resources = statementsOf('TrackFunction')
      .filter((s) => JSON.stringify(s.Resource).includes(impressionsId as string))
      .map((s) => JSON.stringify(s.Resource));
    for (const resource of resources) expect(resource).not.toContain('/index/');
  });

  it('gives no other function a grant on the Impressions table (the stream mapping reads it for the consumer)', () => {
    const fragments = new Set(
      ofType('AWS::IAM::Policy')
        .filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes(impressionsId as string))
        .map(([id]) => id.replace(/ServiceRoleDefaultPolicy.*$/, '')),
    );
    expect([...fragments].sort()).toEqual([
      expect.stringMatching(/^ImpressionsCountsFunction/),
      'InterestCoEngagementFunction',
      'InterestTrackFunction',
      'RecommendationsRecommendFunction',
    ]);
    // The Events stream's consumer reads the lists events name (attribution, issue 25), nothing more.
    expect(onImpressions('InterestCoEngagementFunction')).toEqual(['dynamodb:BatchGetItem']);
    // The consumer's grant on the table is the stream read the mapping needs.
    const consumer = statementsOf('ImpressionsCounts')
      .filter((s) => JSON.stringify(s.Resource).includes(impressionsId as string))
      .flatMap((s) => [s.Action].flat());
    expect(
      consumer.every((action) =>
        /^dynamodb:(DescribeStream|GetRecords|GetShardIterator|ListStreams)$/.test(action),
      ),
    ).toBe(true);
  });
});

describe('the impression counts consumer', () => {
  it('reads the Impressions stream with partial batch failures, retries and a DLQ', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [impressionsId, 'StreamArn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 100,
      MaximumRetryAttempts: 5,
      StartingPosition: 'TRIM_HORIZON',
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });

  it("only updates counters in Stats and reads and puts attribution's user cells, and reads nothing else", () => {
    const writes = statementsOf('ImpressionsCounts')
      .filter((s) => JSON.stringify(s.Resource).includes(statsId as string))
      .flatMap((s) => [s.Action].flat());
    expect(writes.sort()).toEqual(['dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
    expect(environmentOf('impression-counts')).toMatchObject({ STATS_TABLE: { Ref: statsId } });
  });

  it('has its DLQ and errors alarmed', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([id]) => id);
    expect(alarms.some((id) => /ImpressionCountsDeadLetters/.test(id))).toBe(true);
    expect(alarms.some((id) => /ImpressionCounts.*Errors/.test(id))).toBe(true);
  });
});

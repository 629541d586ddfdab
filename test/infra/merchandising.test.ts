/**
 * The Merchandising capability (issue 20): the Rules table (one partition, on demand, encrypted, PITR,
 * kept on stack deletion by default), the grants (track manages the rules, recommend only reads them,
 * nobody else touches them), recommend's cache TTL (RULES_CACHE_MS, at most 5 s), the five /rules
 * routes behind the JWT authorizer on the track function, and CORS for the admin panel's PUT.
 */
import { App, RemovalPolicy } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ROUTES, routeKey } from '../../functions/contract/routes';
import { RULES_TABLE } from '../../functions/contract/storage';
import { LookalikeStack, type LookalikeStackProps } from '../../infra/lookalike-stack';
import { synthesize } from '../support/synth';

type Resources = Record<
  string,
  { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string; UpdateReplacePolicy?: string }
>;
type Statement = { Action: string | string[]; Resource: unknown };

/** Lookups over one synthesized template. */
function inspect(json: Record<string, unknown>) {
  const resources = json.Resources as Resources;
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  const [rulesId = '', rules] =
    ofType('AWS::DynamoDB::GlobalTable').find(([id]) => id.startsWith('MerchandisingRules')) ?? [];
  const statementsOf = (fragment: string): Statement[] =>
    ofType('AWS::IAM::Policy')
      .filter(([id]) => id.includes(fragment))
      .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
  /** The actions a function's role has on the Rules table (or anything under it). */
  const onRules = (fragment: string) =>
    statementsOf(fragment)
      .filter((s) => JSON.stringify(s.Resource).includes(rulesId))
      .flatMap((s) => [s.Action].flat())
      .sort();
  const environmentOf = (service: string) =>
    (
      ofType('AWS::Lambda::Function').find(
        ([, f]) =>
          (f.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
            ?.POWERTOOLS_SERVICE_NAME === service,
      )?.[1].Properties.Environment as { Variables: Record<string, unknown> } | undefined
    )?.Variables ?? {};
  return { resources, ofType, rulesId, rules, statementsOf, onRules, environmentOf };
}

const { json } = synthesize();
const deployed = inspect(json);

/** An app that bundles no function: the props under test change only the template. */
const unbundled = () => new App({ context: { 'aws:cdk:bundling-stacks': [] } });
const templateOf = (props: LookalikeStackProps) =>
  Template.fromStack(new LookalikeStack(unbundled(), 'Custom', props)).toJSON() as Record<string, unknown>;

describe('the Rules table', () => {
  it('is one on-demand table keyed pk/sk, encrypted, with point-in-time recovery, and no TTL, stream or index', () => {
    expect(deployed.rulesId).toBeTruthy();
    expect(RULES_TABLE).toMatchObject({ partitionKey: { name: 'pk' }, sortKey: { name: 'sk' } });
    expect(deployed.rules?.Properties).toMatchObject({
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      Replicas: [
        expect.objectContaining({
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        }),
      ],
    });
    for (const absent of ['TimeToLiveSpecification', 'StreamSpecification', 'GlobalSecondaryIndexes'])
      expect(deployed.rules?.Properties[absent]).toBeUndefined();
  });

  it('is kept, with deletion protection, when the stack is deleted, unless dataRemovalPolicy says destroy', () => {
    expect(deployed.rules).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(deployed.rules?.Properties.Replicas).toEqual([
      expect.objectContaining({ DeletionProtectionEnabled: true }),
    ]);
    const disposable = inspect(templateOf({ dataRemovalPolicy: RemovalPolicy.DESTROY }));
    expect(disposable.rules).toMatchObject({ DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
    expect(disposable.rules?.Properties.Replicas).toEqual([
      expect.objectContaining({ DeletionProtectionEnabled: false }),
    ]);
  });
});

describe('grants on the rules', () => {
  it('lets track, which serves /rules, read and change them: item reads, a Query, and the writes of its transactions', () => {
    expect(deployed.onRules('TrackFunction')).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
  });

  it('lets recommend only read them: the set row (GetItem) and the partition (Query)', () => {
    expect(deployed.onRules('RecommendFunction')).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
  });

  it('grants on the table itself, and to no other function', () => {
    const granted = deployed
      .ofType('AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes(deployed.rulesId))
      .map(([id]) => id.replace(/ServiceRoleDefaultPolicy.*$/, ''));
    expect(granted.sort()).toEqual(['InterestTrackFunction', 'RecommendationsRecommendFunction']);
    for (const fragment of ['TrackFunction', 'RecommendFunction'])
      for (const statement of deployed
        .statementsOf(fragment)
        .filter((s) => JSON.stringify(s.Resource).includes(deployed.rulesId)))
        expect(statement.Resource).toEqual({ 'Fn::GetAtt': [deployed.rulesId, 'Arn'] });
  });
});

describe("the functions' settings", () => {
  it('tells track and recommend the table, and recommend a 4 s cache by default', () => {
    expect(deployed.environmentOf('track')).toMatchObject({ RULES_TABLE: { Ref: deployed.rulesId } });
    expect(deployed.environmentOf('recommend')).toMatchObject({
      RULES_TABLE: { Ref: deployed.rulesId },
      RULES_CACHE_MS: '4000',
    });
    expect(deployed.environmentOf('track').RULES_CACHE_MS).toBeUndefined();
  });

  it('takes rulesCacheMs from 1 to 5000 ms and refuses anything else at synth', () => {
    expect(inspect(templateOf({ rulesCacheMs: 5000 })).environmentOf('recommend').RULES_CACHE_MS).toBe(
      '5000',
    );
    expect(inspect(templateOf({ rulesCacheMs: 1 })).environmentOf('recommend').RULES_CACHE_MS).toBe('1');
    for (const rulesCacheMs of [6000, 5001, 0, -1, 1.5, Number.NaN])
      expect(() => new LookalikeStack(unbundled(), 'BadCache', { rulesCacheMs })).toThrow(
        /rulesCacheMs must be a whole number of ms from 1 to 5000/,
      );
  });

  it('gives track the placements recommend accepts when the stack names them (rules may name only those)', () => {
    expect(deployed.environmentOf('track').PLACEMENTS).toBeUndefined();
    const placed = inspect(templateOf({ placements: { home: {}, pdp: { limit: 4 } } }));
    expect(JSON.parse(placed.environmentOf('track').PLACEMENTS as string)).toEqual({
      home: {},
      pdp: { limit: 4 },
    });
    expect(placed.environmentOf('track').PLACEMENTS).toBe(placed.environmentOf('recommend').PLACEMENTS);
  });
});

describe('the /rules routes', () => {
  const ruleRoutes = ROUTES.filter((route) => route.path.startsWith('/rules'));

  it('are the five admin routes of the route table, each behind the JWT authorizer, served by track', () => {
    expect(ruleRoutes.map(routeKey).sort()).toEqual([
      'DELETE /rules/{ruleId}',
      'GET /rules',
      'GET /rules/{ruleId}',
      'POST /rules',
      'PUT /rules/{ruleId}',
    ]);
    const routes = deployed.ofType('AWS::ApiGatewayV2::Route');
    const [jwtAuthorizer] = deployed
      .ofType('AWS::ApiGatewayV2::Authorizer')
      .find(([, authorizer]) => authorizer.Properties.AuthorizerType === 'JWT') ?? [''];
    const [trackIntegration] = routes
      .filter(([, r]) => r.Properties.RouteKey === 'POST /events')
      .map(([, r]) => JSON.stringify(r.Properties.Target));
    for (const route of ruleRoutes) {
      expect(route.auth).toBe('admin');
      const [, deployedRoute] = routes.find(([, r]) => r.Properties.RouteKey === routeKey(route)) ?? [];
      expect([routeKey(route), deployedRoute?.Properties]).toEqual([
        routeKey(route),
        expect.objectContaining({ AuthorizationType: 'JWT', AuthorizerId: { Ref: jwtAuthorizer } }),
      ]);
      // The same integration as the track function's other routes.
      expect(JSON.stringify(deployedRoute?.Properties.Target)).toBe(trackIntegration);
    }
  });

  it("lets an allowed origin's admin panel PUT a rule (CORS), and sets no CORS without allowed origins", () => {
    const withOrigins = templateOf({ allowedOrigins: ['https://admin.example.com'] });
    const [[, api] = []] = inspect(withOrigins).ofType('AWS::ApiGatewayV2::Api');
    expect(api?.Properties.CorsConfiguration).toMatchObject({
      AllowOrigins: ['https://admin.example.com'],
      AllowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      AllowHeaders: ['authorization', 'content-type'],
    });
    const [[, defaultApi] = []] = deployed.ofType('AWS::ApiGatewayV2::Api');
    expect(defaultApi?.Properties.CorsConfiguration).toBeUndefined();
  });
});

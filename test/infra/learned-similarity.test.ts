/**
 * The learned-similarity trainer: a function on a daily EventBridge schedule (a stack prop, false to
 * turn it off) whose role scans the Events, Profiles and Items tables and writes reports under
 * index/learned/reports/, and nothing else of the data.
 */
import { Duration } from 'aws-cdk-lib';
import { Schedule } from 'aws-cdk-lib/aws-events';
import { INDEX_PREFIX, TRAINING_REPORTS_PREFIX } from '../../functions/contract/storage';
import { synthesize } from '../support/synth';

type Resource = { Type: string; Properties: Record<string, unknown> };
type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

const resourcesOf = (json: Record<string, unknown>) => json.Resources as Record<string, Resource>;

function trainFunction(resources: Record<string, Resource>): [string, Resource] {
  const found = Object.entries(resources).filter(
    ([, r]) =>
      r.Type === 'AWS::Lambda::Function' &&
      (r.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
        ?.POWERTOOLS_SERVICE_NAME === 'train-similarity',
  );
  expect(found).toHaveLength(1);
  return found[0] as [string, Resource];
}

function statementsOfRole(resources: Record<string, Resource>, roleId: string): Statement[] {
  return Object.values(resources)
    .filter(
      (r) =>
        r.Type === 'AWS::IAM::Policy' &&
        (r.Properties.Roles as Array<{ Ref?: string }>).some((role) => role.Ref === roleId),
    )
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actionsOf = (statements: Statement[]) =>
  statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();

describe('the learned-similarity trainer in the stack', () => {
  const { json } = synthesize();
  const resources = resourcesOf(json);
  const [functionId, fn] = trainFunction(resources);

  it('runs daily by default, with the scheduled event EventBridge sends', () => {
    const rules = Object.values(resources).filter((r) => r.Type === 'AWS::Events::Rule');
    expect(rules).toHaveLength(1);
    const [rule] = rules as [Resource];
    expect(rule.Properties.ScheduleExpression).toBe('rate(1 day)');
    const targets = rule.Properties.Targets as Array<{
      Arn: unknown;
      Input?: unknown;
      RetryPolicy?: unknown;
    }>;
    expect(targets).toHaveLength(1);
    expect(targets[0]?.Arn).toEqual({ 'Fn::GetAtt': [functionId, 'Arn'] });
    expect(targets[0]?.Input).toBeUndefined();
    // EventBridge may invoke it, and only it may.
    const permissions = Object.values(resources).filter(
      (r) =>
        r.Type === 'AWS::Lambda::Permission' &&
        JSON.stringify(r.Properties.FunctionName).includes(functionId),
    );
    expect(permissions.map((p) => p.Properties.Principal)).toEqual(['events.amazonaws.com']);
  });

  it('has one vCPU and 15 minutes, and reads the tables and the model it trains on', () => {
    expect(fn.Properties).toMatchObject({ MemorySize: 1769, Timeout: 900 });
    const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(Object.keys(variables)).toEqual(
      expect.arrayContaining([
        'EVENTS_TABLE',
        'PROFILES_TABLE',
        'ITEMS_TABLE',
        'CATALOGUE_BUCKET',
        'ACTIVE_MODEL_ID',
        'MODEL_DIMENSION',
      ]),
    );
  });

  it('may scan the events and profiles, re-project items and write under index/ only', () => {
    const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const statements = statementsOfRole(resources, roleId);
    const data = statements.filter((s) => actionsOf([s]).some((a) => /^(dynamodb|s3):/.test(a)));
    const dynamo = data.filter((s) => actionsOf([s]).every((a) => a.startsWith('dynamodb:')));
    expect(actionsOf(dynamo)).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:Query',
      'dynamodb:Scan',
      'dynamodb:Scan',
      'dynamodb:Scan',
      'dynamodb:UpdateItem',
    ]);
    // No write to the Events, Profiles or Stats tables: only the Items table's vectors change.
    for (const s of dynamo.filter((s) => actionsOf([s]).includes('dynamodb:UpdateItem')))
      expect(JSON.stringify(s.Resource)).toMatch(/Items/);
    const s3 = data.filter((s) => actionsOf([s]).some((a) => a.startsWith('s3:')));
    expect(actionsOf(s3)).toEqual(['s3:DeleteObject', 's3:GetObject', 's3:ListBucket', 's3:PutObject']);
    for (const s of s3.filter((s) => !actionsOf([s]).includes('s3:ListBucket')))
      expect(JSON.stringify(s.Resource)).toContain(`/${INDEX_PREFIX}*`);
    expect(`${INDEX_PREFIX}learned/reports/`).toBe(TRAINING_REPORTS_PREFIX);
  });

  it('takes its schedule from a prop, and none when turned off', () => {
    const weekly = resourcesOf(
      synthesize('weekly-training', { learnedSimilaritySchedule: Schedule.rate(Duration.days(7)) }).json,
    );
    expect(
      Object.values(weekly)
        .filter((r) => r.Type === 'AWS::Events::Rule')
        .map((r) => r.Properties.ScheduleExpression),
    ).toEqual(['rate(7 days)']);
    const off = resourcesOf(synthesize('no-training-schedule', { learnedSimilaritySchedule: false }).json);
    expect(Object.values(off).filter((r) => r.Type === 'AWS::Events::Rule')).toEqual([]);
    trainFunction(off);
  });
});

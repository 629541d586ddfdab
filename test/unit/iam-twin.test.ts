import { IamTwin, resolveRoles, wildcardMatch } from '../../infra/local/iam/iam-twin';
import { accessKeyIdOf, dynamoDbAuthorizations, s3Authorizations } from '../../infra/local/iam/requests';
import { rolesFromTemplate } from '../../infra/local/iam/stack-roles';

const TABLE = 'arn:aws:dynamodb:us-east-1:000000000000:table';

/** A template as CDK writes it: a function, its role, and a default policy with intrinsics. */
const template = {
  Resources: {
    ItemsTable: { Type: 'AWS::DynamoDB::GlobalTable', Properties: {} },
    Bucket: { Type: 'AWS::S3::Bucket', Properties: {} },
    FnRole: { Type: 'AWS::IAM::Role', Properties: { ManagedPolicyArns: ['arn:aws:iam::aws:policy/x'] } },
    FnPolicy: {
      Type: 'AWS::IAM::Policy',
      Properties: {
        Roles: [{ Ref: 'FnRole' }],
        PolicyDocument: {
          Statement: [
            {
              Effect: 'Allow',
              Action: ['dynamodb:GetItem', 'dynamodb:PutItem'],
              Resource: { 'Fn::GetAtt': ['ItemsTable', 'Arn'] },
            },
            {
              Effect: 'Allow',
              Action: 'dynamodb:Query',
              Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['ItemsTable', 'Arn'] }, '/index/*']] },
            },
            {
              Effect: 'Allow',
              Action: 's3:GetObject',
              Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Bucket', 'Arn'] }, '/index/*']] },
            },
            {
              Effect: 'Allow',
              Action: 's3:ListBucket',
              Resource: { 'Fn::GetAtt': ['Bucket', 'Arn'] },
              Condition: { StringLike: { 's3:prefix': ['index/*'] } },
            },
          ],
        },
      },
    },
    Fn: {
      Type: 'AWS::Lambda::Function',
      Properties: {
        Role: { 'Fn::GetAtt': ['FnRole', 'Arn'] },
        Environment: {
          Variables: {
            POWERTOOLS_SERVICE_NAME: 'reader',
            ITEMS_TABLE: { Ref: 'ItemsTable' },
            BUCKET: { Ref: 'Bucket' },
          },
        },
      },
    },
    CustomResourceHandler: {
      Type: 'AWS::Lambda::Function',
      Properties: { Role: { 'Fn::GetAtt': ['FnRole', 'Arn'] } },
    },
  },
};
const twin = () =>
  IamTwin.fromStack(rolesFromTemplate(template), {
    environment: { ITEMS_TABLE: 'local-Items', BUCKET: 'local-bucket' },
  });

describe('the roles of a synthesized template', () => {
  it('resolve to the local names and ARNs the functions are given', () => {
    const [role, ...others] = resolveRoles(rolesFromTemplate(template), {
      environment: { ITEMS_TABLE: 'local-Items', BUCKET: 'local-bucket' },
    });
    expect(others).toEqual([]);
    expect(role).toMatchObject({ functionName: 'reader', accessKeyId: 'LOOKALIKEREADER' });
    expect(role?.statements.map((s) => s.Resource)).toEqual([
      `${TABLE}/local-Items`,
      `${TABLE}/local-Items/index/*`,
      'arn:aws:s3:::local-bucket/index/*',
      'arn:aws:s3:::local-bucket',
    ]);
    expect(role?.managedPolicyArns).toEqual(['arn:aws:iam::aws:policy/x']);
  });
});

describe('the twin', () => {
  it('allows granted calls and refuses others with AWS wording', async () => {
    const iam = twin();
    await expect(
      iam.authorize('LOOKALIKEREADER', [{ action: 'dynamodb:GetItem', resource: `${TABLE}/local-Items` }]),
    ).resolves.toBeUndefined();
    const denial = await iam.authorize('LOOKALIKEREADER', [
      { action: 'dynamodb:DeleteItem', resource: `${TABLE}/local-Items` },
    ]);
    expect(denial?.message).toMatch(
      /^User: arn:aws:sts::000000000000:assumed-role\/FnRole\/reader is not authorized to perform: dynamodb:DeleteItem on resource: .*local-Items because no identity-based policy allows the dynamodb:DeleteItem action$/,
    );
    // Another table, an index action on the table itself.
    expect(
      await iam.authorize('LOOKALIKEREADER', [{ action: 'dynamodb:GetItem', resource: `${TABLE}/other` }]),
    ).toBeDefined();
    expect(
      await iam.authorize('LOOKALIKEREADER', [
        { action: 'dynamodb:Query', resource: `${TABLE}/local-Items` },
      ]),
    ).toBeDefined();
  });

  it('evaluates the s3:prefix condition of ListBucket', async () => {
    const iam = twin();
    const list = (prefix: string) => ({
      action: 's3:ListBucket',
      resource: 'arn:aws:s3:::local-bucket',
      context: { 's3:prefix': prefix },
    });
    expect(await iam.authorize('LOOKALIKEREADER', [list('index/m/latest.json')])).toBeUndefined();
    expect(await iam.authorize('LOOKALIKEREADER', [list('catalogue/a.png')])).toBeDefined();
    // No prefix in the request: the condition cannot match.
    expect(
      await iam.authorize('LOOKALIKEREADER', [
        { action: 's3:ListBucket', resource: 'arn:aws:s3:::local-bucket' },
      ]),
    ).toBeDefined();
  });

  it('does not restrict the operator, and records every decision for the grant audit', async () => {
    const iam = twin();
    expect(
      await iam.authorize('S3RVER', [{ action: 'dynamodb:DeleteTable', resource: `${TABLE}/local-Items` }]),
    ).toBeUndefined();
    await iam.authorize('LOOKALIKEREADER', [
      { action: 'dynamodb:GetItem', resource: `${TABLE}/local-Items` },
    ]);
    await iam.authorize('LOOKALIKEREADER', [
      { action: 'dynamodb:GetItem', resource: `${TABLE}/local-Items` },
    ]);
    expect(iam.calls()).toEqual([
      {
        functionName: 'reader',
        action: 'dynamodb:GetItem',
        resource: `${TABLE}/local-Items`,
        allowed: true,
        count: 2,
      },
    ]);
    expect(iam.unusedGrants().map((g) => g.action)).toEqual([
      'dynamodb:PutItem',
      'dynamodb:Query',
      's3:GetObject',
      's3:ListBucket',
    ]);
  });
});

describe('what IAM evaluates for a request', () => {
  it('DynamoDB: item actions per transaction part, index ARNs for queries, one per table for batches', () => {
    expect(
      dynamoDbAuthorizations('DynamoDB_20120810.TransactWriteItems', {
        TransactItems: [
          { Put: { TableName: 'a' } },
          { Update: { TableName: 'b' } },
          { ConditionCheck: { TableName: 'a' } },
        ],
      }),
    ).toEqual([
      { action: 'dynamodb:PutItem', resource: `${TABLE}/a` },
      { action: 'dynamodb:UpdateItem', resource: `${TABLE}/b` },
      { action: 'dynamodb:ConditionCheckItem', resource: `${TABLE}/a` },
    ]);
    expect(
      dynamoDbAuthorizations('DynamoDB_20120810.Query', { TableName: 'a', IndexName: 'byChange' }),
    ).toEqual([{ action: 'dynamodb:Query', resource: `${TABLE}/a/index/byChange` }]);
    expect(
      dynamoDbAuthorizations('DynamoDB_20120810.BatchGetItem', { RequestItems: { a: {}, b: {} } }),
    ).toEqual([
      { action: 'dynamodb:BatchGetItem', resource: `${TABLE}/a` },
      { action: 'dynamodb:BatchGetItem', resource: `${TABLE}/b` },
    ]);
  });

  it('S3: object, version, copy and listing requests', () => {
    const request = (method: string, path: string, query = {}, headers = {}) =>
      s3Authorizations({ method, path, query, headers });
    expect(request('GET', '/b/catalogue/a%20b.png')).toEqual([
      { action: 's3:GetObject', resource: 'arn:aws:s3:::b/catalogue/a b.png' },
    ]);
    expect(request('HEAD', '/b/k', { versionId: 'v1' })).toEqual([
      { action: 's3:GetObjectVersion', resource: 'arn:aws:s3:::b/k' },
    ]);
    expect(request('DELETE', '/b/k', { versionId: 'v1' })).toEqual([
      { action: 's3:DeleteObjectVersion', resource: 'arn:aws:s3:::b/k' },
    ]);
    expect(request('PUT', '/b/k', {}, { 'x-amz-copy-source': '/b/src%2Fx.png?versionId=v2' })).toEqual([
      { action: 's3:PutObject', resource: 'arn:aws:s3:::b/k' },
      { action: 's3:GetObjectVersion', resource: 'arn:aws:s3:::b/src/x.png' },
    ]);
    expect(request('GET', '/b', { 'list-type': '2', prefix: 'catalogue/' })).toEqual([
      { action: 's3:ListBucket', resource: 'arn:aws:s3:::b', context: { 's3:prefix': 'catalogue/' } },
    ]);
    expect(request('PUT', '/b', { notification: '' })).toEqual([
      { action: 's3:PutBucketNotification', resource: 'arn:aws:s3:::b' },
    ]);
  });

  it('finds the access key of a signed header or a presigned URL', () => {
    expect(
      accessKeyIdOf(
        'AWS4-HMAC-SHA256 Credential=LOOKALIKEEMBED/20261130/us-east-1/s3/aws4_request, SignedHeaders=host',
      ),
    ).toBe('LOOKALIKEEMBED');
    expect(accessKeyIdOf(undefined, 'LOOKALIKERECOMMEND/20261130/us-east-1/s3/aws4_request')).toBe(
      'LOOKALIKERECOMMEND',
    );
    expect(accessKeyIdOf(undefined)).toBeUndefined();
  });

  it('matches IAM wildcards', () => {
    expect(wildcardMatch('arn:aws:s3:::b/index/*', 'arn:aws:s3:::b/index/m/latest.json')).toBe(true);
    expect(wildcardMatch('arn:aws:s3:::b/index/*', 'arn:aws:s3:::b/catalogue/x')).toBe(false);
    expect(wildcardMatch('dynamodb:Get?tem', 'dynamodb:GetItem')).toBe(true);
  });
});

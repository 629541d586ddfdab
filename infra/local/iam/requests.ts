/**
 * What IAM evaluates for a DynamoDB or S3 request, as AWS documents it per operation: the action or
 * actions, the resource ARN and the condition keys that apply.
 */
import { LOCAL_REGION } from '../aws-env';
import type { AwsAuthorization } from './iam-twin';
import { LOCAL_ACCOUNT_ID } from './iam-twin';

/** The access key id a request was signed with (SigV4 header or presigned query), if any. */
export function accessKeyIdOf(
  authorization: string | undefined,
  credentialParameter?: string,
): string | undefined {
  const fromHeader = authorization?.match(/Credential=([^/,\s]+)\//)?.[1];
  if (fromHeader) return fromHeader;
  // SigV2-style headers ("AWS AKID:signature") are still accepted by the S3 stand-in.
  const v2 = authorization?.match(/^AWS ([^:\s]+):/)?.[1];
  return v2 ?? credentialParameter?.split('/')[0];
}

const tableArn = (name: string, region: string) =>
  name.startsWith('arn:') ? name : `arn:aws:dynamodb:${region}:${LOCAL_ACCOUNT_ID}:table/${name}`;

type Json = Record<string, unknown>;

/** A DynamoDB JSON request (`X-Amz-Target: DynamoDB_20120810.<Operation>`) as IAM sees it. */
export function dynamoDbAuthorizations(
  target: string | undefined,
  body: Json,
  region = LOCAL_REGION,
): AwsAuthorization[] {
  const operation = target?.split('.')[1] ?? 'Unknown';
  const table = (name: unknown, index?: unknown) =>
    `${tableArn(String(name), region)}${typeof index === 'string' ? `/index/${index}` : ''}`;
  switch (operation) {
    case 'BatchGetItem':
    case 'BatchWriteItem':
      return Object.keys((body.RequestItems as Json) ?? {}).map((name) => ({
        action: `dynamodb:${operation}`,
        resource: table(name),
      }));
    case 'TransactWriteItems':
      // IAM has no TransactWriteItems action: each part is authorized as its own item action.
      return ((body.TransactItems as Json[]) ?? []).flatMap((item) => {
        const [[kind, part] = []] = Object.entries(item);
        const action = {
          Put: 'PutItem',
          Update: 'UpdateItem',
          Delete: 'DeleteItem',
          ConditionCheck: 'ConditionCheckItem',
        }[kind ?? ''];
        return action ? [{ action: `dynamodb:${action}`, resource: table((part as Json).TableName) }] : [];
      });
    case 'TransactGetItems':
      return ((body.TransactItems as Json[]) ?? []).map((item) => ({
        action: 'dynamodb:GetItem',
        resource: table((item.Get as Json | undefined)?.TableName),
      }));
    case 'ListTables':
    case 'DescribeLimits':
    case 'DescribeEndpoints':
      return [{ action: `dynamodb:${operation}`, resource: '*' }];
    default:
      return [
        {
          action: `dynamodb:${operation}`,
          resource:
            body.TableName === undefined
              ? String(body.ResourceArn ?? '*')
              : table(
                  body.TableName,
                  operation === 'Query' || operation === 'Scan' ? body.IndexName : undefined,
                ),
        },
      ];
  }
}

export interface S3RequestShape {
  readonly method: string;
  /** The raw (still percent-encoded) path of a path-style request: `/bucket/key`. */
  readonly path: string;
  readonly query: Readonly<Record<string, string | string[] | undefined>>;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface S3Target {
  readonly bucket?: string;
  readonly key?: string;
}

/** The first value of a header or query parameter that may repeat. */
export const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/** Bucket and key of a path-style request. */
export function s3TargetOf(path: string): S3Target {
  const match = /^\/([^/]+)(?:\/(.*))?$/.exec(path);
  if (!match) return {};
  const key = match[2];
  return { bucket: decodeURIComponent(match[1] as string), ...(key ? { key: decodeURIComponent(key) } : {}) };
}

/** Bucket sub-resources that name their own action, e.g. `?notification` -> s3:PutBucketNotification. */
const BUCKET_SUBRESOURCES: Record<string, string> = {
  acl: 'Acl',
  cors: 'CORS',
  lifecycle: 'LifecycleConfiguration',
  location: 'Location',
  logging: 'Logging',
  notification: 'Notification',
  policy: 'Policy',
  tagging: 'Tagging',
  versioning: 'Versioning',
  website: 'Website',
  encryption: 'Encryption',
};

/** An S3 REST request as IAM sees it (path-style addressing, as the stand-ins use). */
export function s3Authorizations(request: S3RequestShape): AwsAuthorization[] {
  const { bucket, key } = s3TargetOf(request.path);
  const has = (name: string) => request.query[name] !== undefined;
  const method = request.method.toUpperCase();
  if (!bucket) return [{ action: 's3:ListAllMyBuckets', resource: '*' }];
  const bucketArn = `arn:aws:s3:::${bucket}`;
  if (key === undefined) {
    const sub = Object.keys(BUCKET_SUBRESOURCES).find(has);
    if (sub) {
      const verb = method === 'GET' ? 'Get' : method === 'DELETE' ? 'Delete' : 'Put';
      const name = sub === 'location' ? 'GetBucketLocation' : `${verb}Bucket${BUCKET_SUBRESOURCES[sub]}`;
      return [{ action: `s3:${name}`, resource: bucketArn }];
    }
    if (method === 'POST' && has('delete')) {
      // DeleteObjects: authorized per key as s3:DeleteObject; the keys are in the body, so the
      // twin asks for the permission on every key of the bucket.
      return [{ action: 's3:DeleteObject', resource: `${bucketArn}/*` }];
    }
    if (method === 'GET' || method === 'HEAD') {
      if (has('versions'))
        return [{ action: 's3:ListBucketVersions', resource: bucketArn, context: listContext(request) }];
      if (has('uploads')) return [{ action: 's3:ListBucketMultipartUploads', resource: bucketArn }];
      return [{ action: 's3:ListBucket', resource: bucketArn, context: listContext(request) }];
    }
    if (method === 'PUT') return [{ action: 's3:CreateBucket', resource: bucketArn }];
    if (method === 'DELETE') return [{ action: 's3:DeleteBucket', resource: bucketArn }];
    return [{ action: 's3:Unknown', resource: bucketArn }];
  }
  const objectArn = `${bucketArn}/${key}`;
  const versioned = has('versionId');
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (has('uploadId')) return [{ action: 's3:ListMultipartUploadParts', resource: objectArn }];
      if (has('acl'))
        return [{ action: versioned ? 's3:GetObjectVersionAcl' : 's3:GetObjectAcl', resource: objectArn }];
      if (has('tagging'))
        return [
          { action: versioned ? 's3:GetObjectVersionTagging' : 's3:GetObjectTagging', resource: objectArn },
        ];
      return [{ action: versioned ? 's3:GetObjectVersion' : 's3:GetObject', resource: objectArn }];
    case 'PUT': {
      if (has('acl')) return [{ action: 's3:PutObjectAcl', resource: objectArn }];
      if (has('tagging')) return [{ action: 's3:PutObjectTagging', resource: objectArn }];
      const copySource = first(request.headers['x-amz-copy-source']);
      if (copySource && !has('uploadId'))
        return [{ action: 's3:PutObject', resource: objectArn }, copySourceRead(copySource)];
      return [{ action: 's3:PutObject', resource: objectArn }];
    }
    case 'POST':
      return [{ action: 's3:PutObject', resource: objectArn }];
    case 'DELETE':
      if (has('uploadId')) return [{ action: 's3:AbortMultipartUpload', resource: objectArn }];
      return [{ action: versioned ? 's3:DeleteObjectVersion' : 's3:DeleteObject', resource: objectArn }];
    default:
      return [{ action: 's3:Unknown', resource: objectArn }];
  }
}

function listContext(request: S3RequestShape): Record<string, string> {
  const context: Record<string, string> = {};
  const prefix = first(request.query.prefix);
  if (prefix !== undefined) context['s3:prefix'] = prefix;
  const delimiter = first(request.query.delimiter);
  if (delimiter !== undefined) context['s3:delimiter'] = delimiter;
  return context;
}

/** A copy reads its source: `x-amz-copy-source: /bucket/key[?versionId=v]` (URL-encoded). */
function copySourceRead(copySource: string): AwsAuthorization {
  const [path = '', query = ''] = copySource.split('?');
  const { bucket, key } = s3TargetOf(path.startsWith('/') ? path : `/${path}`);
  const versioned = new URLSearchParams(query).has('versionId');
  return {
    action: versioned ? 's3:GetObjectVersion' : 's3:GetObject',
    resource: `arn:aws:s3:::${bucket}/${key ?? ''}`,
  };
}

/**
 * When a read finds no object, S3 answers 404 only to a caller that may list the bucket at that key
 * (ListBucket, evaluated with the key as `s3:prefix`); anyone else gets 403, so that a caller who may
 * not list cannot learn which keys exist.
 */
export function missingObjectListCheck(bucket: string, key: string): AwsAuthorization {
  return { action: 's3:ListBucket', resource: `arn:aws:s3:::${bucket}`, context: { 's3:prefix': key } };
}

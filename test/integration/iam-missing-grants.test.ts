/**
 * The twin refuses what AWS refuses: with the s3:ListBucket grants removed from the constructs, a
 * missing key answers 403 AccessDenied instead of 404, and the paths that read keys which may be
 * missing fail as they would after `cdk deploy` (the bug this grant fixes).
 */
import { readFileSync } from 'node:fs';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { type CfnPolicy, Policy } from 'aws-cdk-lib/aws-iam';
import { readPointer } from '../../functions/adapters/s3/snapshot-index';
import { s3Client } from '../../functions/platform/clients';
import { createLocalS3Client } from '../../infra/local/aws-env';
import { runAsFunction } from '../../infra/local/iam/function-identity';
import { type StackRoles, synthStackRoles } from '../../infra/local/iam/stack-roles';
import type { LookalikeStack } from '../../infra/lookalike-stack';
import { emojiImages } from '../support/images';
import { useLocalApp, versionRemovedMessage } from '../support/local-app';

/** Removes one action from every statement of the role policies of these functions, in the construct tree. */
function withoutGrant(
  action: string,
  functions: (stack: LookalikeStack) => Array<{ role?: { node: { tryFindChild(id: string): unknown } } }>,
) {
  return (stack: LookalikeStack) => {
    for (const fn of functions(stack)) {
      const policy = fn.role?.node.tryFindChild('DefaultPolicy');
      if (!(policy instanceof Policy)) throw new Error('no default policy');
      const cfn = policy.node.defaultChild as CfnPolicy;
      const document = stack.resolve(cfn.policyDocument) as {
        Statement: Array<{ Action: string | string[] }>;
      };
      const without = document.Statement.flatMap((statement) => {
        const actions = [statement.Action].flat().filter((a) => a !== action);
        return actions.length ? [{ ...statement, Action: actions }] : [];
      });
      cfn.policyDocument = { ...document, Statement: without };
    }
  };
}

let roles: StackRoles;
beforeAll(async () => {
  roles = await synthStackRoles({
    mutate: withoutGrant('s3:ListBucket', (stack) => [
      stack.api.recommendFunction.function,
      stack.api.compactFunction.function,
      stack.ingestion.embedFunction.function,
      stack.tracking.trackFunction.function,
      stack.reembedding.function.function,
      stack.modelGuard.function.function,
      stack.learnedSimilarity.trainFunction.function,
    ]),
  });
}, 120_000);

const local = useLocalApp({
  get stackRoles() {
    return roles;
  },
});

describe('roles without s3:ListBucket', () => {
  it('the template really lost the grant', () => {
    const listing = roles.functions.flatMap((fn) =>
      JSON.stringify(fn.policies).includes('s3:ListBucket') ? [fn.functionName] : [],
    );
    expect(listing).toEqual([]);
  });

  it('reading the missing snapshot pointer as the recommend role answers 403 AccessDenied, not 404', async () => {
    const refusal = await runAsFunction('recommend', () =>
      readPointer(s3Client(), local.app.stack.bucket, local.app.manifest.modelId).then(
        () => undefined,
        (error: { name?: string; $metadata?: { httpStatusCode?: number } }) => error,
      ),
    );
    expect(refusal).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    // As the operator (who may list), the same read is a 404: "no snapshot yet".
    await expect(
      readPointer(s3Client(), local.app.stack.bucket, local.app.manifest.modelId),
    ).resolves.toBeUndefined();
  });

  it("the model guard's read of a missing registry gets 403, so the deploy fails rather than pass blind", async () => {
    const { S3SpacesRegistry } = await import('../../functions/adapters/s3/spaces-registry');
    const refusal = await runAsFunction('model-guard', () =>
      new S3SpacesRegistry(s3Client(), local.app.stack.bucket).read().then(
        () => undefined,
        (error: { name?: string; $metadata?: { httpStatusCode?: number } }) => error,
      ),
    );
    expect(refusal).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
  });

  it('personal recommendations answer 500 and the compactor fails, as after a fresh deploy', async () => {
    const response = await local.call(
      { method: 'GET', path: '/users/someone/recommendations' },
      { user: 'someone' },
    );
    expect(response.status).toBe(500);
    await expect(local.app.compact()).rejects.toMatchObject({ name: 'AccessDenied' });
    const denied = local.app.iam.denials().map((call) => `${call.functionName} ${call.action}`);
    expect(denied).toEqual(expect.arrayContaining(['recommend s3:ListBucket', 'compact s3:ListBucket']));
  });

  it("a versioned delete's HEAD gets 403, so the notification is retried and dead-lettered", async () => {
    const [image] = emojiImages('google');
    await local.upload('catalogue/x/versioned.png', readFileSync(image?.file as string));
    await local.app.queue.drain({ timeoutMs: 60_000 });
    await createLocalS3Client(local.app.stack.endpoints.s3).send(
      new DeleteObjectCommand({ Bucket: local.app.stack.bucket, Key: 'catalogue/x/versioned.png' }),
    );
    await local.app.queue.drain({ timeoutMs: 60_000 });
    local.app.queue.send(
      versionRemovedMessage(local.app.stack.bucket, 'catalogue/x/versioned.png', 'removed-for-good'),
    );
    await local.app.queue.drain({ timeoutMs: 60_000 });
    // The removal is dead-lettered (its HEAD is a 403); so is the upload, whose item is written but
    // whose read of the spaces registry (missing: a 403 without the grant) fails every try.
    const dead = local.app.queue.dlq().map((letter) => JSON.parse(letter.body).Records[0].eventName);
    expect(dead.sort()).toEqual(['ObjectCreated:Put', 'ObjectRemoved:Delete']);
    expect(local.app.iam.denials().map((call) => `${call.functionName} ${call.action}`)).toContain(
      'embed s3:ListBucket',
    );
  });
});

/**
 * The local twin enforces the IAM of the stack `cdk deploy` creates. A full run of every path
 * (upload, overwrite, metadata copy, delete, versioned delete, embed, compact, events, import, lists,
 * a refold on read, similar, search, item, erase (with the user's impressions), impression counts, backfill, a re-embedding batch, the deploy-time
 * model guard, a learned projection promoted and rolled back, merchandising rules managed and read) must be granted call by call, and every grant in the
 * template must be used by that run or carry a stated reason. The recommend role reads the rules and cannot change them.
 */
import { readFileSync } from 'node:fs';
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { CatalogueRepository } from '../../functions/adapters/dynamodb/item-store';
import { RuleCache, RuleStore } from '../../functions/adapters/dynamodb/rule-store';
import { S3ObjectStore } from '../../functions/adapters/s3/object-store';
import { promoteProjection, rollbackProjection } from '../../functions/app/learned-space';
import { MODEL_GUARD_PROPERTY, MODEL_GUARD_RESOURCE_TYPE } from '../../functions/contract/model-guard';
import type { RuleDefinition } from '../../functions/contract/rules';
import { reconciledSequencer } from '../../functions/domain/catalogue-key';
import { fitProjection } from '../../functions/domain/learned-similarity';
import { Embedder } from '../../functions/embedding/embedder';
import { dynamoClient, s3Client } from '../../functions/platform/clients';
import { createPromotionDeps } from '../../functions/wiring/learned-space';
import { backfill, s3Listing } from '../../infra/cli/backfill';
import { createLocalDynamoDbClient, createLocalS3Client } from '../../infra/local/aws-env';
import { runAsFunction } from '../../infra/local/iam/function-identity';
import type { UnusedGrant } from '../../infra/local/iam/iam-twin';
import { catalogueJpeg, emojiImages } from '../support/images';
import { itemVectors, postJson, useLocalApp, versionRemovedMessage } from '../support/local-app';

// SPACE_REFRESH_MS=0: the functions see the learned projection promoted below at their next call.
const local = useLocalApp({ environment: { INDEX_REFRESH_MS: '0', SPACE_REFRESH_MS: '0' } });

/**
 * Grants that function code never uses, because AWS uses them on the role's behalf; a grant missing
 * from this list and unused by the run fails the test (remove it from the construct instead).
 */
const USED_BY_AWS_FOR_THE_ROLE: Array<{ action: RegExp; reason: string }> = [
  {
    action: /^xray:/,
    reason: 'the Lambda runtime sends trace segments for active tracing; there is no X-Ray locally',
  },
  {
    action: /^sqs:(ReceiveMessage|ChangeMessageVisibility|GetQueueUrl|DeleteMessage|GetQueueAttributes)$/,
    reason: "the SQS event source mapping polls the uploads queue with the embed function's role",
  },
  {
    action: /^sqs:(SendMessage|GetQueueAttributes|GetQueueUrl)$/,
    reason:
      "the stream event source mapping sends failed batches to the compaction DLQ with the compact function's role",
  },
  {
    action: /^dynamodb:(DescribeStream|GetRecords|GetShardIterator|ListStreams)$/,
    reason:
      "the DynamoDB stream event source mapping reads the items table's stream with the compact function's role",
  },
];

const images = emojiImages('google').slice(0, 9);
const rule: RuleDefinition = {
  name: 'iam boost',
  kind: 'boost',
  placements: ['*'],
  condition: { tags: ['sale'] },
  factor: 2,
};
const rulesTable = () => local.app.stack.tables.Rules as string;
const key = (i: number) => `catalogue/cat-${i % 3}/iam-${i}.png`;
const s3 = () => createLocalS3Client(local.app.stack.endpoints.s3);

async function uploadAll(): Promise<void> {
  for (const [i, image] of images.entries()) {
    await local.upload(key(i), readFileSync(image.file), { title: image.name, price: String(10 + i) });
  }
  await local.app.queue.drain({ timeoutMs: 120_000 });
}

describe('the stack as deployed, with IAM enforced', () => {
  it('grants every call of a full run, and every grant is used or explained', async () => {
    await uploadAll();
    // The deploy-time model guard, as CloudFormation runs it on the next deploy: a sample of the
    // Items table (in the active space) and the spaces registry, missing (a 404 with ListBucket on its key).
    const { handler: modelGuard } = await import('../../functions/handlers/model-guard');
    const modelId = local.app.manifest.modelId;
    const guarded = await runAsFunction('model-guard', () =>
      modelGuard({
        RequestType: 'Create',
        ServiceToken: 'provider',
        ResponseURL: 'https://cloudformation-custom-resource-response.example/',
        StackId: 'Lookalike',
        RequestId: 'iam-guard',
        LogicalResourceId: 'ModelGuard',
        ResourceType: MODEL_GUARD_RESOURCE_TYPE,
        ResourceProperties: {
          ServiceToken: 'provider',
          [MODEL_GUARD_PROPERTY.activeModelId]: modelId,
          [MODEL_GUARD_PROPERTY.deployedModelIds]: [modelId],
          [MODEL_GUARD_PROPERTY.catalogueBucket]: local.app.stack.bucket,
          [MODEL_GUARD_PROPERTY.itemsTable]: local.app.stack.tables.Items as string,
        },
      }),
    );
    expect(guarded.Data).toEqual({ Outcome: 'covered', ActiveModelId: modelId });
    // Before any compaction the snapshot pointer is missing: the 404 needs ListBucket on index/.
    expect(
      (await local.call({ method: 'GET', path: '/users/newcomer/recommendations?limit=3' })).status,
    ).toBe(200);
    await local.app.compact();

    // Overwrite, metadata-only copy and delete, each through ingestion; then two more snapshots, so the
    // compactor also deletes the snapshot before the previous one.
    await local.upload(key(0), await catalogueJpeg(images[8]?.file as string, 400), { title: 'replaced' });
    await s3().send(
      new CopyObjectCommand({
        Bucket: local.app.stack.bucket,
        Key: key(1),
        CopySource: `${local.app.stack.bucket}/${key(1)}`,
        Metadata: { title: 'retitled' },
        MetadataDirective: 'REPLACE',
      }),
    );
    await local.app.queue.drain({ timeoutMs: 60_000 });
    await local.app.compact();
    await s3().send(new DeleteObjectCommand({ Bucket: local.app.stack.bucket, Key: key(2) }));
    await local.app.queue.drain({ timeoutMs: 60_000 });
    await local.app.compact();

    // A versioned delete that leaves no current version: the embed function's HEAD finds nothing.
    local.app.queue.send(versionRemovedMessage(local.app.stack.bucket, key(3), 'gone-for-good'));
    await s3().send(new DeleteObjectCommand({ Bucket: local.app.stack.bucket, Key: key(3) }));
    await local.app.queue.drain({ timeoutMs: 60_000 });
    expect(local.app.queue.dlq()).toEqual([]);
    const versionedDelete = await local.call({ method: 'GET', path: '/items/iam-3' });
    expect(versionedDelete.status).toBe(404);

    const user = 'iam-user';
    const events = ['view', 'click', 'like', 'add_to_cart', 'purchase', 'dislike', 'hide'].map((type, i) => ({
      eventId: `iam-${i}`,
      userId: user,
      itemId: `iam-${4 + (i % 5)}`,
      type,
    }));
    expect((await local.call(postJson('/events', { events }), { user })).status).toBe(202);
    // The same batch again: every event is a duplicate, read back from the events table.
    expect((await local.call(postJson('/events', { events }), { user })).status).toBe(202);
    const imported = await local.call(
      postJson('/events/import', {
        events: [
          {
            eventId: 'imp-1',
            userId: 'imported-user',
            itemId: 'iam-5',
            type: 'like',
            timestamp: Date.now() - 86_400_000,
          },
        ],
      }),
    );
    expect(imported.status).toBe(202);

    // A profile stored before spaces were recorded (no space): recommend refolds it on read from the
    // user's raw events (a Query on Events) and the items' vectors (BatchGetItem on Items).
    const operator = createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb);
    await operator.send(
      new UpdateItemCommand({
        TableName: local.app.stack.tables.Profiles,
        Key: { userId: { S: user } },
        UpdateExpression: 'REMOVE #space',
        ExpressionAttributeNames: { '#space': 'space' },
      }),
    );
    operator.destroy();

    const lists = await Promise.all([
      local.call({ method: 'GET', path: `/users/${user}/recommendations?limit=4&exclude=seen` }, { user }),
      local.call({ method: 'GET', path: '/items/iam-4/similar?limit=3' }),
      local.call({ method: 'GET', path: '/items/iam-4' }),
      local.call({
        method: 'POST',
        path: '/search?limit=3',
        headers: { 'content-type': 'image/jpeg' },
        body: await catalogueJpeg(images[4]?.file as string, 300),
      }),
    ]);
    expect(lists.map((response) => response.status)).toEqual([200, 200, 200, 200]);
    // The next page of a list reads its impression row back (GetItem on Impressions).
    const similarPage = lists[1]?.json<{ nextToken?: string }>().nextToken;
    expect(similarPage).toBeDefined();
    const secondPage = await local.call({
      method: 'GET',
      path: `/items/iam-4/similar?limit=3&nextToken=${encodeURIComponent(similarPage as string)}`,
    });
    expect(secondPage.status).toBe(200);
    // Image URLs are presigned with the recommend function's credentials and fetched by the browser.
    const [firstItem] = lists[0]?.json<{ items: Array<{ imageUrl: string }> }>().items ?? [];
    expect((await fetch(firstItem?.imageUrl as string)).status).toBe(200);
    // The lists' impressions counted first, so the user has attribution cells (issue 25) for the
    // erasure to delete (track's BatchWriteItem on Stats), whatever the stream consumer's pace.
    await local.app.impressionsStream.drain();
    expect((await local.call({ method: 'DELETE', path: `/users/${user}` }, { user })).status).toBe(200);

    // The start-up catch-up (and `npm run backfill`) runs with the embed function's role locally.
    const embedder = await Embedder.load();
    const summary = await runAsFunction('embed', () =>
      backfill(
        {
          repository: new CatalogueRepository(dynamoClient(), local.app.stack.tables.Items as string),
          objects: new S3ObjectStore(s3Client(), embedder.limits.maxBytes),
          embedders: [embedder],
          listing: s3Listing(s3Client()),
        },
        { bucket: local.app.stack.bucket },
      ),
    );
    expect(summary.failed).toBe(0);

    // A batch of the distributed re-embedding, with the reembed function's role: an image put with
    // no notification (no item yet), an item that misses the active model's vector (it was folded
    // with a retired model), and a key deleted since the listing.
    const fresh = 'catalogue/cat-0/iam-unnotified.png';
    await local.app.withoutNotifications(() => local.upload(fresh, readFileSync(images[5]?.file as string)));
    const operatorItems = new CatalogueRepository(
      createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb),
      local.app.stack.tables.Items as string,
    );
    const folded = await operatorItems.get('iam-6');
    if (folded?.status !== 'ready') throw new Error('iam-6 should be ready');
    const active = local.app.manifest.modelId;
    const { [active]: activeVector, ...others } = folded.vectors;
    expect(
      await operatorItems.putIfNewer(
        {
          ...folded,
          vectors: { ...others, 'retired-model': activeVector as Float32Array },
          source: { ...folded.source, sequencer: reconciledSequencer(folded.source.sequencer, Date.now()) },
        },
        Date.now(),
      ),
    ).toBe(true);
    const listing = await s3().send(
      new ListObjectsV2Command({ Bucket: local.app.stack.bucket, Prefix: 'catalogue/' }),
    );
    const batch = await local.app.reembed({
      Items: [
        ...(listing.Contents ?? []).map((object) => ({
          Key: object.Key as string,
          Etag: object.ETag as string,
          Size: object.Size as number,
          LastModified: Math.floor((object.LastModified as Date).getTime() / 1000),
        })),
        { Key: 'catalogue/cat-0/iam-deleted-since.png', Etag: '"0"', Size: 1, LastModified: 1 },
      ],
      BatchInput: { models: [], inventory: false },
    });
    expect(batch.counts).toMatchObject({ embedded: 1, added_vectors: 1, failed: 0 });

    // The learned-similarity trainer, as an operator runs it: it scans the events, the profiles and
    // the items, and stores its report (nine images and a few users are too little to promote).
    const training = await local.app.train('manual');
    expect(training).toMatchObject({
      outcome: 'refused',
      reportKey: expect.stringMatching(/^index\/learned\/reports\//),
    });
    expect(training.gate.data.events).toBeGreaterThan(0);

    // A learned projection promoted with the trainer function's role, as a training run promotes what
    // the gate passes: embed reads the registry and the artefact for a new upload, recommend serves
    // the projected space, track folds in it, the compactor snapshots it; then the operator rolls it
    // back (`npm run rollout -- rollback-learned`) and the trainer promotes it again, which replaces
    // the space's snapshots (the one two generations old is deleted).
    const base = { modelId, dim: local.app.manifest.output.dim };
    const asTrainer = createPromotionDeps({
      dynamo: dynamoClient(),
      s3: s3Client(),
      itemsTable: local.app.stack.tables.Items as string,
      bucket: local.app.stack.bucket,
      settleMs: 0,
    });
    const promotion = createPromotionDeps({
      dynamo: createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb),
      s3: s3(),
      itemsTable: local.app.stack.tables.Items as string,
      bucket: local.app.stack.bucket,
      settleMs: 0,
    });
    const projection = fitProjection({
      baseModelId: modelId,
      version: 'iam',
      dim: base.dim,
      events: [4, 5, 6, 7].map((i) => ({ userId: 'iam-trainer', itemId: `iam-${i}`, type: 'like', at: i })),
      vectors: await itemVectors(local.app, modelId, { readyOnly: true }),
      trainedAt: Date.now(),
    });
    const { space } = await runAsFunction('train-similarity', () =>
      promoteProjection(asTrainer, { base, projection, automatic: true }),
    );
    await local.upload('catalogue/cat-0/iam-learned.png', readFileSync(images[7]?.file as string));
    await local.app.queue.drain({ timeoutMs: 60_000 });
    expect((await itemVectors(local.app, space)).has('iam-learned')).toBe(true);
    // An item the re-embedding creates is in the projected space too: reembed reads the registry and
    // the artefact, as embed does.
    const unnotified = 'catalogue/cat-1/iam-reembedded.png';
    await local.app.withoutNotifications(() =>
      local.upload(unnotified, readFileSync(images[8]?.file as string)),
    );
    const head = await s3().send(new HeadObjectCommand({ Bucket: local.app.stack.bucket, Key: unnotified }));
    const reembedded = await local.app.reembed({
      Items: [
        {
          Key: unnotified,
          Etag: head.ETag as string,
          Size: head.ContentLength as number,
          LastModified: Math.floor((head.LastModified as Date).getTime() / 1000),
        },
      ],
      BatchInput: { models: [], inventory: false },
    });
    expect(reembedded.counts).toMatchObject({ embedded: 1, failed: 0 });
    expect((await itemVectors(local.app, space)).has('iam-reembedded')).toBe(true);
    const learnedList = await local.call(
      { method: 'GET', path: '/users/imported-user/recommendations?limit=3' },
      { user: 'imported-user' },
    );
    expect(learnedList.json<{ modelId: string }>().modelId).toBe(space);
    const learnedEvent = { eventId: 'imp-2', userId: 'imported-user', itemId: 'iam-learned', type: 'like' };
    expect(
      (await local.call(postJson('/events', { events: [learnedEvent] }), { user: 'imported-user' })).status,
    ).toBe(202);
    await local.app.compact();
    await rollbackProjection(promotion, base);
    const again = await runAsFunction('train-similarity', () =>
      promoteProjection(asTrainer, { base, projection }),
    );
    expect(again).toMatchObject({ space, artefactWritten: false });

    // Attribution (issue 25): a click naming the user's list is joined to it by the Events stream's
    // consumer (BatchGetItem on Impressions, the user's cell read and put on Stats); an admin reads
    // the daily rows (a Query on Stats, track).
    const named = learnedList.json<{ recommendationId: string; items: Array<{ itemId: string }> }>();
    const attributed = {
      eventId: 'iam-attributed',
      userId: 'imported-user',
      itemId: named?.items[0]?.itemId,
      type: 'click',
      context: { recommendationId: named?.recommendationId, position: 1 },
    };
    expect(
      (await local.call(postJson('/events', { events: [attributed] }), { user: 'imported-user' })).status,
    ).toBe(202);
    expect((await local.call({ method: 'GET', path: '/admin/metrics' })).status).toBe(200);

    // Merchandising rules: an admin manages them through /rules, served by track (a Query, a GetItem,
    // transactions of a rule's Put, Update or Delete with the set row's Update); a stale version's
    // refusal reads the rule back. Recommend's rule cache reads every rule (a Query), then only the
    // set's version (a GetItem) while it has not moved.
    const ruleJson = (body: unknown) => ({
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const created = await local.call(postJson('/rules', rule));
    expect(created.status).toBe(201);
    const { ruleId } = created.json<{ ruleId: string }>();
    const ruleChanges = [
      await local.call({ method: 'GET', path: '/rules' }),
      await local.call({ method: 'GET', path: `/rules/${ruleId}` }),
      await local.call({ method: 'PUT', path: `/rules/${ruleId}`, ...ruleJson({ ...rule, version: 1 }) }),
      await local.call({ method: 'PUT', path: `/rules/${ruleId}`, ...ruleJson({ ...rule, version: 1 }) }),
      await local.call({ method: 'DELETE', path: `/rules/${ruleId}?version=2` }),
      await local.call(postJson('/rules', rule)),
    ];
    expect(ruleChanges.map((response) => response.status)).toEqual([200, 200, 200, 409, 200, 201]);
    const cache = new RuleCache(new RuleStore(dynamoClient(), rulesTable()), { ttlMs: 0 });
    const served = await runAsFunction('recommend', async () => [await cache.rules(), await cache.rules()]);
    expect(served.map((rules) => rules.map((r) => r.name))).toEqual([['iam boost'], ['iam boost']]);

    // The co-engagement function consumes the Events stream the commits wrote, and the impression
    // counts function the Impressions stream the lists wrote.
    await local.app.eventsStream.drain();
    await local.app.impressionsStream.drain();
    expect(local.app.iam.denials()).toEqual([]);
    const unexplained = local.app.iam
      .unusedGrants()
      .filter(
        (grant: UnusedGrant) => !USED_BY_AWS_FOR_THE_ROLE.some((known) => known.action.test(grant.action)),
      );
    expect(unexplained).toEqual([]);
    // Every function made calls under its own role.
    const callers = new Set(local.app.iam.calls().map((call) => call.functionName));
    expect([...callers].sort()).toEqual([
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
  }, 300_000);

  it('lets the recommend role read the merchandising rules and change none of them', async () => {
    const documents = DynamoDBDocumentClient.from(dynamoClient());
    const TableName = rulesTable();
    const setRow = { pk: 'rules', sk: '#set' };
    const before = await documents.send(new GetCommand({ TableName, Key: setRow }));
    expect(before.Item?.version).toEqual(expect.any(Number));

    const asRecommend = <T>(work: () => Promise<T>) =>
      runAsFunction('recommend', work).then(
        () => 'allowed',
        (error: { name?: string }) => error.name,
      );
    const store = new RuleStore(dynamoClient(), TableName);
    expect(await asRecommend(() => store.read())).toBe('allowed');
    expect(await asRecommend(() => store.version())).toBe('allowed');
    const refusals = [
      await asRecommend(() =>
        documents.send(
          new PutCommand({ TableName, Item: { pk: 'rules', sk: 'rule#forged', definition: '{}' } }),
        ),
      ),
      await asRecommend(() =>
        documents.send(
          new UpdateCommand({
            TableName,
            Key: setRow,
            UpdateExpression: 'ADD version :one',
            ExpressionAttributeValues: { ':one': 1 },
          }),
        ),
      ),
      await asRecommend(() => documents.send(new DeleteCommand({ TableName, Key: setRow }))),
      // The store's own writes: a transaction is authorized part by part.
      await asRecommend(() => store.create(rule, Date.now())),
    ];
    expect(refusals).toEqual(Array(4).fill('AccessDeniedException'));
    const denied = local.app.iam
      .denials()
      .filter((call) => call.functionName === 'recommend')
      .map((call) => call.action);
    expect([...new Set(denied)].sort()).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
    // Nothing was written.
    expect((await documents.send(new GetCommand({ TableName, Key: setRow }))).Item).toEqual(before.Item);
    expect(
      (await documents.send(new GetCommand({ TableName, Key: { pk: 'rules', sk: 'rule#forged' } }))).Item,
    ).toBeUndefined();
  });
});

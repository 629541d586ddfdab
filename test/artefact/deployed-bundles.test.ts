/**
 * The artefact tier: what `cdk deploy` ships is what runs. Each function's bundled asset from the
 * synthesized cloud assembly runs in a Node process of its own, laid out as Lambda lays it out (task
 * root, layers under an /opt of its own, no node_modules of the repository reachable), with the
 * environment of the template and its own credentials, against the local stand-ins with the stack's
 * IAM enforced: upload -> embed -> compact -> recommendations, similar, search, events, erase.
 */
import { readFileSync } from 'node:fs';
import { MODEL_GUARD_PROPERTY, MODEL_GUARD_RESOURCE_TYPE } from '../../functions/contract/model-guard';
import { functionArtefacts } from '../../infra/local/lambda/artefacts';
import { catalogueJpeg, emojiImages } from '../support/images';
import { postJson, useLocalApp } from '../support/local-app';
import { synthesize } from '../support/synth';

const { json, outdir } = synthesize();
const artefacts = functionArtefacts(json as Parameters<typeof functionArtefacts>[0], outdir);
const local = useLocalApp({ artefacts, environment: { INDEX_REFRESH_MS: '0' } });

const byCategory = new Map<string, ReturnType<typeof emojiImages>>();
for (const image of emojiImages('google')) {
  if (image.subcategory !== 'heart' && image.subcategory !== 'transport-ground') continue;
  byCategory.set(image.subcategory, [...(byCategory.get(image.subcategory) ?? []), image]);
}
const catalogue = [...byCategory.values()].flatMap((images) => images.slice(0, 6));
const idOf = (i: number) => `bundle-${i}`;

type List = { strategy: string; items: Array<{ itemId: string; category: string; imageUrl: string }> };

describe('the deployed bundles, run as Lambda runs them', () => {
  it('load in their own processes with their layers, and report their cold init', () => {
    const processes = local.app.processes ?? [];
    expect(processes.map((p) => p.functionName).sort()).toEqual([
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
    for (const p of processes) {
      // The runtime's major: nodejs24.x.
      expect(p.node).toMatch(/^v24\./);
      console.log(`cold init ${p.functionName}: ${p.initMs.toFixed(0)} ms on Node ${p.node}`);
    }
  });

  it('ingest uploads, compact, and answer every route with IAM enforced', async () => {
    for (const [i, image] of catalogue.entries()) {
      await local.upload(`catalogue/${image.subcategory}/${idOf(i)}.png`, readFileSync(image.file), {
        title: image.name,
      });
    }
    await local.app.queue.drain({ timeoutMs: 120_000 });
    expect(local.app.queue.dlq()).toEqual([]);
    expect((await local.call({ method: 'GET', path: `/items/${idOf(0)}` })).json()).toMatchObject({
      status: 'ready',
    });
    await local.app.compact();

    const user = 'bundle-user';
    const hearts = catalogue.flatMap((image, i) => (image.subcategory === 'heart' ? [idOf(i)] : []));
    const events = hearts
      .slice(0, 3)
      .map((itemId, i) => ({ eventId: `b-${i}`, userId: user, itemId, type: 'like' }));
    expect((await local.call(postJson('/events', { events }), { user })).status).toBe(202);

    const personal = await local.call(
      { method: 'GET', path: `/users/${user}/recommendations?limit=3&exclude=seen` },
      { user },
    );
    expect(personal.status).toBe(200);
    const list = personal.json<List>();
    expect(list.strategy).toBe('personal');
    expect(list.items.map((item) => item.category)).toEqual(['heart', 'heart', 'heart']);
    expect((await fetch(list.items[0]?.imageUrl as string)).status).toBe(200);

    const similar = await local.call({ method: 'GET', path: `/items/${hearts[0]}/similar?limit=3` });
    expect(similar.status).toBe(200);
    expect(similar.json<List>().items).toHaveLength(3);
    expect(similar.json<List>().items.map((item) => item.itemId)).not.toContain(hearts[0]);
    const search = await local.call({
      method: 'POST',
      path: '/search?limit=1',
      headers: { 'content-type': 'image/jpeg' },
      body: await catalogueJpeg(catalogue[0]?.file as string, 400),
    });
    expect(search.json<List>().items[0]?.itemId).toBe(idOf(0));

    expect((await local.call({ method: 'DELETE', path: `/users/${user}` }, { user })).status).toBe(200);
    const after = await local.call(
      { method: 'GET', path: `/users/${user}/recommendations?limit=3` },
      { user },
    );
    expect(after.json<List>().strategy).toBe('popular');

    // The co-engagement function consumes the Events stream the commits wrote, and the impression
    // counts function the Impressions stream the lists wrote.
    await local.app.eventsStream.drain();
    await local.app.impressionsStream.drain();
    expect(local.app.iam.denials()).toEqual([]);
    const callers = new Set(local.app.iam.calls().map((call) => call.functionName));
    expect([...callers].sort()).toEqual([
      'co-engagement',
      'compact',
      'embed',
      'impression-counts',
      'recommend',
      'track',
    ]);
  }, 240_000);

  it('trace each invocation and every SDK call to X-Ray, as Lambda with active tracing does', async () => {
    const traces = local.app.traces;
    if (!traces) throw new Error('the artefact tier runs an X-Ray collector');
    // UDP: give the last datagrams a moment to land.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const documents = traces.all();
    const handlers = documents.filter((doc) => doc.name === '## index.handler');
    const services = new Set(handlers.map((doc) => doc.annotations?.Service));
    expect([...services].sort()).toEqual([
      'co-engagement',
      'compact',
      'embed',
      'impression-counts',
      'recommend',
      'track',
    ]);
    expect(handlers.some((doc) => doc.annotations?.ColdStart === true)).toBe(true);
    expect(handlers.every((doc) => typeof doc.end_time === 'number')).toBe(true);

    // SDK calls are subsegments of an invocation's, named after the service, with the operation.
    const handlerIds = new Set(handlers.map((doc) => doc.id));
    const calls = documents.filter((doc) => doc.namespace === 'aws');
    const operations = (service: string) =>
      new Set(calls.filter((doc) => doc.name === service).map((doc) => doc.aws?.operation));
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((doc) => doc.parent_id !== undefined && handlerIds.has(doc.parent_id))).toBe(true);
    expect([...operations('DynamoDB')]).toEqual(
      expect.arrayContaining(['TransactWriteItems', 'GetItem', 'PutItem']),
    );
    expect([...operations('S3')]).toEqual(expect.arrayContaining(['GetObject', 'PutObject']));
    expect(new Set(calls.map((doc) => doc.trace_id)).size).toBeGreaterThan(1);
  });

  it('run the model guard as CloudFormation does on a deploy: it passes the catalogue in its space', async () => {
    const guard = (local.app.processes ?? []).find((p) => p.functionName === 'model-guard');
    if (!guard) throw new Error('the stack ships no model-guard function');
    const properties = (resource: string) => ({
      ServiceToken: 'provider',
      [MODEL_GUARD_PROPERTY.activeModelId]: resource,
      [MODEL_GUARD_PROPERTY.deployedModelIds]: [resource],
      [MODEL_GUARD_PROPERTY.catalogueBucket]: local.app.stack.bucket,
      [MODEL_GUARD_PROPERTY.itemsTable]: local.app.stack.tables.Items,
    });
    const event = (modelId: string) => ({
      RequestType: 'Update',
      ServiceToken: 'provider',
      ResponseURL: 'https://cloudformation-custom-resource-response.example/',
      StackId: 'Lookalike',
      RequestId: `guard-${modelId}`,
      LogicalResourceId: 'ModelGuard',
      PhysicalResourceId: 'model-guard-ModelGuard',
      ResourceType: MODEL_GUARD_RESOURCE_TYPE,
      ResourceProperties: properties(modelId),
      OldResourceProperties: properties(modelId),
    });
    const modelId = local.app.manifest.modelId;
    await expect(guard.invoke(event(modelId))).resolves.toEqual({
      PhysicalResourceId: 'model-guard-ModelGuard',
      Data: { Outcome: 'covered', ActiveModelId: modelId },
    });
    // Another space, never switched to: the deploy fails with the items' space named.
    await expect(guard.invoke(event('another-model-128'))).rejects.toThrow(`items are in space ${modelId}`);
    expect(local.app.iam.denials()).toEqual([]);
  });

  it('run the learned-similarity trainer as its schedule does: it scans, gates and stores its report', async () => {
    const record = await local.app.train('schedule');
    // A handful of users is too little to learn from: the run says so, and its report is stored.
    expect(record).toMatchObject({
      trigger: 'schedule',
      outcome: 'refused',
      reportKey: expect.stringMatching(/^index\/learned\/reports\//),
    });
    expect(record.gate.reasons.map((reason) => reason.code)).toEqual(['too_little_data']);
    expect(local.app.iam.denials()).toEqual([]);
  });
});

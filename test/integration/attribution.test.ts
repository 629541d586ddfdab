/**
 * Attribution through the local app (issue 25's acceptance): lists served, some of their items
 * clicked, one bought, one event sent twice, one naming another user's list, one an unknown list,
 * and organic events; after the Impressions and Events streams' consumers have run, GET
 * /admin/metrics answers exactly the impressions, clicks, conversions, revenue, unattributed and
 * organic counts the session implies, per placement and source. A stream record delivered again
 * counts once; an erasure deletes the user's cells and leaves the daily sums. Real DynamoDB Local,
 * the real handlers, IAM enforced.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { AttributionCounters } from '../../functions/adapters/dynamodb/attribution-counters';
import { createLocalDynamoDbClient } from '../../infra/local/aws-env';
import { postJson, useLocalApp } from '../support/local-app';
import { seedSyntheticItems } from '../support/synthetic-items';

const local = useLocalApp({ environment: { INDEX_REFRESH_MS: '0' } });
const itemIds = Array.from({ length: 30 }, (_, i) => `attr-item-${i}`);
const priceOf = (itemId: string) => 10 + Number(itemId.slice('attr-item-'.length)) * 2.5;

type List = {
  recommendationId: string;
  placement: string;
  strategy: string;
  items: Array<{ itemId: string; reason: { kind: string } }>;
};
type Counts = { impressions: number; clicks: number; addToCarts: number; purchases: number; revenue: number };
type Group = Counts & {
  placement: string;
  source: string;
  userDays: number;
  clickThroughRate: { value: number | null; low: number | null; high: number | null };
};
type Report = {
  from: string;
  to: string;
  placements: Group[];
  strategies: Array<Group & { strategy: string }>;
  daily: Array<Counts & { day: string; placement: string }>;
  organic: Omit<Counts, 'impressions'>;
  unattributed: Omit<Counts, 'impressions'>;
};

const sourceOf = (kind: string) =>
  kind === 'exploration' ? 'exploration' : kind === 'pinned' || kind === 'promoted' ? kind : 'organic';
const today = () => new Date().toISOString().slice(0, 10);

async function list(path: string, user: string): Promise<List> {
  const response = await local.call({ method: 'GET', path }, { user });
  expect(response.status).toBe(200);
  return response.json<List>();
}

async function post(user: string, events: unknown[]) {
  const response = await local.call(postJson('/events', { events }), { user });
  expect(response.status).toBe(202);
  return response.json<{ accepted: number; duplicate: number; rejected: number }>();
}

async function metrics(query = `from=${today()}&to=${today()}`): Promise<Report> {
  const response = await local.call({ method: 'GET', path: `/admin/metrics?${query}` });
  expect(response.status).toBe(200);
  return response.json<Report>();
}

const expected = new Map<string, Counts & { users: Set<string> }>();
const cell = (placement: string, source: string) => {
  const key = `${placement}#${source}`;
  let counts = expected.get(key);
  if (!counts) {
    counts = { impressions: 0, clicks: 0, addToCarts: 0, purchases: 0, revenue: 0, users: new Set() };
    expected.set(key, counts);
  }
  return counts;
};
const shown = (user: string, served: List) => {
  for (const item of served.items) {
    const counts = cell(served.placement, sourceOf(item.reason.kind));
    counts.impressions++;
    counts.users.add(user);
  }
};
let aliceHome: List;
let aliceProduct: List;
let bobHome: List;

beforeAll(async () => {
  await seedSyntheticItems(local.app, itemIds, 11, (i) => ({ price: priceOf(itemIds[i] as string) }));
  aliceHome = await list('/users/attr-alice/recommendations?limit=6&placement=home', 'attr-alice');
  aliceProduct = await list(`/items/${itemIds[3]}/similar?limit=4&placement=product`, 'attr-alice');
  bobHome = await list('/users/attr-bob/recommendations?limit=5&placement=home', 'attr-bob');
  shown('attr-alice', aliceHome);
  shown('attr-alice', aliceProduct);
  shown('attr-bob', bobHome);
}, 240_000);

describe('attribution (GET /admin/metrics)', () => {
  const organic = { clicks: 0, addToCarts: 0, purchases: 0, revenue: 0 };
  const unattributed = { clicks: 0, addToCarts: 0, purchases: 0, revenue: 0 };

  it('counts the scripted session exactly, per placement and source', async () => {
    const now = Date.now();
    const at = (i: number) => now - 10_000 + i;
    const [a1, a2] = aliceHome.items;
    const [p1] = aliceProduct.items;
    const [b1, b2] = bobHome.items;
    if (!a1 || !a2 || !p1 || !b1 || !b2) throw new Error('lists too short');
    const named = (served: List, position: number) => ({
      recommendationId: served.recommendationId,
      position,
    });
    const click = {
      eventId: 'attr-e1',
      userId: 'attr-alice',
      itemId: a1.itemId,
      type: 'click',
      timestamp: at(1),
      context: named(aliceHome, 1),
    };
    const results = await post('attr-alice', [
      click,
      {
        eventId: 'attr-e2',
        userId: 'attr-alice',
        itemId: a2.itemId,
        type: 'click',
        timestamp: at(2),
        context: named(aliceHome, 2),
      },
      {
        eventId: 'attr-e3',
        userId: 'attr-alice',
        itemId: a2.itemId,
        type: 'add_to_cart',
        timestamp: at(3),
        context: named(aliceHome, 2),
      },
      {
        eventId: 'attr-e4',
        userId: 'attr-alice',
        itemId: a2.itemId,
        type: 'purchase',
        timestamp: at(4),
        context: named(aliceHome, 2),
      },
      // No position: found by its id.
      {
        eventId: 'attr-e5',
        userId: 'attr-alice',
        itemId: p1.itemId,
        type: 'click',
        timestamp: at(5),
        context: { recommendationId: aliceProduct.recommendationId },
      },
      // Bob's list, in Alice's event: foreign.
      {
        eventId: 'attr-e6',
        userId: 'attr-alice',
        itemId: b2.itemId,
        type: 'click',
        timestamp: at(6),
        context: named(bobHome, 2),
      },
      // A list nobody was served.
      {
        eventId: 'attr-e7',
        userId: 'attr-alice',
        itemId: a1.itemId,
        type: 'add_to_cart',
        timestamp: at(7),
        context: { recommendationId: randomUUID() },
      },
      // Views and likes count nothing, named or not.
      {
        eventId: 'attr-e8',
        userId: 'attr-alice',
        itemId: a1.itemId,
        type: 'view',
        timestamp: at(8),
        context: named(aliceHome, 1),
      },
      // Organic: no list named.
      { eventId: 'attr-e9', userId: 'attr-alice', itemId: itemIds[20], type: 'click', timestamp: at(9) },
      { eventId: 'attr-e10', userId: 'attr-alice', itemId: itemIds[20], type: 'purchase', timestamp: at(10) },
    ]);
    expect(results).toMatchObject({ accepted: 10, rejected: 0 });
    // The same click again: a duplicate, counted once.
    expect(await post('attr-alice', [click])).toMatchObject({ accepted: 0, duplicate: 1 });
    await post('attr-bob', [
      {
        eventId: 'attr-b1',
        userId: 'attr-bob',
        itemId: b1.itemId,
        type: 'click',
        timestamp: at(11),
        context: named(bobHome, 1),
      },
    ]);
    cell('home', sourceOf(a1.reason.kind)).clicks++;
    const bought = cell('home', sourceOf(a2.reason.kind));
    bought.clicks++;
    bought.addToCarts++;
    bought.purchases++;
    bought.revenue += priceOf(a2.itemId);
    cell('product', sourceOf(p1.reason.kind)).clicks++;
    cell('home', sourceOf(b1.reason.kind)).clicks++;
    unattributed.clicks = 1;
    unattributed.addToCarts = 1;
    organic.clicks = 1;
    organic.purchases = 1;
    organic.revenue = priceOf(itemIds[20] as string);

    await local.app.impressionsStream.drain();
    await local.app.eventsStream.drain();
    const report = await metrics();

    expect(report.from).toBe(today());
    expect(
      Object.fromEntries(
        report.placements.map((g) => [
          `${g.placement}#${g.source}`,
          {
            impressions: g.impressions,
            clicks: g.clicks,
            addToCarts: g.addToCarts,
            purchases: g.purchases,
            revenue: g.revenue,
            users: g.userDays,
          },
        ]),
      ),
    ).toEqual(
      Object.fromEntries(
        [...expected].map(([key, { users, ...counts }]) => [key, { ...counts, users: users.size }]),
      ),
    );
    expect(report.organic).toEqual(organic);
    expect(report.unattributed).toEqual(unattributed);
    const home = report.placements.find(
      (g) => g.placement === 'home' && g.source === sourceOf(a1.reason.kind),
    );
    expect(home?.clickThroughRate.value).toBeCloseTo((home?.clicks ?? 0) / (home?.impressions ?? 1), 10);
    expect(report.strategies.map((s) => s.strategy)).toEqual(expect.arrayContaining([aliceProduct.strategy]));
    expect(report.daily.map((d) => d.day)).toEqual(expect.arrayContaining([today()]));
  }, 120_000);

  it('filters by placement and source, and refuses an unknown placement or a bad period', async () => {
    const source = sourceOf(aliceHome.items[0]?.reason.kind ?? 'organic');
    const report = await metrics(`placement=home&source=${source}`);
    expect(report.placements.map((g) => [g.placement, g.source])).toEqual([['home', source]]);
    expect(report.placements[0]?.impressions).toBe(expected.get(`home#${source}`)?.impressions);
    for (const query of [
      'placement=nowhere',
      'from=2026-13-01',
      `from=${today()}&to=2020-01-01`,
      'from=2020-01-01&to=2021-01-01',
      'source=paid',
      'extra=1',
    ]) {
      const response = await local.call({ method: 'GET', path: `/admin/metrics?${query}` });
      expect([query, response.status]).toEqual([query, 400]);
    }
    const asUser = await local.call({ method: 'GET', path: '/admin/metrics' }, { user: 'attr-alice' });
    expect(asUser.status).toBe(403);
  });

  it('counts a stream record delivered again once', async () => {
    const statsTable = local.app.stack.tables.Stats as string;
    const counters = new AttributionCounters(
      createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb),
      statsTable,
      local.app.stack.tables.Impressions as string,
    );
    const [item] = aliceHome.items;
    const record: DynamoDBRecord = {
      eventID: `redelivered-${randomUUID()}`,
      eventName: 'INSERT',
      dynamodb: {
        SequenceNumber: '1',
        NewImage: marshall({
          userId: 'attr-alice',
          eventId: 'attr-replayed',
          itemId: item?.itemId,
          type: 'click',
          at: Date.now(),
          recommendationId: aliceHome.recommendationId,
          position: 1,
        }) as never,
      },
    };
    const before = await metrics();
    const first = await counters.countEvents([record]);
    const again = await counters.countEvents([record, record]);
    expect(first.tally.cells).toHaveLength(1);
    expect(again.tally.cells).toHaveLength(0);
    const after = await metrics();
    const key = (r: Report) =>
      r.placements.find((g) => g.placement === 'home' && g.source === sourceOf(item?.reason.kind ?? ''));
    expect(key(after)?.clicks).toBe((key(before)?.clicks ?? 0) + 1);
  });

  it('erasure deletes the user’s cells and leaves the daily sums', async () => {
    const before = await metrics();
    const documents = DynamoDBDocumentClient.from(
      createLocalDynamoDbClient(local.app.stack.endpoints.dynamodb),
    );
    const cells = () =>
      documents.send(
        new QueryCommand({
          TableName: local.app.stack.tables.Stats as string,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': 'mu#attr-alice' },
          ConsistentRead: true,
        }),
      );
    const held = (await cells()).Items?.length ?? 0;
    expect(held).toBeGreaterThan(0);
    const response = await local.call(
      { method: 'DELETE', path: '/users/attr-alice' },
      { user: 'attr-alice' },
    );
    expect(response.status).toBe(200);
    expect(response.json<{ attributionCells: number }>().attributionCells).toBe(held);
    expect((await cells()).Items).toEqual([]);
    await local.app.eventsStream.drain();
    await local.app.impressionsStream.drain();
    expect(await metrics()).toEqual(before);
    documents.destroy();
  });
});

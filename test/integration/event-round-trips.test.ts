/**
 * A `POST /events` of 20 events waits on DynamoDB at most three times one after another (issue 17):
 * one BatchGetItem over the Items, Events and Profiles tables, then each user's commit transaction
 * (users side by side), and a read after the commits only when the request repeats an eventId. The
 * calls are recorded by a middleware on the real client, through the real route on DynamoDB Local;
 * the phases are counted from the calls' intervals, so the test fails if a read moves back into a
 * chain. A profile that needs a refold costs its two refold reads on top (printed and bounded).
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { dynamoClient } from '../../functions/platform/clients';
import { type DynamoCall, recordDynamoCalls, sequentialPhases, timeInDynamo } from '../support/dynamo-calls';
import { postJson, profileStoreOf, useLocalApp } from '../support/local-app';
import { seedSyntheticItems } from '../support/synthetic-items';

const local = useLocalApp();
const itemIds = Array.from({ length: 60 }, (_, i) => `trip-item-${i}`);

beforeAll(async () => {
  await seedSyntheticItems(local.app, itemIds);
}, 120_000);

const base = Date.now() - 3_600_000;
const types = ['view', 'click', 'like', 'add_to_cart'] as const;
const eventsOf = (users: string[], count: number, from = 0, tag = 'e') =>
  Array.from({ length: count }, (_, k) => ({
    eventId: `${tag}-${from + k}`,
    userId: users[k % users.length] as string,
    itemId: itemIds[(from + k) % itemIds.length] as string,
    type: types[k % types.length],
    timestamp: base + (from + k) * 1000,
  }));

/** Posts `events` and records the DynamoDB calls made for the request (not the stream consumer's, which touch only Stats). */
async function post(events: unknown[], as: { user: string } | { admin: true }) {
  const { Items, Events, Profiles } = local.app.stack.tables;
  const requestTables = new Set([Items, Events, Profiles]);
  const recorder = recordDynamoCalls(dynamoClient(), ({ tables }) =>
    tables.some((t) => requestTables.has(t)),
  );
  const started = performance.now();
  const response = await local.call(postJson('/events', { events }), as);
  const ms = performance.now() - started;
  recorder.stop();
  return { response, calls: recorder.calls, phases: sequentialPhases(recorder.calls), ms };
}

function report(label: string, run: { calls: DynamoCall[]; phases: number; ms: number }) {
  const commands = run.calls.map((c) => c.command.replace(/Command$/, '')).join(', ');
  process.stdout.write(
    `[round-trips] ${label}: ${run.phases} sequential phase(s) [${commands}]; ` +
      `${Math.round(timeInDynamo(run.calls))} of ${Math.round(run.ms)} ms inside DynamoDB\n`,
  );
}

it('answers a 20-event POST of one user in at most three sequential round trips, new profile or not', async () => {
  const first = await post(eventsOf(['trip-ada'], 20), { user: 'trip-ada' });
  report('20 events, new user', first);
  expect(first.response.status).toBe(202);
  expect(first.response.json<{ accepted: number }>().accepted).toBe(20);
  expect(first.phases).toBeLessThanOrEqual(3);

  const second = await post(eventsOf(['trip-ada'], 20, 20), { user: 'trip-ada' });
  report('20 events, existing profile', second);
  expect(second.response.json<{ accepted: number }>().accepted).toBe(20);
  expect(second.phases).toBeLessThanOrEqual(3);
  // The profile reflects the events when the request returns.
  const stored = await profileStoreOf(local.app).getProfile('trip-ada');
  expect(stored?.profile.eventCount).toBe(40);
});

it('keeps a 20-event POST of five users, with a repeated eventId and a duplicate, within three', async () => {
  const users = ['trip-u1', 'trip-u2', 'trip-u3', 'trip-u4', 'trip-u5'];
  const events = eventsOf(users, 18, 0, 'multi');
  // A repeat of an event of this request (judged after the commit) and one of an earlier request.
  await post(eventsOf(['trip-u1'], 1, 0, 'earlier'), { admin: true });
  const run = await post([...events, { ...events[0] }, ...eventsOf(['trip-u1'], 1, 0, 'earlier')], {
    admin: true,
  });
  report('20 events of 5 users (one repeat, one duplicate)', run);
  const body = run.response.json<{ accepted: number; duplicate: number }>();
  expect(body.accepted).toBe(18);
  expect(body.duplicate).toBe(2);
  expect(run.phases).toBeLessThanOrEqual(3);
  // 18 events round-robin over 5 users, and trip-u1's earlier one.
  const expected = { 'trip-u1': 5, 'trip-u2': 4, 'trip-u3': 4, 'trip-u4': 3, 'trip-u5': 3 };
  for (const [userId, count] of Object.entries(expected))
    expect((await profileStoreOf(local.app).getProfile(userId))?.profile.eventCount).toBe(count);
});

it('pays two more round trips when the profile must be refolded (its events, then their items)', async () => {
  await post(eventsOf(['trip-legacy'], 20, 0, 'old'), { user: 'trip-legacy' });
  // A profile stored before spaces were recorded: refolded from its raw events by the next write.
  await dynamoClient().send(
    new UpdateCommand({
      TableName: local.app.stack.tables.Profiles,
      Key: { userId: 'trip-legacy' },
      UpdateExpression: 'REMOVE #space',
      ExpressionAttributeNames: { '#space': 'space' },
    }),
  );
  const run = await post(eventsOf(['trip-legacy'], 20, 20, 'new'), { user: 'trip-legacy' });
  report('20 events, profile refolded first', run);
  expect(run.response.json<{ accepted: number }>().accepted).toBe(20);
  expect(run.phases).toBeLessThanOrEqual(4);
  const stored = await profileStoreOf(local.app).getProfile('trip-legacy');
  expect(stored?.space).toBe(local.app.manifest.modelId);
  expect(stored?.profile.eventCount).toBe(40);
});

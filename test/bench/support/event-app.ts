/**
 * One local app for the events part of the load bench, in its own process (so the bench can run the
 * same workload on another commit's code: the bench copies this file and ../../support/dynamo-calls.ts
 * into that commit's worktree and runs it there). Seeds `LOAD_EVENT_ITEMS` synthetic items, sends the
 * parent `{ url, tokens, itemIds }` over IPC, then answers `calls` messages with the DynamoDB calls
 * the request path made since the previous one (Items, Events and Profiles tables: not the stream
 * consumer's), and stops on `stop`. LOAD_EVENT_CONSUMERS=stopped stops the local stream consumers
 * once the catalogue is seeded, for the request path's own figures.
 */

import { dynamoClient } from '../../../functions/platform/clients';
import { startLocalApp } from '../../../infra/local/app';
import { recordDynamoCalls, sequentialPhases, timeInDynamo } from '../../support/dynamo-calls';
import { seedSyntheticItems } from '../../support/synthetic-items';

async function main(): Promise<void> {
  const users = Number(process.env.LOAD_EVENT_USERS ?? 50);
  const items = Number(process.env.LOAD_EVENT_ITEMS ?? 500);
  const app = await startLocalApp({ apiPort: 0, tablePrefix: `bench-events-${Date.now()}-` });
  const itemIds = Array.from({ length: items }, (_, i) => `bench-event-item-${i}`);
  await seedSyntheticItems(app, itemIds);
  // LOAD_EVENT_CONSUMERS=stopped: the request path alone. In AWS the stream consumers (co-engagement,
  // popularity's readers, attribution) are other functions on other machines; here they share this
  // process's event loop and DynamoDB Local's JVM with the requests, and run behind them on the backlog.
  if (process.env.LOAD_EVENT_CONSUMERS === 'stopped') {
    await app.eventsStream.stop();
    await app.impressionsStream.stop();
  }
  const tokens = await Promise.all(
    Array.from({ length: users }, (_, u) => app.issuer?.token(`bench-user-${u}`) ?? Promise.resolve('')),
  );
  const { Items, Events, Profiles } = app.stack.tables;
  const requestTables = new Set([Items, Events, Profiles]);
  let recorder = recordDynamoCalls(dynamoClient(), ({ tables }) => tables.some((t) => requestTables.has(t)));
  process.on('message', (message: { type: string }) => {
    if (message.type === 'calls') {
      const { calls } = recorder;
      recorder.stop();
      recorder = recordDynamoCalls(dynamoClient(), ({ tables }) => tables.some((t) => requestTables.has(t)));
      process.send?.({
        type: 'calls',
        calls: calls.length,
        phases: sequentialPhases(calls),
        dynamoMs: timeInDynamo(calls),
      });
    } else if (message.type === 'stop') {
      recorder.stop();
      void app.stop().then(() => process.exit(0));
    }
  });
  process.send?.({ type: 'ready', url: app.url, tokens, itemIds });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

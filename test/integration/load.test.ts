/**
 * The load scenario of `npm run bench:load`, reduced to fit the test command: a short, slow run of
 * recommendations and a burst of one hot user's events over HTTP on 127.0.0.1. Latency is printed,
 * never asserted (the box is shared); what is asserted is that nothing failed and that every event
 * the API accepted was counted exactly once.
 */
import { runLoad } from '../support/load/scenario';
import { useLocalApp } from '../support/local-app';

const local = useLocalApp({ apiPort: 0 });

it('answers every request under load and counts each accepted event of a hot user exactly once', async () => {
  const report = await runLoad(local.app, {
    catalogueItems: 2000,
    categories: 10,
    users: 20,
    rates: [],
    stepSeconds: 0,
    sustainRate: 50,
    sustainSeconds: 10,
    connections: 10,
    eventConnections: 10,
    eventRequests: 60,
    eventsPerRequest: 5,
    repeatShare: 0.15,
    log: (line) => process.stdout.write(`[load] ${line}\n`),
  });
  process.stdout.write(`${JSON.stringify(report)}\n`);

  expect(report.sustained.requests).toBe(500);
  expect(report.errors).toBe(0);
  expect(report.events_errors).toBe(0);
  expect(report.events_requests).toBeGreaterThan(0);
  expect(report.events_duplicate).toBeGreaterThan(0);
  expect(report.events_rejected).toBe(0);
  // Nothing lost, nothing counted twice: the API's answers, the profile and the raw events agree.
  expect(report.events_accepted).toBe(report.events_distinct);
  expect(report.events_counted).toBe(report.events_accepted);
  expect(report.events_stored).toBe(report.events_accepted);
}, 170_000);

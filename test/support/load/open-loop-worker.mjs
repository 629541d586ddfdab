/**
 * An open-loop load generator, run in its own thread by open-loop.ts: request i is due at
 * start + i / rate whatever happened to the ones before it (as independent users arrive), and its
 * latency runs from that due time to the end of the response, so a server (or client) that falls
 * behind shows as latency instead of quietly lowering the rate (no coordinated omission).
 */
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

const { origin, requests, rate, seconds, timeoutMs, maxSockets } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets });
const total = Math.floor(rate * seconds);
const latencies = new Float64Array(total);
const statuses = {};
let errors = 0;
let timeouts = 0;
let done = 0;
let issued = 0;

function send(i, dueAt) {
  const spec = requests[i % requests.length];
  const request = http.request(
    new URL(spec.path, origin),
    { method: spec.method, headers: spec.headers, agent, timeout: timeoutMs },
    (response) => {
      response.resume();
      response.on('end', () => {
        latencies[i] = performance.now() - dueAt;
        statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
        finish();
      });
      response.on('error', () => {
        errors += 1;
        latencies[i] = performance.now() - dueAt;
        finish();
      });
    },
  );
  request.on('timeout', () => {
    timeouts += 1;
    request.destroy(new Error('timeout'));
  });
  request.on('error', () => {
    errors += 1;
    latencies[i] = performance.now() - dueAt;
    finish();
  });
  request.end(spec.body);
}

const started = performance.now();

function finish() {
  done += 1;
  if (done === total) {
    agent.destroy();
    parentPort.postMessage({
      latencies,
      statuses,
      errors,
      timeouts,
      sent: issued,
      durationMs: performance.now() - started,
    });
  }
}

/** Issues every request that is due, then sleeps until the next one is. */
function tick() {
  const now = performance.now();
  while (issued < total && started + (issued * 1000) / rate <= now) {
    send(issued, started + (issued * 1000) / rate);
    issued += 1;
  }
  if (issued < total) setTimeout(tick, Math.max(0, started + (issued * 1000) / rate - performance.now()));
}

if (total === 0) parentPort.postMessage({ latencies, statuses, errors, timeouts, sent: 0, durationMs: 0 });
else tick();

import path from 'node:path';
import { Worker } from 'node:worker_threads';

export interface OpenLoopRequest {
  method: 'GET' | 'POST';
  /** Path and query, joined to the origin. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface OpenLoopOptions {
  origin: string;
  /** Sent in turn, round robin. */
  requests: OpenLoopRequest[];
  /** Requests per second, evenly spaced. */
  rate: number;
  seconds: number;
  /** A request with no answer by then counts as a timeout. @default 30 s */
  timeoutMs?: number;
  /** Keep-alive connections at most; more requests in flight wait for one (and that wait is latency). */
  maxSockets?: number;
}

export interface OpenLoopResult {
  sent: number;
  /** Requests whose answer was 2xx. */
  ok: number;
  /** Non-2xx answers, connection errors and timeouts. */
  errors: number;
  statuses: Record<string, number>;
  achievedRps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Every answered request's latency (ms), sorted: to pool runs. */
  latencies: Float64Array;
}

export const percentile = (sorted: Float64Array, p: number) =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number);

/**
 * Constant-rate, open-loop load from a worker thread (see open-loop-worker.mjs), so the client does
 * not share the server's event loop. autocannon's rate limit sends each connection's quota for a
 * second back to back and then waits for the next second: bursts, not a rate.
 */
export function openLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(path.join(__dirname, 'open-loop-worker.mjs'), {
      workerData: {
        origin: options.origin,
        requests: options.requests,
        rate: options.rate,
        seconds: options.seconds,
        timeoutMs: options.timeoutMs ?? 30_000,
        maxSockets: options.maxSockets ?? 64,
      },
    });
    worker.once('error', reject);
    worker.once(
      'message',
      (message: {
        latencies: Float64Array;
        statuses: Record<string, number>;
        errors: number;
        timeouts: number;
        sent: number;
        durationMs: number;
      }) => {
        void worker.terminate();
        const sorted = Float64Array.from(message.latencies).sort();
        const ok = Object.entries(message.statuses)
          .filter(([status]) => status.startsWith('2'))
          .reduce((sum, [, count]) => sum + count, 0);
        const round = (value: number) => Math.round(value * 10) / 10;
        resolve({
          sent: message.sent,
          ok,
          errors: message.sent - ok,
          statuses: message.statuses,
          achievedRps: round(ok / (message.durationMs / 1000 || 1)),
          p50Ms: round(percentile(sorted, 0.5)),
          p99Ms: round(percentile(sorted, 0.99)),
          maxMs: round(sorted[sorted.length - 1] ?? 0),
          latencies: sorted,
        });
      },
    );
  });
}

import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * At most `maxInFlight` tasks run at once; waiting tasks are served one flow at a time, in turn
 * (round robin), so a flow with thousands of queued calls delays another flow's next call by at
 * most one turn, not by its whole backlog. A flow is whatever the caller names with `inFlow`:
 * here, one function invocation.
 */
export class FairQueue {
  private inFlight = 0;
  private readonly waiting = new Map<string, Array<() => void>>();
  /** Flows with waiting tasks, in serving order. */
  private readonly turns: string[] = [];

  constructor(readonly maxInFlight: number) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1)
      throw new Error(`FairQueue: maxInFlight must be a positive integer, got ${maxInFlight}`);
  }

  /** Tasks running now, and tasks waiting for a slot. */
  get load(): { running: number; waiting: number } {
    let waiting = 0;
    for (const queue of this.waiting.values()) waiting += queue.length;
    return { running: this.inFlight, waiting };
  }

  async run<T>(flow: string, task: () => Promise<T>): Promise<T> {
    await this.acquire(flow);
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private acquire(flow: string): Promise<void> {
    if (this.inFlight < this.maxInFlight && this.turns.length === 0) {
      this.inFlight += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const queue = this.waiting.get(flow);
      if (queue) queue.push(resolve);
      else {
        this.waiting.set(flow, [resolve]);
        this.turns.push(flow);
      }
    });
  }

  private release(): void {
    const flow = this.turns.shift();
    if (flow === undefined) {
      this.inFlight -= 1;
      return;
    }
    const queue = this.waiting.get(flow) as Array<() => void>;
    const next = queue.shift() as () => void;
    if (queue.length > 0) this.turns.push(flow);
    else this.waiting.delete(flow);
    // The slot passes straight to the next task: inFlight is unchanged.
    next();
  }
}

const currentFlow = new AsyncLocalStorage<string>();

/** Runs `work` as the flow `name`: SDK calls made inside it queue as that flow. */
export function inFlow<T>(name: string, work: () => Promise<T>): Promise<T> {
  return currentFlow.run(name, work);
}

/** The flow of the calling code; calls outside any flow share one. */
export function flowName(): string {
  return currentFlow.getStore() ?? 'default';
}

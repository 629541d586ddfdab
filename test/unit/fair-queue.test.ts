import { FairQueue, flowName, inFlow } from '../../functions/platform/fair-queue';

/** A task that finishes when the test says so, recording when it started. */
function gate(log: string[], name: string) {
  let open: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    task: async () => {
      log.push(name);
      await done;
    },
    open: () => open(),
  };
}
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('FairQueue', () => {
  it('runs at most maxInFlight tasks at once', async () => {
    const queue = new FairQueue(2);
    const started: string[] = [];
    const gates = ['a', 'b', 'c'].map((name) => gate(started, name));
    const runs = gates.map((g) => queue.run('one', g.task));
    await settle();
    expect(started).toEqual(['a', 'b']);
    expect(queue.load).toEqual({ running: 2, waiting: 1 });
    gates[0]?.open();
    await settle();
    expect(started).toEqual(['a', 'b', 'c']);
    for (const g of gates) g.open();
    await Promise.all(runs);
    expect(queue.load).toEqual({ running: 0, waiting: 0 });
  });

  it('serves a flow that arrives behind a long backlog at the next free slot', async () => {
    const queue = new FairQueue(1);
    const started: string[] = [];
    const flood = Array.from({ length: 50 }, (_, i) => gate(started, `flood-${i}`));
    const floodRuns = flood.map((g) => queue.run('flood', g.task));
    const bystander = gate(started, 'bystander');
    const bystanderRun = queue.run('bystander', bystander.task);
    await settle();
    expect(started).toEqual(['flood-0']);
    flood[0]?.open();
    await settle();
    flood[1]?.open();
    await settle();
    // Round robin over flows: the bystander waits one turn of the flood, not its 49-task backlog.
    expect(started).toEqual(['flood-0', 'flood-1', 'bystander']);
    bystander.open();
    for (const g of flood) g.open();
    await Promise.all([...floodRuns, bystanderRun]);
    expect(started).toHaveLength(51);
  });

  it('passes errors through and frees the slot', async () => {
    const queue = new FairQueue(1);
    await expect(queue.run('x', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(queue.run('x', async () => 'ok')).resolves.toBe('ok');
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new FairQueue(0)).toThrow(/positive integer/);
  });
});

describe('flows', () => {
  it('follow the async work they were started with', async () => {
    const seen = await Promise.all([
      inFlow('a', async () => {
        await settle();
        return flowName();
      }),
      inFlow('b', async () => flowName()),
    ]);
    expect(seen).toEqual(['a', 'b']);
    expect(flowName()).toBe('default');
  });
});

/**
 * `npm run backfill -- --distributed`: against a hand-written Step Functions client that plays a
 * deployed stack (its state machines paginated, an execution whose map run progresses, then ends).
 */
import { PassThrough } from 'node:stream';
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  ListMapRunsCommand,
  ListStateMachinesCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { distributedMain } from '../../infra/cli/backfill';
import {
  type MapRunProgress,
  runDistributed,
  type StepFunctions,
} from '../../infra/cli/distributed-backfill';

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:Shop-reembed';

interface Step {
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  counts?: { total: number; succeeded: number; failed?: number; running?: number };
}

/** A Step Functions client whose execution goes through `steps`, one per DescribeExecution. */
function fakeStepFunctions(steps: Step[], { mapRunAfter = 0 } = {}) {
  const started: Array<{ stateMachineArn?: string; input?: string }> = [];
  let describes = 0;
  const send = async (command: unknown): Promise<unknown> => {
    if (command instanceof ListStateMachinesCommand) {
      // Two pages, the stack's machine on the second, beside another stack's.
      return command.input.nextToken === 'page-2'
        ? {
            stateMachines: [
              { name: 'Other-reembed', stateMachineArn: `${ARN}-other` },
              { name: 'Shop-reembed', stateMachineArn: ARN },
            ],
          }
        : { stateMachines: [{ name: 'Shop-reembedder', stateMachineArn: 'wrong' }], nextToken: 'page-2' };
    }
    if (command instanceof StartExecutionCommand) {
      started.push(command.input);
      return { executionArn: `${ARN.replace('stateMachine', 'execution')}:run-1` };
    }
    if (command instanceof DescribeExecutionCommand) {
      const step = steps[Math.min(describes++, steps.length - 1)] as Step;
      return {
        status: step.status,
        ...(step.status === 'SUCCEEDED'
          ? {
              output: JSON.stringify({
                MapRunArn: 'map-run-1',
                ResultWriterDetails: {
                  Bucket: 'catalogue-bucket',
                  Key: 'reembed-results/run-1/manifest.json',
                },
              }),
            }
          : {}),
        ...(step.status === 'FAILED'
          ? { error: 'States.ExceedToleratedFailureThreshold', cause: 'too many batches failed' }
          : {}),
      };
    }
    if (command instanceof ListMapRunsCommand)
      return { mapRuns: describes > mapRunAfter ? [{ mapRunArn: 'map-run-1' }] : [] };
    if (command instanceof DescribeMapRunCommand) {
      const step = steps[Math.min(describes - 1, steps.length - 1)] as Step;
      return { itemCounts: { pending: 0, timedOut: 0, aborted: 0, failed: 0, ...step.counts } };
    }
    throw new Error(`unexpected command ${(command as object).constructor.name}`);
  };
  return { client: { send } as unknown as StepFunctions, started };
}

describe('the distributed backfill', () => {
  it("finds the stack's state machine, starts it with the models, and follows the map run to the end", async () => {
    const { client, started } = fakeStepFunctions(
      [
        { status: 'RUNNING' },
        { status: 'RUNNING', counts: { total: 1000, succeeded: 200, running: 500 } },
        { status: 'RUNNING', counts: { total: 2500, succeeded: 1800, failed: 100 } },
        { status: 'SUCCEEDED', counts: { total: 2500, succeeded: 2400, failed: 100 } },
      ],
      { mapRunAfter: 1 },
    );
    const progress: MapRunProgress[] = [];
    const sleeps: number[] = [];

    const summary = await runDistributed(client, {
      stack: 'Shop',
      models: ['mobilenet-v2'],
      pollMs: 1234,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      onProgress: (p) => progress.push(p),
    });

    expect(started).toEqual([
      {
        stateMachineArn: ARN,
        name: expect.stringMatching(/^reembed-/),
        input: '{"models":["mobilenet-v2"]}',
      },
    ]);
    expect(progress).toEqual([
      { total: 1000, done: 200, failed: 0 },
      { total: 2500, done: 1900, failed: 100 },
      { total: 2500, done: 2500, failed: 100 },
    ]);
    expect(sleeps).toEqual([1234, 1234, 1234]);
    expect(summary).toEqual({
      executionArn: expect.stringContaining(':execution:'),
      status: 'SUCCEEDED',
      items: { total: 2500, succeeded: 2400, failed: 100, done: 2500 },
      results: { bucket: 'catalogue-bucket', key: 'reembed-results/run-1/manifest.json' },
    });
  });

  it('asks for every model the function has when no model is named', async () => {
    const { client, started } = fakeStepFunctions([
      { status: 'SUCCEEDED', counts: { total: 1, succeeded: 1 } },
    ]);
    await runDistributed(client, { stack: 'Shop', sleep: async () => undefined });
    expect(started[0]?.input).toBe('{"models":[]}');
  });

  it('reports a failed execution with its error and cause', async () => {
    const { client } = fakeStepFunctions([
      { status: 'RUNNING', counts: { total: 10, succeeded: 2, failed: 3 } },
      { status: 'FAILED', counts: { total: 10, succeeded: 2, failed: 8 } },
    ]);
    const summary = await runDistributed(client, { stack: 'Shop', sleep: async () => undefined });
    expect(summary).toMatchObject({
      status: 'FAILED',
      error: 'States.ExceedToleratedFailureThreshold',
      cause: 'too many batches failed',
      items: { total: 10, failed: 8 },
    });
  });

  it('names the state machine it could not find', async () => {
    const { client, started } = fakeStepFunctions([]);
    await expect(runDistributed(client, { stack: 'Nope' })).rejects.toThrow(
      /no state machine named Nope-reembed: is stack Nope deployed/,
    );
    expect(started).toEqual([]);
  });

  it('draws a progress bar, prints the summary, and exits 2 unless the execution succeeded', async () => {
    const stderr = new PassThrough();
    let drawn = '';
    stderr.on('data', (chunk) => {
      drawn += chunk.toString();
    });
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const ok = fakeStepFunctions([{ status: 'SUCCEEDED', counts: { total: 4, succeeded: 4 } }]);
      expect(await distributedMain({ stack: 'Shop', models: [] }, ok.client, stderr)).toBe(0);
      const failed = fakeStepFunctions([{ status: 'FAILED', counts: { total: 4, succeeded: 1, failed: 3 } }]);
      expect(await distributedMain({ stack: 'Shop', models: [] }, failed.client, stderr)).toBe(2);
      const printed = stdout.mock.calls.map(([line]) => JSON.parse(String(line)));
      expect(printed.map((s) => s.status)).toEqual(['SUCCEEDED', 'FAILED']);
    } finally {
      stdout.mockRestore();
    }
    expect(drawn).toContain('started arn:aws:states:eu-west-1:123456789012:execution:Shop-reembed:run-1');
  });
});

/**
 * `npm run backfill -- --distributed --stack <name> [--model <id>]...`: starts the stack's
 * re-embedding state machine (infra/constructs/reembedding.ts) and follows its Distributed Map run
 * until the execution ends. The batches run in Lambda, 50 at once by default, so nothing depends
 * on this machine staying awake: stopping this command does not stop the execution.
 */
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  type ExecutionStatus,
  ListMapRunsCommand,
  ListStateMachinesCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';

/** What the CLI needs of the Step Functions client (a fake one in tests). */
export type StepFunctions = Pick<SFNClient, 'send'>;

/** The state machine's name in a stack: the Reembedding construct names it so. */
export const reembedStateMachineName = (stackName: string) => `${stackName}-reembed`;

export interface DistributedOptions {
  /** The stack's name; its state machine is `<stack>-reembed`. */
  stack?: string;
  /** Or the state machine itself. */
  stateMachineArn?: string;
  /** Model ids to embed with besides the active one; none: every model the function has. */
  models?: string[];
  /** The execution's name. @default reembed-<time> */
  executionName?: string;
  /** @default 5000 */
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
  onStarted?: (execution: { executionArn: string; stateMachineArn: string }) => void;
  onProgress?: (progress: MapRunProgress) => void;
}

export interface MapRunProgress {
  /** Keys listed so far (the ItemReader pages in while the map runs). */
  total: number;
  /** Keys whose batch ended: succeeded, failed, timed out or aborted. */
  done: number;
  failed: number;
}

export interface DistributedSummary {
  executionArn: string;
  status: ExecutionStatus | string;
  items: MapRunProgress & { succeeded: number };
  /** Where the ResultWriter put each batch's counts (its manifest). */
  results?: { bucket?: string; key?: string };
  error?: string;
  cause?: string;
}

export async function findStateMachine(client: StepFunctions, stack: string): Promise<string> {
  const name = reembedStateMachineName(stack);
  let nextToken: string | undefined;
  do {
    const page = await client.send(new ListStateMachinesCommand({ nextToken }));
    const found = page.stateMachines?.find((machine) => machine.name === name);
    if (found?.stateMachineArn) return found.stateMachineArn;
    nextToken = page.nextToken;
  } while (nextToken);
  throw new Error(
    `no state machine named ${name}: is stack ${stack} deployed in this account and region, with the re-embedding?`,
  );
}

/** Starts an execution and follows it until it ends. */
export async function runDistributed(
  client: StepFunctions,
  options: DistributedOptions,
): Promise<DistributedSummary> {
  const stateMachineArn =
    options.stateMachineArn ??
    (options.stack
      ? await findStateMachine(client, options.stack)
      : (() => {
          throw new Error('--stack (or a state machine ARN) is required');
        })());
  const sleep = options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  const started = await client.send(
    new StartExecutionCommand({
      stateMachineArn,
      name: options.executionName ?? `reembed-${new Date().toISOString().replace(/[:.]/g, '-')}`,
      // The definition reads $.models into every batch's BatchInput: always present.
      input: JSON.stringify({ models: options.models ?? [] }),
    }),
  );
  const executionArn = started.executionArn as string;
  options.onStarted?.({ executionArn, stateMachineArn });

  let items: DistributedSummary['items'] = { total: 0, done: 0, failed: 0, succeeded: 0 };
  let mapRunArn: string | undefined;
  for (;;) {
    const execution = await client.send(new DescribeExecutionCommand({ executionArn }));
    mapRunArn ??= (await client.send(new ListMapRunsCommand({ executionArn }))).mapRuns?.[0]?.mapRunArn;
    if (mapRunArn) {
      const counts = (await client.send(new DescribeMapRunCommand({ mapRunArn }))).itemCounts;
      if (counts) {
        const failed = (counts.failed ?? 0) + (counts.timedOut ?? 0) + (counts.aborted ?? 0);
        items = {
          total: counts.total ?? 0,
          succeeded: counts.succeeded ?? 0,
          failed,
          done: (counts.succeeded ?? 0) + failed,
        };
        options.onProgress?.({ total: items.total, done: items.done, failed: items.failed });
      }
    }
    if (execution.status !== 'RUNNING' && execution.status !== 'PENDING_REDRIVE') {
      return {
        executionArn,
        status: execution.status ?? 'UNKNOWN',
        items,
        ...resultsOf(execution.output),
        ...(execution.error ? { error: execution.error } : {}),
        ...(execution.cause ? { cause: execution.cause } : {}),
      };
    }
    await sleep(options.pollMs ?? 5000);
  }
}

/** The map's output with a ResultWriter: `{ MapRunArn, ResultWriterDetails: { Bucket, Key } }`. */
function resultsOf(output: string | undefined): Pick<DistributedSummary, 'results'> {
  if (!output) return {};
  try {
    const details = (JSON.parse(output) as { ResultWriterDetails?: { Bucket?: string; Key?: string } })
      .ResultWriterDetails;
    return details ? { results: { bucket: details.Bucket, key: details.Key } } : {};
  } catch {
    return {};
  }
}

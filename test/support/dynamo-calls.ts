/**
 * Records the DynamoDB calls a piece of work makes (a middleware on the real client: each call's
 * command, tables, start and end), and what they cost in round trips: the sequential phases (the
 * longest chain of calls each starting after the previous one ended) and the time spent inside
 * DynamoDB (the union of the calls' intervals). Used by the round-trip test and the load bench.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface DynamoCall {
  command: string;
  tables: string[];
  start: number;
  end: number;
}

/** The tables a request names: its TableName, its RequestItems' keys, its TransactItems' tables. */
function tablesOf(input: unknown): string[] {
  const request = input as {
    TableName?: string;
    RequestItems?: Record<string, unknown>;
    TransactItems?: Array<Record<string, { TableName?: string } | undefined>>;
  };
  const tables = new Set<string>();
  if (request.TableName) tables.add(request.TableName);
  for (const table of Object.keys(request.RequestItems ?? {})) tables.add(table);
  for (const item of request.TransactItems ?? [])
    for (const action of Object.values(item)) if (action?.TableName) tables.add(action.TableName);
  return [...tables];
}

/**
 * Starts recording the calls of `client` that `keep` selects (by default all); `stop()` removes the
 * middleware. The middleware sits at the initialize step, so a call's interval includes its retries.
 */
export function recordDynamoCalls(
  client: DynamoDBClient,
  keep: (call: Pick<DynamoCall, 'command' | 'tables'>) => boolean = () => true,
): { calls: DynamoCall[]; stop: () => void } {
  const calls: DynamoCall[] = [];
  const name = `record-calls-${Math.random()}`;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? 'unknown';
      const tables = tablesOf(args.input);
      if (!keep({ command, tables })) return next(args);
      const start = performance.now();
      try {
        return await next(args);
      } finally {
        calls.push({ command, tables, start, end: performance.now() });
      }
    },
    { step: 'initialize', name },
  );
  return { calls, stop: () => client.middlewareStack.remove(name) };
}

/** The longest chain of calls each of which starts after the previous one has ended: the round trips one after another. */
export function sequentialPhases(calls: readonly DynamoCall[]): number {
  const byEnd = [...calls].sort((a, b) => a.end - b.end);
  const chain: number[] = [];
  byEnd.forEach((call, i) => {
    let longest = 0;
    for (let j = 0; j < i; j++) {
      const before = byEnd[j] as DynamoCall;
      if (before.end <= call.start) longest = Math.max(longest, chain[j] as number);
    }
    chain.push(longest + 1);
  });
  return Math.max(0, ...chain);
}

/** Time during which at least one call was in flight (ms): what the work waited on DynamoDB. */
export function timeInDynamo(calls: readonly DynamoCall[]): number {
  const sorted = [...calls].sort((a, b) => a.start - b.start);
  let total = 0;
  let end = Number.NEGATIVE_INFINITY;
  for (const call of sorted) {
    if (call.end <= end) continue;
    total += call.end - Math.max(call.start, end);
    end = call.end;
  }
  return total;
}

import { randomBytes, randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { LOCAL_REGION } from '../aws-env';
import { LOCAL_ACCOUNT_ID } from '../iam/iam-twin';

export interface LambdaContextOptions {
  /** The function's timeout: what getRemainingTimeInMillis counts down from. @default 30 s */
  readonly timeoutMs?: number;
  /** @default 1024, the stack's default (LookalikeFunction) */
  readonly memoryMb?: number;
}

/**
 * The context Lambda passes each invocation, one way for every local host (the API server, the queue
 * and stream consumers, the artefact processes): a fresh request id per call, the function's ARN in
 * the local account, the remaining time counted from its timeout. The callback-era methods throw, as
 * our handlers return promises.
 */
export function lambdaContext(functionName: string, options: LambdaContextOptions = {}): Context {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const today = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  const unsupported = (name: string) => () => {
    throw new Error(`context.${name}() is not supported locally: return a promise from the handler`);
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${functionName}`,
    memoryLimitInMB: String(options.memoryMb ?? 1024),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${today}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported('done'),
    fail: unsupported('fail'),
    succeed: unsupported('succeed'),
  };
}

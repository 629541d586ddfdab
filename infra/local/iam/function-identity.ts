/**
 * In `npm start` and the integration tests every function runs in one process and shares its SDK
 * clients (they are created once per process, as in a Lambda instance). So that each call is still
 * signed with the credentials of the function that makes it, as each Lambda signs with its own role,
 * the twin runs every invocation inside a scope naming the function, and the shared clients read
 * their credentials from that scope on each request.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { LOCAL_CREDENTIALS } from '../aws-env';
import { functionCredentials } from './iam-twin';

const scope = new AsyncLocalStorage<string>();

/** Runs `work` (and everything it starts) as the named function. */
export function runAsFunction<T>(functionName: string, work: () => T): T {
  return scope.run(functionName, work);
}

export function currentFunction(): string | undefined {
  return scope.getStore();
}

/**
 * Makes a client sign every request with the local credentials of the function it runs for, or the
 * operator's outside any function. The SDK reads `config.credentials` for each request, but its own
 * setter memoizes and coalesces providers (two functions' requests in flight at once would share one
 * identity), so the provider is installed as a plain property that is asked every time.
 */
export function signAsCurrentFunction(client: { config: object }): void {
  Object.defineProperty(client.config, 'credentials', {
    value: async () => {
      const functionName = currentFunction();
      return functionName ? functionCredentials(functionName) : { ...LOCAL_CREDENTIALS };
    },
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

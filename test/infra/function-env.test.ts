/**
 * The environment the stack gives each function is what that function reads: every variable it sets
 * is in the function's schema (functions/wiring/environment.ts), every required one is set, and the
 * values parse. A constructs change that sets a variable nobody reads, or forgets one a handler needs,
 * fails here rather than at the first cold start after `cdk deploy`.
 */
import {
  FUNCTION_ENV,
  type FunctionName,
  functionConfig,
  variablesOf,
} from '../../functions/wiring/environment';
import type { LookalikeStackProps } from '../../infra/lookalike-stack';
import { synthesize } from '../support/synth';

/** Read by the Lambda runtime, Node or Powertools, not by our code. */
const PLATFORM_VARIABLES = new Set([
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
  'NODE_OPTIONS',
]);

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/** Each of our functions' environment, with CloudFormation references standing for a deployed name. */
function environments(json: Record<string, unknown>): Map<FunctionName, Record<string, string>> {
  const found = new Map<FunctionName, Record<string, string>>();
  for (const [logicalId, resource] of Object.entries(json.Resources as Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const variables = (resource.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables;
    const name = variables?.POWERTOOLS_SERVICE_NAME;
    if (typeof name !== 'string') continue;
    if (!(name in FUNCTION_ENV)) throw new Error(`${logicalId}: no environment schema for function ${name}`);
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(variables ?? {})) {
      env[key] = typeof value === 'string' ? value : `deployed-value-of-${key.toLowerCase()}`;
    }
    found.set(name as FunctionName, env);
  }
  return found;
}

const variants: Array<[string, LookalikeStackProps]> = [
  ['default', {}],
  ['dynamodb-vector', { servingBackend: 'dynamodb-vector' }],
];

describe.each(variants)('the %s stack', (variant, props) => {
  const envs = environments(synthesize(variant, props).json);

  it('has a schema for every function and a function for every schema', () => {
    expect([...envs.keys()].sort()).toEqual(Object.keys(FUNCTION_ENV).sort());
  });

  it.each(Object.keys(FUNCTION_ENV) as FunctionName[])('sets only what %s reads, and parses', (name) => {
    const env = envs.get(name) ?? {};
    const read = new Set(variablesOf(name));
    const unread = Object.keys(env).filter((key) => !read.has(key) && !PLATFORM_VARIABLES.has(key));
    expect(unread).toEqual([]);
    expect(() => functionConfig(name, env)).not.toThrow();
  });
});

/**
 * The identity policies `cdk deploy` gives each function's role, read from the synthesized template,
 * so the local twin can refuse what those roles may not do. Synthesizing skips esbuild bundling (the
 * policies do not depend on it) and is cached on disk by the inputs that shape the template.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { LookalikeStack, LookalikeStackProps } from '../../lookalike-stack';

const REPO = join(__dirname, '..', '..', '..');
const CACHE = join(REPO, '.cache', 'iam');

/** A CloudFormation value as the template has it: literals and intrinsic functions. */
export type CfnValue = unknown;

export interface FunctionRole {
  /** The function's name (its folder under functions/, POWERTOOLS_SERVICE_NAME in the template). */
  readonly functionName: string;
  readonly roleLogicalId: string;
  /** The function's environment as written in the template (values may be intrinsics). */
  readonly environment: Readonly<Record<string, CfnValue>>;
  /** Inline policies attached to the role (AWS::IAM::Policy and the role's own Policies). */
  readonly policies: ReadonlyArray<{ name: string; document: CfnValue }>;
  readonly managedPolicyArns: readonly CfnValue[];
}

export interface StackRoles {
  readonly functions: readonly FunctionRole[];
  /** Resource types by logical id, to turn Ref and Fn::GetAtt into local names and ARNs. */
  readonly resourceTypes: Readonly<Record<string, string>>;
}

type Template = { Resources?: Record<string, { Type: string; Properties?: Record<string, unknown> }> };

/** Reads the function roles out of a synthesized template. */
export function rolesFromTemplate(template: Template): StackRoles {
  const resources = template.Resources ?? {};
  const resourceTypes = Object.fromEntries(Object.entries(resources).map(([id, r]) => [id, r.Type]));
  const functions: FunctionRole[] = [];
  for (const resource of Object.values(resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const properties = resource.Properties ?? {};
    const environment = ((properties.Environment as { Variables?: Record<string, CfnValue> } | undefined)
      ?.Variables ?? {}) as Record<string, CfnValue>;
    const functionName = environment.POWERTOOLS_SERVICE_NAME;
    const role = properties.Role as { 'Fn::GetAtt'?: [string, string] } | undefined;
    const roleLogicalId = role?.['Fn::GetAtt']?.[0];
    // CDK's own custom-resource handlers are not Lookalike functions.
    if (typeof functionName !== 'string' || !roleLogicalId) continue;
    const roleProperties = resources[roleLogicalId]?.Properties ?? {};
    const policies: FunctionRole['policies'][number][] = [];
    for (const inline of (roleProperties.Policies as Array<{
      PolicyName: string;
      PolicyDocument: CfnValue;
    }>) ?? []) {
      policies.push({ name: inline.PolicyName, document: inline.PolicyDocument });
    }
    for (const [id, candidate] of Object.entries(resources)) {
      if (candidate.Type !== 'AWS::IAM::Policy') continue;
      const roles = (candidate.Properties?.Roles as Array<{ Ref?: string }>) ?? [];
      if (roles.some((r) => r.Ref === roleLogicalId))
        policies.push({ name: id, document: candidate.Properties?.PolicyDocument });
    }
    functions.push({
      functionName,
      roleLogicalId,
      environment,
      policies,
      managedPolicyArns: (roleProperties.ManagedPolicyArns as CfnValue[]) ?? [],
    });
  }
  return { functions, resourceTypes };
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.name === 'node_modules' || entry.name === 'dist') return [];
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

/**
 * Everything a synthesized template depends on (the CDK code, the functions, the model manifest, the
 * lock file and cdk.json), hashed with `variant`: a change to any of them means a new synth.
 */
export function synthInputsHash(variant: string): string {
  const hash = createHash('sha256').update(variant);
  const inputs = [...filesUnder(join(REPO, 'infra')), ...filesUnder(join(REPO, 'functions'))].sort();
  inputs.push(
    join(REPO, 'layers', 'model', 'dist', 'manifest.json'),
    join(REPO, 'package-lock.json'),
    join(REPO, 'cdk.json'),
  );
  for (const file of inputs) {
    if (existsSync(file)) hash.update(relative(REPO, file)).update(readFileSync(file));
  }
  return hash.digest('hex').slice(0, 16);
}

export interface SynthOptions {
  /** Stack props, e.g. the serving backend. @default {} (what a plain `cdk deploy` creates) */
  readonly props?: LookalikeStackProps;
  /**
   * Changes the stack before synthesis (a test removing a grant, say). Such synths are not cached.
   */
  readonly mutate?: (stack: LookalikeStack) => void;
}

/**
 * The stack's function roles as `cdk deploy` would create them (the model and the runtime layer must
 * be built). aws-cdk-lib is loaded only when the cache has no synth of the current inputs.
 */
export async function synthStackRoles(options: SynthOptions = {}): Promise<StackRoles> {
  const props = options.props ?? {};
  const cacheFile = options.mutate
    ? undefined
    : join(CACHE, `roles-${synthInputsHash(JSON.stringify(props))}.json`);
  if (cacheFile && existsSync(cacheFile)) return JSON.parse(readFileSync(cacheFile, 'utf8')) as StackRoles;
  const outdir = join(CACHE, `synth-${process.pid}-${Date.now()}`);
  const [{ App }, { LookalikeStack }] = await Promise.all([
    import('aws-cdk-lib'),
    import('../../lookalike-stack'),
  ]);
  try {
    // Bundling is skipped for every stack: the roles do not depend on the bundled code.
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new LookalikeStack(app, 'Lookalike', {
      env: { account: '000000000000', region: 'us-east-1' },
      ...props,
    });
    options.mutate?.(stack);
    const assembly = app.synth();
    const roles = rolesFromTemplate(assembly.getStackByName(stack.stackName).template as Template);
    if (cacheFile) {
      mkdirSync(CACHE, { recursive: true });
      const staging = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(staging, JSON.stringify(roles));
      renameSync(staging, cacheFile);
      // Roles of earlier inputs are garbage.
      for (const entry of readdirSync(CACHE)) {
        if (/^roles-[0-9a-f]+\.json$/.test(entry) && join(CACHE, entry) !== cacheFile)
          rmSync(join(CACHE, entry), { force: true });
      }
    }
    return roles;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * The local twin's IAM: every AWS call a Lambda function makes locally is evaluated against the
 * identity policies the synthesized template gives that function's role, with the same evaluator
 * semantics AWS uses (iam-simulate: actions, resource ARNs, conditions), and refused as AWS refuses
 * it. Callers are told apart by their access key id: each function signs with its own key, as each
 * Lambda signs with its own role's credentials; the operator's key (tests, `npm start`'s seeding,
 * catalogue tools) is not restricted, like an administrator's.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../aws-env';
import type { CfnValue, StackRoles } from './stack-roles';

export const LOCAL_ACCOUNT_ID = '000000000000';

/** One authorization decision AWS makes for a request: an action on a resource, with context keys. */
export interface AwsAuthorization {
  readonly action: string;
  readonly resource: string;
  readonly context?: Readonly<Record<string, string>>;
}

export interface ResolvedRole {
  readonly functionName: string;
  readonly roleArn: string;
  /** The ARN AWS names in an AccessDenied message: the role's assumed-role session. */
  readonly sessionArn: string;
  readonly accessKeyId: string;
  readonly statements: readonly PolicyStatement[];
  readonly managedPolicyArns: readonly string[];
}

export interface PolicyStatement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
  Sid?: string;
}

export interface Denial {
  readonly functionName: string;
  readonly action: string;
  readonly resource: string;
  /** AWS's wording: "User: <arn> is not authorized to perform: <action> on resource: <arn> because ..." */
  readonly message: string;
}

export interface CallRecord {
  readonly functionName: string;
  readonly action: string;
  readonly resource: string;
  readonly allowed: boolean;
  count: number;
}

/** A grant in a role's policies that no recorded call used. */
export interface UnusedGrant {
  readonly functionName: string;
  readonly action: string;
  readonly resource: string;
}

/** Access key id of a function's local credentials: DynamoDB Local accepts only alphanumeric ids. */
export const functionAccessKeyId = (functionName: string) =>
  `LOOKALIKE${functionName.toUpperCase().replace(/[^A-Z0-9]/g, '')}`;

/** Every function signs with the stand-ins' one secret; only the key id tells them apart. */
export const functionCredentials = (functionName: string) => ({
  accessKeyId: functionAccessKeyId(functionName),
  secretAccessKey: LOCAL_CREDENTIALS.secretAccessKey,
});

const arnOfType = (type: string, name: string, region: string, account: string): string | undefined => {
  switch (type) {
    case 'AWS::DynamoDB::GlobalTable':
    case 'AWS::DynamoDB::Table':
      return `arn:aws:dynamodb:${region}:${account}:table/${name}`;
    case 'AWS::S3::Bucket':
      return `arn:aws:s3:::${name}`;
    case 'AWS::SQS::Queue':
      return `arn:aws:sqs:${region}:${account}:${name}`;
    case 'AWS::SNS::Topic':
      return `arn:aws:sns:${region}:${account}:${name}`;
    default:
      return undefined;
  }
};

export interface LocalResources {
  /**
   * The local value of each environment variable the stack passes to functions (table and bucket
   * names): a resource whose name reaches a function as `{ Ref }` gets the local name of that variable.
   */
  readonly environment: Readonly<Record<string, string>>;
  /** @default LOCAL_REGION */
  readonly region?: string;
}

/** Turns the template's roles into policies over the local resources' names and ARNs. */
export function resolveRoles(roles: StackRoles, local: LocalResources): ResolvedRole[] {
  const region = local.region ?? LOCAL_REGION;
  const account = LOCAL_ACCOUNT_ID;
  const names = new Map<string, string>();
  for (const fn of roles.functions) {
    for (const [variable, value] of Object.entries(fn.environment)) {
      const ref = (value as { Ref?: unknown } | null)?.Ref;
      const localValue = local.environment[variable];
      if (typeof ref === 'string' && localValue !== undefined) names.set(ref, localValue);
    }
  }
  const nameOf = (id: string) => names.get(id) ?? id;
  const arnOf = (id: string) =>
    arnOfType(roles.resourceTypes[id] ?? '', nameOf(id), region, account) ??
    `arn:aws:cloudformation:${region}:${account}:resource/${id}`;
  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': region,
    'AWS::AccountId': account,
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': 'Lookalike',
    'AWS::NoValue': '',
  };
  const getAtt = (id: string, attribute: string): string => {
    if (attribute === 'Arn') return arnOf(id);
    // A table's stream: the twin has one per table.
    if (attribute === 'StreamArn' || attribute === 'LatestStreamArn') return `${arnOf(id)}/stream/local`;
    return `${id}.${attribute}`;
  };
  const resolve = (value: CfnValue): unknown => {
    if (Array.isArray(value)) return value.map(resolve);
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    const [only] = entries;
    if (entries.length === 1 && only) {
      const [fn, args] = only;
      if (fn === 'Ref') return pseudo[args as string] ?? nameOf(args as string);
      if (fn === 'Fn::GetAtt') {
        const [id, attribute] = typeof args === 'string' ? args.split('.') : (args as [string, string]);
        return getAtt(id as string, attribute as string);
      }
      if (fn === 'Fn::Join') {
        const [separator, parts] = args as [string, CfnValue[]];
        return (resolve(parts) as unknown[]).join(separator);
      }
      if (fn === 'Fn::Sub') {
        const [text, variables = {}] = typeof args === 'string' ? [args] : (args as [string, object]);
        return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
          if (name in variables) return String(resolve((variables as Record<string, unknown>)[name]));
          if (pseudo[name] !== undefined) return pseudo[name];
          const [id, attribute] = name.split('.');
          return attribute ? getAtt(id as string, attribute) : nameOf(name);
        });
      }
      if (fn === 'Fn::Select') {
        const [index, list] = args as [number, CfnValue];
        return (resolve(list) as unknown[])[Number(index)];
      }
      if (fn === 'Fn::Split') {
        const [separator, text] = args as [string, CfnValue];
        return String(resolve(text)).split(separator);
      }
    }
    return Object.fromEntries(entries.map(([key, inner]) => [key, resolve(inner)]));
  };
  return roles.functions.map((fn) => {
    const statements = fn.policies.flatMap(
      (policy) =>
        ((resolve(policy.document) as { Statement?: PolicyStatement[] }).Statement ??
          []) as PolicyStatement[],
    );
    return {
      functionName: fn.functionName,
      roleArn: `arn:aws:iam::${account}:role/${fn.roleLogicalId}`,
      sessionArn: `arn:aws:sts::${account}:assumed-role/${fn.roleLogicalId}/${fn.functionName}`,
      accessKeyId: functionAccessKeyId(fn.functionName),
      statements,
      managedPolicyArns: fn.managedPolicyArns.map((arn) => String(resolve(arn))),
    };
  });
}

const asList = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** IAM's wildcard match: `*` any run of characters, `?` one character, case-sensitive. */
export function wildcardMatch(pattern: string, value: string, { ignoreCase = false } = {}): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'is' : 's').test(value);
}

/** Decisions are cached: the evaluator takes milliseconds, and the same few calls repeat. */
const DECISION_CACHE_LIMIT = 20_000;
/** Distinct calls remembered for the grant audit; past this, only calls already seen are counted. */
const RECORD_LIMIT = 50_000;

export class IamTwin {
  private readonly byAccessKey: Map<string, ResolvedRole>;
  private readonly decisions = new Map<string, Promise<string | undefined>>();
  private readonly records = new Map<string, CallRecord>();

  constructor(readonly roles: readonly ResolvedRole[]) {
    this.byAccessKey = new Map(roles.map((role) => [role.accessKeyId, role]));
  }

  static fromStack(roles: StackRoles, local: LocalResources): IamTwin {
    return new IamTwin(resolveRoles(roles, local));
  }

  /** The function role behind an access key id; undefined for the operator (unrestricted). */
  roleOf(accessKeyId: string | undefined): ResolvedRole | undefined {
    return accessKeyId === undefined ? undefined : this.byAccessKey.get(accessKeyId);
  }

  /**
   * Evaluates each authorization the request needs, in order; returns the first that is refused.
   * `undefined` when all are granted or the caller is not a function.
   */
  async authorize(
    accessKeyId: string | undefined,
    authorizations: readonly AwsAuthorization[],
  ): Promise<Denial | undefined> {
    const role = this.roleOf(accessKeyId);
    if (!role) return undefined;
    for (const authorization of authorizations) {
      const refusal = await this.decide(role, authorization);
      if (refusal !== undefined) {
        return {
          functionName: role.functionName,
          action: authorization.action,
          resource: authorization.resource,
          message: `User: ${role.sessionArn} is not authorized to perform: ${authorization.action} on resource: ${authorization.resource} ${refusal}`,
        };
      }
    }
    return undefined;
  }

  /** Every distinct (function, action, resource) evaluated so far, with its decision and count. */
  calls(): CallRecord[] {
    return [...this.records.values()];
  }

  denials(): CallRecord[] {
    return this.calls().filter((call) => !call.allowed);
  }

  /** Grants of the roles' inline policies that no recorded allowed call used. */
  unusedGrants(): UnusedGrant[] {
    const allowed = this.calls().filter((call) => call.allowed);
    const unused: UnusedGrant[] = [];
    for (const role of this.roles) {
      for (const statement of role.statements) {
        if (statement.Effect !== 'Allow') continue;
        for (const action of asList(statement.Action)) {
          for (const resource of asList(statement.Resource)) {
            const used = allowed.some(
              (call) =>
                call.functionName === role.functionName &&
                wildcardMatch(action, call.action, { ignoreCase: true }) &&
                wildcardMatch(resource, call.resource),
            );
            if (!used) unused.push({ functionName: role.functionName, action, resource });
          }
        }
      }
    }
    return unused;
  }

  /** undefined when allowed, else AWS's reason ("because no identity-based policy allows ..."). */
  private async decide(role: ResolvedRole, authorization: AwsAuthorization): Promise<string | undefined> {
    const context = authorization.context ?? {};
    const key = JSON.stringify([role.functionName, authorization.action, authorization.resource, context]);
    let decision = this.decisions.get(key);
    if (!decision) {
      if (this.decisions.size >= DECISION_CACHE_LIMIT) this.decisions.clear();
      decision = this.simulate(role, authorization, context);
      this.decisions.set(key, decision);
    }
    const refusal = await decision;
    this.record(role.functionName, authorization, refusal === undefined);
    return refusal;
  }

  private async simulate(
    role: ResolvedRole,
    { action, resource }: AwsAuthorization,
    context: Readonly<Record<string, string>>,
  ): Promise<string | undefined> {
    const result = await runSimulation(
      {
        request: {
          principal: role.roleArn,
          action,
          resource: { resource, accountId: LOCAL_ACCOUNT_ID },
          contextVariables: { ...context },
        },
        identityPolicies: [{ name: 'role', policy: { Version: '2012-10-17', Statement: role.statements } }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
      },
      {},
    );
    if (result.resultType === 'error') {
      // An action or ARN the evaluator cannot place: AWS would not grant it either.
      return `because the request could not be evaluated (${result.errors.message})`;
    }
    if (result.overallResult === 'Allowed') return undefined;
    return result.overallResult === 'ExplicitlyDenied'
      ? `with an explicit deny in an identity-based policy`
      : `because no identity-based policy allows the ${action} action`;
  }

  private record(functionName: string, authorization: AwsAuthorization, allowed: boolean): void {
    const key = `${functionName}\0${authorization.action}\0${authorization.resource}\0${allowed}`;
    const existing = this.records.get(key);
    if (existing) existing.count += 1;
    else if (this.records.size < RECORD_LIMIT)
      this.records.set(key, {
        functionName,
        action: authorization.action,
        resource: authorization.resource,
        allowed,
        count: 1,
      });
  }
}

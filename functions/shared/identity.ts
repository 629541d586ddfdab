import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/** Who is calling, resolved in this one place from what API Gateway's authorizers put in the event. */
export type Caller =
  | { kind: 'user'; userId: string; admin: boolean }
  | { kind: 'service'; principal: string }
  /** No authorizer in front of the function (local development without auth). */
  | { kind: 'unauthenticated' };

export interface IdentityConfig {
  /** JWT claim holding the shop's user id. @default 'sub' */
  userClaim: string;
  /** A scope that makes a token an admin token. @default 'lookalike/admin' */
  adminScope: string;
  /** Cognito group that makes a user an admin. @default 'admin' */
  adminGroup: string;
}

export const DEFAULT_IDENTITY_CONFIG: IdentityConfig = {
  userClaim: 'sub',
  adminScope: 'lookalike/admin',
  adminGroup: 'admin',
};

type AuthorizerContext = {
  jwt?: { claims?: Record<string, string | number | boolean | string[]>; scopes?: string[] | null };
  iam?: { userArn?: string; callerId?: string };
};

const asList = (value: unknown): string[] => {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value !== 'string') return [];
  // API Gateway flattens array claims into "[a b]" strings.
  return value
    .replace(/^\[|\]$/g, '')
    .split(/[\s,]+/)
    .filter(Boolean);
};

export function resolveCaller(
  event: APIGatewayProxyEventV2,
  config: IdentityConfig = DEFAULT_IDENTITY_CONFIG,
): Caller {
  const authorizer = (event.requestContext as { authorizer?: AuthorizerContext }).authorizer;
  if (authorizer?.jwt?.claims) {
    const claims = authorizer.jwt.claims;
    const userId = claims[config.userClaim];
    const scopes = [...(authorizer.jwt.scopes ?? []), ...asList(claims.scope)];
    const groups = asList(claims['cognito:groups']);
    return {
      kind: 'user',
      userId: typeof userId === 'string' ? userId : String(userId ?? ''),
      admin: scopes.includes(config.adminScope) || groups.includes(config.adminGroup),
    };
  }
  if (authorizer?.iam)
    return { kind: 'service', principal: authorizer.iam.userArn ?? authorizer.iam.callerId ?? 'iam' };
  return { kind: 'unauthenticated' };
}

/** May this caller read or write this user's data? */
export function canActFor(caller: Caller, userId: string): boolean {
  if (caller.kind === 'user') return caller.admin || (caller.userId !== '' && caller.userId === userId);
  // Trusted back ends (IAM) and an API without authorizers (local development) act for anyone.
  return true;
}

/** The identity settings the stack passes to the functions. */
export function identityConfigFromEnv(env: NodeJS.ProcessEnv = process.env): IdentityConfig {
  return {
    userClaim: env.USER_CLAIM || DEFAULT_IDENTITY_CONFIG.userClaim,
    adminScope: env.ADMIN_SCOPE || DEFAULT_IDENTITY_CONFIG.adminScope,
    adminGroup: env.ADMIN_GROUP || DEFAULT_IDENTITY_CONFIG.adminGroup,
  };
}

import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { DEFAULT_IDENTITY_CONFIG, type IdentityConfig } from '../contract/identity';

/** Who is calling, resolved in this one place from what API Gateway's authorizers put in the event. */
export type Caller =
  | { kind: 'user'; userId: string; admin: boolean }
  | { kind: 'service'; principal: string }
  /** No authorizer in front of the function (local development without auth). */
  | { kind: 'unauthenticated' };

type AuthorizerContext = {
  jwt?: { claims?: Record<string, string | number | boolean | string[]>; scopes?: string[] | null };
  iam?: { userArn?: string; callerId?: string };
};

/**
 * The scopes of a `scope` claim: OAuth 2.0 scope tokens are separated by single spaces and cannot
 * contain one (RFC 6749, section 3.3), so a comma or a bracket is part of a scope, never a separator.
 */
const scopesOf = (claim: unknown): string[] => (typeof claim === 'string' ? claim.split(' ') : []);

/**
 * The group names a `cognito:groups` claim proves, or none when it proves nothing.
 *
 * HTTP APIs hand the function every claim as a string; an array becomes its elements joined by single
 * spaces inside brackets, with nothing escaped: `["a", "b"]` arrives as `[a b]` (measured against
 * live HTTP APIs, floci-io/floci#2011). That form cannot tell the groups `a` and `b` from one group
 * `a b`, so only a list with no space in it is read: `[admin]` is the group `admin`, while
 * `[not admin]` or `[admin editors]` prove no group at all. A string without the brackets is one
 * group name as it stands (`x,admin` is not `admin`); a real array (a payload that kept claim types)
 * is taken element by element.
 */
export function provenGroups(claim: unknown): string[] {
  if (Array.isArray(claim)) return claim.filter((group): group is string => typeof group === 'string');
  if (typeof claim !== 'string' || claim === '') return [];
  if (!(claim.startsWith('[') && claim.endsWith(']'))) return [claim];
  const inner = claim.slice(1, -1);
  return inner === '' || inner.includes(' ') ? [] : [inner];
}

export function resolveCaller(
  event: APIGatewayProxyEventV2,
  config: IdentityConfig = DEFAULT_IDENTITY_CONFIG,
): Caller {
  const authorizer = (event.requestContext as { authorizer?: AuthorizerContext }).authorizer;
  if (authorizer?.jwt?.claims) {
    const claims = authorizer.jwt.claims;
    const userId = claims[config.userClaim];
    // API Gateway fills jwt.scopes only on routes that require scopes; the claim is always there.
    const scopes = [...(authorizer.jwt.scopes ?? []), ...scopesOf(claims.scope)];
    const groups = provenGroups(claims['cognito:groups']);
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

/**
 * May this caller manage the merchandising rules (the `admin` routes)? Only an admin token, or an API
 * without authorizers (local development); the routes take no IAM callers (their authorizer is JWT).
 */
export function isAdmin(caller: Caller): boolean {
  return caller.kind === 'unauthenticated' || (caller.kind === 'user' && caller.admin);
}

/**
 * How a caller's identity is read from a token: the claim that holds the shop's user id and what
 * makes a token an admin's. The stack passes these to the API functions (USER_CLAIM, ADMIN_SCOPE,
 * ADMIN_GROUP); the local twin's token issuer uses the same defaults.
 */
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

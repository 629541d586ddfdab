import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { canActFor, provenGroups, resolveCaller } from '../../functions/http/identity';
import { flattenClaims } from '../../infra/local/api-gateway';

/** The event an HTTP API hands the function for a token with these claims (as the twin flattens them). */
function eventWithToken(payload: Record<string, unknown>, scopes: string[] | null = null) {
  return {
    requestContext: { authorizer: { jwt: { claims: flattenClaims({ sub: 'alice', ...payload }), scopes } } },
  } as unknown as APIGatewayProxyEventV2;
}

const isAdmin = (payload: Record<string, unknown>, scopes: string[] | null = null) => {
  const caller = resolveCaller(eventWithToken(payload, scopes));
  return caller.kind === 'user' && caller.admin;
};

describe('flattenClaims, as an HTTP API passes claims to the function', () => {
  it('keeps strings, writes numbers, booleans and objects as JSON, joins arrays with spaces in brackets, drops nulls', () => {
    expect(
      flattenClaims({
        sub: 'alice',
        iat: 1516239022,
        email_verified: true,
        'cognito:groups': ['admin', 'not admin', 'x,admin', '"q"', 7],
        address: { city: 'Seattle' },
        gone: null,
      }),
    ).toEqual({
      sub: 'alice',
      iat: '1516239022',
      email_verified: 'true',
      'cognito:groups': '[admin not admin x,admin "q" 7]',
      address: '{"city":"Seattle"}',
    });
  });
});

describe('resolveCaller: admin by group', () => {
  it('makes a member of exactly the group admin an admin, flattened or as a typed array', () => {
    expect(isAdmin({ 'cognito:groups': ['admin'] })).toBe(true);
    const typed = {
      requestContext: { authorizer: { jwt: { claims: { sub: 'alice', 'cognito:groups': ['admin'] } } } },
    } as unknown as APIGatewayProxyEventV2;
    expect(resolveCaller(typed)).toEqual({ kind: 'user', userId: 'alice', admin: true });
  });

  it.each([
    ['x,admin', ['x,admin']],
    ['admin,x', ['admin,x']],
    ['not admin', ['not admin']],
    ['admin x', ['admin x']],
    ['[admin]', ['[admin]']],
    ['"admin"', ['"admin"']],
    ["'admin'", ["'admin'"]],
    ['admin]', ['admin]']],
    ['ADMIN', ['ADMIN']],
    ['admins', ['admins']],
    [' admin', [' admin']],
    ['no groups', []],
  ])('does not make a member of the group %s an admin', (_name, groups) => {
    expect(isAdmin({ 'cognito:groups': groups })).toBe(false);
  });

  it('grants nothing for a list it cannot split with certainty, even one that may hold admin', () => {
    // "[admin editors]" is the groups admin and editors, or the one group "admin editors".
    expect(isAdmin({ 'cognito:groups': ['admin', 'editors'] })).toBe(false);
    expect(isAdmin({ 'cognito:groups': ['editors', 'admin'] })).toBe(false);
    expect(provenGroups('[admin editors]')).toEqual([]);
  });

  it('reads a claim that is a plain string as one group name', () => {
    expect(provenGroups('admin')).toEqual(['admin']);
    expect(provenGroups('x,admin')).toEqual(['x,admin']);
    expect(provenGroups('not admin')).toEqual(['not admin']);
    expect(isAdmin({ 'cognito:groups': 'x,admin' })).toBe(false);
    expect(isAdmin({ 'cognito:groups': 'admin' })).toBe(true);
  });

  it('compares with the configured admin group', () => {
    const event = eventWithToken({ 'cognito:groups': ['ops'] });
    expect(
      resolveCaller(event, { userClaim: 'sub', adminScope: 'lookalike/admin', adminGroup: 'ops' }),
    ).toEqual({
      kind: 'user',
      userId: 'alice',
      admin: true,
    });
  });
});

describe('resolveCaller: admin by scope', () => {
  it('takes the admin scope from the space-separated scope claim, or from jwt.scopes', () => {
    expect(isAdmin({ scope: 'lookalike/admin' })).toBe(true);
    expect(isAdmin({ scope: 'openid lookalike/admin profile' })).toBe(true);
    expect(isAdmin({}, ['lookalike/admin'])).toBe(true);
  });

  it.each([
    'x,lookalike/admin',
    'lookalike/admin,x',
    '[lookalike/admin',
    'lookalike/admins',
    'lookalike/read admin',
  ])('does not take %s as the admin scope', (scope) => {
    expect(isAdmin({ scope })).toBe(false);
  });
});

describe('canActFor', () => {
  it('lets a user act for themselves only, an admin for anyone', () => {
    const user = resolveCaller(eventWithToken({ 'cognito:groups': ['not admin'] }));
    expect([canActFor(user, 'alice'), canActFor(user, 'bob')]).toEqual([true, false]);
    const admin = resolveCaller(eventWithToken({ 'cognito:groups': ['admin'] }));
    expect(canActFor(admin, 'bob')).toBe(true);
  });
});

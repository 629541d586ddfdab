/**
 * The local stand-in for the deployed authorizers, so the same checks run in tests and `npm start`:
 * a local JWT issuer (its own signing key and JWKS) for user and catalogue routes, and SigV4
 * verification with the local credentials for IAM routes. Nothing here is deployed.
 */

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  jwtVerify,
  type KeyLike,
  SignJWT,
} from 'jose';
import { DEFAULT_IDENTITY_CONFIG } from '../../functions/contract/identity';
import type { Route } from '../../functions/contract/routes';
import { type Authorize, type AuthResult, flattenClaims } from './api-gateway';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from './aws-env';

export const LOCAL_ISSUER = 'https://lookalike.local/issuer';
export const LOCAL_AUDIENCE = 'lookalike-local';
export const ADMIN_SCOPE = DEFAULT_IDENTITY_CONFIG.adminScope;
const KEY_ID = 'lookalike-local-1';

export interface TokenOptions {
  admin?: boolean;
  /** @default 3600 */
  expiresInSeconds?: number;
  /** Override or add claims (tests use this for wrong issuers and the like). */
  claims?: Record<string, unknown>;
  issuer?: string;
  audience?: string;
}

export interface LocalIssuer {
  readonly issuer: string;
  readonly audience: string;
  readonly jwks: JSONWebKeySet;
  token(userId: string, options?: TokenOptions): Promise<string>;
  /** The route authorizers of the deployed API, for the local API server. */
  readonly authorize: Authorize;
}

interface StoredKey {
  privateJwk: JWK;
  publicJwk: JWK;
}

async function loadOrCreateKey(
  keyFile?: string,
): Promise<{ privateKey: KeyLike | Uint8Array; publicJwk: JWK }> {
  if (keyFile && existsSync(keyFile)) {
    const stored = JSON.parse(readFileSync(keyFile, 'utf8')) as StoredKey;
    return { privateKey: await importJWK(stored.privateJwk, 'ES256'), publicJwk: stored.publicJwk };
  }
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid: KEY_ID, alg: 'ES256', use: 'sig' };
  if (keyFile) {
    mkdirSync(dirname(keyFile), { recursive: true });
    writeFileSync(
      keyFile,
      JSON.stringify({ privateJwk: await exportJWK(privateKey), publicJwk } satisfies StoredKey),
      { mode: 0o600 },
    );
  }
  return { privateKey, publicJwk };
}

/**
 * @param keyFile keep the signing key here so that tokens printed by `npm run token` work against a
 * running `npm start` (both use the data folder's key).
 */
export async function createLocalIssuer(
  options: { keyFile?: string; userClaim?: string } = {},
): Promise<LocalIssuer> {
  const { privateKey, publicJwk } = await loadOrCreateKey(options.keyFile);
  const jwks: JSONWebKeySet = { keys: [publicJwk] };
  const keySet = createLocalJWKSet(jwks);
  const userClaim = options.userClaim ?? 'sub';

  const token = async (userId: string, tokenOptions: TokenOptions = {}) => {
    const claims: Record<string, unknown> = {
      [userClaim]: userId,
      ...(tokenOptions.admin ? { scope: ADMIN_SCOPE } : {}),
      ...tokenOptions.claims,
    };
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: KEY_ID, typ: 'JWT' })
      .setIssuer(tokenOptions.issuer ?? LOCAL_ISSUER)
      .setAudience(tokenOptions.audience ?? LOCAL_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + (tokenOptions.expiresInSeconds ?? 3600))
      .sign(privateKey);
  };

  const authorize: Authorize = async (event, route: Route) => {
    if (route.auth === 'iam')
      return (await verifySigV4(event)) ? iamAuthorizer() : { allow: false, status: 403 };
    const header = event.headers?.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) return { allow: false, status: 401 };
    try {
      const { payload } = await jwtVerify(match[1] as string, keySet, {
        issuer: LOCAL_ISSUER,
        audience: LOCAL_AUDIENCE,
        algorithms: ['ES256'],
      });
      // The routes ask for no authorization scopes, so API Gateway passes `scopes: null` and the
      // function reads the `scope` claim, flattened like every claim.
      const claims = flattenClaims(payload);
      return {
        allow: true,
        authorizer: { jwt: { claims, scopes: null }, principalId: '', integrationLatency: 0 },
      };
    } catch {
      return { allow: false, status: 401 };
    }
  };

  return { issuer: LOCAL_ISSUER, audience: LOCAL_AUDIENCE, jwks, token, authorize };
}

function iamAuthorizer(): AuthResult {
  return {
    allow: true,
    authorizer: {
      iam: {
        accessKey: LOCAL_CREDENTIALS.accessKeyId,
        accountId: '000000000000',
        callerId: 'AIDALOCAL',
        cognitoIdentity: null,
        principalOrgId: '',
        userArn: 'arn:aws:iam::000000000000:user/local-backend',
        userId: 'AIDALOCAL',
      },
    },
  };
}

const signer = new SignatureV4({
  credentials: LOCAL_CREDENTIALS,
  region: LOCAL_REGION,
  service: 'execute-api',
  sha256: Hash.bind(null, 'sha256'),
});

/** Re-signs the request with the local credentials and compares signatures, as IAM auth would. */
async function verifySigV4(event: APIGatewayProxyEventV2): Promise<boolean> {
  const authorization = event.headers?.authorization ?? '';
  const parsed =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/[^,]+, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(
      authorization,
    );
  const amzDate = event.headers?.['x-amz-date'];
  if (!parsed || !amzDate || parsed[1] !== LOCAL_CREDENTIALS.accessKeyId) return false;
  const signedHeaders = (parsed[3] as string).split(';');
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = event.headers?.[name];
    if (value === undefined) return false;
    headers[name] = value;
  }
  const signingDate = new Date(
    amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
  );
  if (Number.isNaN(signingDate.getTime()) || Math.abs(Date.now() - signingDate.getTime()) > 15 * 60_000)
    return false;
  const body =
    event.body === undefined
      ? undefined
      : event.isBase64Encoded
        ? Buffer.from(event.body, 'base64')
        : event.body;
  // The signer takes a signed x-amz-content-sha256 header as the payload hash without hashing the body:
  // the body must match it, or a signed request would carry any payload.
  const payloadHash = headers['x-amz-content-sha256'];
  const bodyHash = createHash('sha256')
    .update(body ?? '')
    .digest('hex');
  if (payloadHash !== undefined && payloadHash !== bodyHash) return false;
  const query = Object.fromEntries(new URLSearchParams(event.rawQueryString ?? ''));
  const [hostname = '', port] = (headers.host ?? '').split(':');
  const signed = await signer.sign(
    {
      method: event.requestContext.http.method,
      protocol: 'http:',
      hostname,
      ...(port ? { port: Number(port) } : {}),
      path: event.rawPath,
      query,
      headers,
      body,
    },
    {
      signingDate,
      unsignableHeaders: new Set(Object.keys(event.headers ?? {}).filter((h) => !signedHeaders.includes(h))),
    },
  );
  const expected = /Signature=([0-9a-f]+)/.exec(String(signed.headers.authorization ?? ''))?.[1];
  return expected !== undefined && expected === parsed[4];
}

/** Signs a request for an IAM route with the local credentials (what a trusted back end's SDK does). */
export async function signForLocalIam(request: {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}): Promise<Record<string, string>> {
  const url = new URL(request.url);
  const signed = await signer.sign({
    method: request.method,
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: { ...request.headers, host: url.host },
    ...(request.body !== undefined ? { body: request.body } : {}),
  });
  return Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
}

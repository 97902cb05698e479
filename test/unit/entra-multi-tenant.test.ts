import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevIdentityProvider, type DevIdentityProvider } from '../../local/idp.ts';
import { loadConfig } from '../../shared/config/config.ts';
import { EntraClient } from '../../shared/oauth/client.ts';
import { expectedDiscoveryIssuer, expectedIdTokenIssuer } from '../../shared/oauth/issuer.ts';

const ENTRA = 'https://login.microsoftonline.com';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

let idp: DevIdentityProvider;
beforeAll(async () => {
  idp = await startDevIdentityProvider();
});
afterAll(async () => idp?.stop());

/**
 * Serves Entra's multi-tenant discovery shape (template issuer) from the dev IdP: requests to
 * login.microsoftonline.com are answered by the local server; nothing leaves the machine.
 */
const entraLikeFetch = async (input: string, init: RequestInit): Promise<Response> => {
  const url = new URL(input);
  if (url.origin !== ENTRA) throw new TypeError(`fetch to unexpected host ${url.origin}`);
  if (url.pathname === '/organizations/v2.0/.well-known/openid-configuration') {
    const doc = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      string
    >;
    const rewrite = (u: string) => u.replace(idp.issuer, `${ENTRA}/mock`);
    return Response.json({
      ...Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, typeof v === 'string' ? rewrite(v) : v])),
      issuer: `${ENTRA}/{tenantid}/v2.0`,
    });
  }
  if (url.pathname.startsWith('/mock/')) {
    return fetch(`${idp.issuer}${url.pathname.slice('/mock'.length)}${url.search}`, init);
  }
  return new Response('not found', { status: 404 });
};

async function exchangeWithIssuer(claims: Record<string, unknown>) {
  const config = loadConfig({
    ENTRA_AUTHORITY: `${ENTRA}/organizations/v2.0`,
    CLIENT_ID: 'multi-tenant-client',
    DYNAMICS_URL: 'https://contoso.crm.dynamics.com',
    PUBLIC_BASE_URL: 'https://auth.example.com',
    ALLOWED_RETURN_URLS: 'https://app.example.com',
  });
  const client = new EntraClient(config, { fetch: entraLikeFetch });
  const verifier = oauth.generateRandomCodeVerifier();
  const nonce = oauth.generateRandomNonce();
  const state = oauth.generateRandomState();
  const authorize = new URL(
    await client.buildAuthorizationUrl({
      state,
      nonce,
      codeChallenge: await oauth.calculatePKCECodeChallenge(verifier),
    }),
  );
  expect(authorize.origin).toBe(ENTRA);
  const local = `${idp.issuer}${authorize.pathname.slice('/mock'.length)}${authorize.search}`;
  const redirected = new URL((await fetch(local, { redirect: 'manual' })).headers.get('location')!);
  const sign = (token: { payload: Record<string, unknown> }) => {
    if (!('scope' in token.payload)) Object.assign(token.payload, claims);
  };
  idp.server.service.on('beforeTokenSigning', sign);
  try {
    return await client.exchangeAuthorizationCode({
      callbackParameters: redirected.searchParams,
      expectedState: state,
      codeVerifier: verifier,
      nonce,
    });
  } finally {
    idp.server.service.off('beforeTokenSigning', sign);
  }
}

describe('Entra multi-tenant issuer validation', () => {
  it('expects the {tenantid} template from common/organizations discovery and the authority otherwise', () => {
    expect(expectedDiscoveryIssuer(new URL(`${ENTRA}/organizations/v2.0`)).href).toBe(`${ENTRA}/%7Btenantid%7D/v2.0`);
    expect(expectedDiscoveryIssuer(new URL(`${ENTRA}/common/v2.0`)).href).toBe(`${ENTRA}/%7Btenantid%7D/v2.0`);
    expect(expectedDiscoveryIssuer(new URL(`${ENTRA}/${TENANT}/v2.0`)).href).toBe(`${ENTRA}/${TENANT}/v2.0`);
  });

  it('fills the template with the token’s own tid, and refuses a tid that is not a tenant id', () => {
    expect(expectedIdTokenIssuer(`${ENTRA}/{tenantid}/v2.0`, { tid: TENANT })).toBe(`${ENTRA}/${TENANT}/v2.0`);
    expect(expectedIdTokenIssuer(`${ENTRA}/{tenantid}/v2.0`, { tid: '../evil' })).not.toContain('microsoftonline');
    expect(expectedIdTokenIssuer(`${ENTRA}/{tenantid}/v2.0`, {})).not.toContain('microsoftonline');
    expect(expectedIdTokenIssuer(`${ENTRA}/${TENANT}/v2.0`, { tid: 'x' })).toBe(`${ENTRA}/${TENANT}/v2.0`);
  });

  it('accepts an id_token whose iss names the tenant in its tid claim', async () => {
    const { user } = await exchangeWithIssuer({ iss: `${ENTRA}/${TENANT}/v2.0`, tid: TENANT });
    expect(user.tid).toBe(TENANT);
  });

  it('rejects an id_token whose iss names another tenant than its tid', async () => {
    await expect(
      exchangeWithIssuer({ iss: `${ENTRA}/00000000-0000-0000-0000-000000000001/v2.0`, tid: TENANT }),
    ).rejects.toMatchObject({ status: 400, code: 'invalid_id_token' });
  });

  it('rejects an id_token with the unfilled template issuer or without tid', async () => {
    await expect(exchangeWithIssuer({ iss: `${ENTRA}/{tenantid}/v2.0`, tid: TENANT })).rejects.toMatchObject({
      code: 'invalid_id_token',
    });
    await expect(exchangeWithIssuer({ iss: `${ENTRA}/${TENANT}/v2.0`, tid: undefined })).rejects.toMatchObject({
      code: 'invalid_id_token',
    });
    // Both at once: the literal template issuer and no tid must not fall back to the template.
    await expect(exchangeWithIssuer({ iss: `${ENTRA}/{tenantid}/v2.0`, tid: undefined })).rejects.toMatchObject({
      code: 'invalid_id_token',
    });
  });
});

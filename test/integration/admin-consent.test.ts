import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectMatchesOpenApi } from '../support/openapi.ts';
import {
  cookiePair,
  jsonBody,
  LOGIN_COOKIE,
  PUBLIC_BASE,
  RETURN_ORIGIN,
  startTestStack,
  type TestStack,
} from '../support/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => stack?.stop());

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

async function startConsent(query = `tenant=${TENANT}`) {
  const answer = await stack.routes().adminConsent({ path: '/auth/admin-consent', query });
  expect(answer.statusCode, answer.body).toBe(302);
  expectMatchesOpenApi('GET', '/auth/admin-consent', 302, answer);
  return new URL(answer.headers.Location!);
}

const consentCallback = (query: string) => stack.routes().adminConsent({ path: '/auth/admin-consent/callback', query });

/** A started sign-in: its state and binding cookie, to answer the callback with crafted parameters. */
async function pendingSignIn() {
  const login = await stack
    .routes()
    .login({ path: '/auth/login', query: `returnTo=${encodeURIComponent(`${RETURN_ORIGIN}/app`)}` });
  expect(login.statusCode).toBe(302);
  return {
    state: new URL(login.headers.Location!).searchParams.get('state')!,
    binding: cookiePair(login.cookies, LOGIN_COOKIE)!,
  };
}

describe('admin consent', () => {
  it('sends an administrator to the cloud’s adminconsent endpoint for the Dataverse user_impersonation scope, with a single-use state', async () => {
    const url = await startConsent();
    expect(url.origin + url.pathname).toBe(`${new URL(stack.idp.issuer).origin}/${TENANT}/v2.0/adminconsent`);
    expect(url.searchParams.get('client_id')).toBe('test-client');
    expect(url.searchParams.get('scope')).toBe(`${stack.dataverse.url}/user_impersonation`);
    expect(url.searchParams.get('redirect_uri')).toBe(`${PUBLIC_BASE}/auth/admin-consent/callback`);
    expect(url.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Without a tenant: whichever organization the administrator signs in to.
    expect((await startConsent('')).pathname).toBe('/organizations/v2.0/adminconsent');
    expect((await startConsent('tenant=contoso.onmicrosoft.com')).pathname).toBe(
      '/contoso.onmicrosoft.com/v2.0/adminconsent',
    );
  });

  it.each([['common'], ['../evil'], ['a b'], ['https://evil.example']])(
    'refuses tenant=%j with 400 JSON',
    async (tenant) => {
      const answer = await stack
        .routes()
        .adminConsent({ path: '/auth/admin-consent', query: `tenant=${encodeURIComponent(tenant)}` });
      expect(answer.statusCode).toBe(400);
      expectMatchesOpenApi('GET', '/auth/admin-consent', 400, answer);
      expect(jsonBody(answer).error).toBe('invalid_tenant');
    },
  );

  it('reports a granted consent once; the same state cannot be replayed', async () => {
    const state = (await startConsent()).searchParams.get('state')!;
    const granted = await consentCallback(`admin_consent=True&tenant=${TENANT}&scope=x&state=${state}`);
    expect(granted.statusCode).toBe(200);
    expectMatchesOpenApi('GET', '/auth/admin-consent/callback', 200, granted);
    expect(granted.headers['Content-Type']).toBe('text/html; charset=utf-8');
    expect(granted.body).toContain('Consent granted');
    expect(granted.body).toContain(TENANT);
    const replayed = await consentCallback(`admin_consent=True&tenant=${TENANT}&state=${state}`);
    expect(replayed.statusCode).toBe(400);
    expect(replayed.body).toContain('already used');
    // No state at all is refused the same way.
    expect((await consentCallback(`admin_consent=True&tenant=${TENANT}`)).statusCode).toBe(400);
  });

  it('reports a refused consent with the error code only, escaped, and a link to try again', async () => {
    const state = (await startConsent()).searchParams.get('state')!;
    const description = 'AADSTS65004: User declined to consent. <script>alert(1)</script> Trace ID: 1234';
    const refused = await consentCallback(
      `error=access_denied&error_description=${encodeURIComponent(description)}&state=${state}`,
    );
    expect(refused.statusCode).toBe(400);
    expectMatchesOpenApi('GET', '/auth/admin-consent/callback', 400, refused);
    expect(refused.body).toContain('<code>access_denied</code>');
    expect(refused.body).toContain('AADSTS65004');
    expect(refused.body).not.toContain('<script');
    expect(refused.body).not.toContain('Trace ID');
    expect(refused.body).toContain(`href="${PUBLIC_BASE}/auth/admin-consent"`);
  });

  it.each([
    ['consent_required', 'AADSTS65001: The user or administrator has not consented to use the application.'],
    ['access_denied', 'AADSTS90094: The grant requires admin permission.'],
  ])('a sign-in refused with %s (%s) shows what an administrator must do', async (error, description) => {
    const { state, binding } = await pendingSignIn();
    const sessions = stack.tokenRequests.length;
    const answer = await stack.routes().callback({
      path: '/auth/callback',
      query: `error=${error}&error_description=${encodeURIComponent(description)}&state=${state}`,
      cookies: [binding],
    });
    expect(answer.statusCode).toBe(403);
    expectMatchesOpenApi('GET', '/auth/callback', 403, answer);
    expect(answer.headers['Content-Type']).toBe('text/html; charset=utf-8');
    expect(answer.body).toContain('An administrator must approve this application');
    expect(answer.body).toContain(`href="${PUBLIC_BASE}/auth/admin-consent"`);
    expect(answer.body).not.toContain(state);
    expect(stack.tokenRequests.length).toBe(sessions);
  });

  it('other sign-in errors stay a 400 JSON error', async () => {
    const { state, binding } = await pendingSignIn();
    const answer = await stack.routes().callback({
      path: '/auth/callback',
      query: `error=access_denied&error_description=${encodeURIComponent('AADSTS65004: User declined to consent.')}&state=${state}`,
      cookies: [binding],
    });
    expect(answer.statusCode).toBe(400);
    expect(jsonBody(answer).error).toBe('sign_in_declined');
  });
});

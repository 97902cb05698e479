import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fetch } from '../../shared/oauth/client.ts';
import { createServices } from '../../shared/runtime.ts';
import { failRefreshGrants } from '../support/idp-faults.ts';
import { jsonBody, RETURN_ORIGIN, signIn, startTestStack, type TestStack } from '../support/stack.ts';

const POST_LOGOUT = `${RETURN_ORIGIN}/signed-out`;
let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ env: { POST_LOGOUT_REDIRECT_URI: POST_LOGOUT } });
});
afterAll(async () => stack?.stop());

const refresh = (routes: ReturnType<TestStack['routes']>, sessionCookie: string) =>
  routes.refresh({ method: 'POST', path: '/auth/refresh', cookies: [sessionCookie], headers: { 'x-csrf': '1' } });

describe('the Entra profile (default)', () => {
  it('sends no prompt and no resource unless configured, and keeps the resource scope on refresh', async () => {
    const { sessionCookie, authorizationUrl } = await signIn(stack);
    expect(authorizationUrl.searchParams.get('prompt')).toBeNull();
    expect(authorizationUrl.searchParams.has('resource')).toBe(false);
    expect((await refresh(stack.routes(), sessionCookie)).statusCode).toBe(200);
    const request = stack.tokenRequests.filter((r) => r.grant_type === 'refresh_token').at(-1)!;
    expect(request.scope).toBe(`${stack.config.dynamicsUrl!.origin}/user_impersonation offline_access openid profile`);
    expect(request).not.toHaveProperty('resource');
  });

  it('sends RFC 8707 resource on the authorization, code and refresh requests when RESOURCE_INDICATOR is set', async () => {
    const resource = stack.config.dynamicsUrl!.origin;
    const services = createServices(
      { ...stack.config, resourceIndicator: resource },
      { keyProvider: stack.keyProvider, dynamo: stack.dynamoClient },
    );
    const routes = stack.routes(services);
    const { sessionCookie, authorizationUrl } = await signIn(stack, routes);
    expect(authorizationUrl.searchParams.get('resource')).toBe(resource);
    expect(stack.tokenRequests.filter((r) => r.grant_type === 'authorization_code').at(-1)!.resource).toBe(resource);
    expect((await refresh(routes, sessionCookie)).statusCode).toBe(200);
    const request = stack.tokenRequests.filter((r) => r.grant_type === 'refresh_token').at(-1)!;
    expect(request.resource).toBe(resource);
    expect(request.scope).toContain('/user_impersonation');
  });

  it('asks for select_account and consent together on a connect sign-in with the standard profile', async () => {
    const entra = await createServices(
      { ...stack.config, idpProfile: 'standard' },
      { keyProvider: stack.keyProvider, dynamo: stack.dynamoClient },
    ).entra();
    const url = new URL(
      await entra.buildAuthorizationUrl({ state: 's', nonce: 'n', codeChallenge: 'c', prompt: 'select_account' }),
    );
    expect(url.searchParams.get('prompt')).toBe('select_account consent');
  });

  it("treats unauthorized_client as the service's misconfiguration (502 client_rejected, session kept)", async () => {
    const { sessionCookie } = await signIn(stack);
    const restore = failRefreshGrants(stack.idp.server, 400, { error: 'unauthorized_client' });
    try {
      const answer = await refresh(stack.routes(), sessionCookie);
      expect(answer.statusCode).toBe(502);
      expect(jsonBody(answer).error).toBe('client_rejected');
    } finally {
      restore();
    }
    expect((await refresh(stack.routes(), sessionCookie)).statusCode).toBe(200);
  });

  it('skips revocation where discovery names no revocation endpoint (Entra), and still ends the session', async () => {
    const calls: string[] = [];
    // Entra's discovery document has no revocation_endpoint.
    const entraLikeDiscovery: Fetch = async (input, init) => {
      calls.push(new URL(input).pathname);
      const response = await fetch(input, init);
      if (!new URL(input).pathname.endsWith('/.well-known/openid-configuration')) return response;
      const { revocation_endpoint: _dropped, ...metadata } = (await response.json()) as Record<string, unknown>;
      return Response.json(metadata);
    };
    const routes = stack.routes(
      createServices(stack.config, {
        keyProvider: stack.keyProvider,
        dynamo: stack.dynamoClient,
        idpFetch: entraLikeDiscovery,
      }),
    );
    const { sessionCookie } = await signIn(stack, routes);
    const answer = await routes.logout({
      method: 'POST',
      path: '/auth/logout',
      cookies: [sessionCookie],
      headers: { 'x-csrf': '1' },
    });
    expect(answer.statusCode).toBe(200);
    expect(calls.some((path) => /revoke|revocation/.test(path))).toBe(false);
    const logoutUrl = new URL(jsonBody(answer).logoutUrl as string);
    expect(logoutUrl.searchParams.get('post_logout_redirect_uri')).toBe(POST_LOGOUT);
    expect(logoutUrl.searchParams.has('logout_hint')).toBe(false);
    expect((await routes.session({ path: '/auth/session', cookies: [sessionCookie] })).statusCode).toBe(401);
  });
});

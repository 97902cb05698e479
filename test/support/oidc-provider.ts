import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { CookieJar } from './cookie-jar.ts';

/**
 * A certified OpenID Provider (oidc-provider) on 127.0.0.1, configured strictly: PKCE required,
 * refresh tokens rotated on every use with the library's reuse detection (a spent refresh token
 * revokes its grant), RFC 7009 revocation, RP-Initiated Logout. Login and consent are completed by
 * a small interaction handler, so a test drives the authorization endpoint over HTTP like a browser.
 */

export type TokenEndpointAuthMethod =
  'client_secret_post' | 'client_secret_basic' | 'client_secret_jwt' | 'private_key_jwt' | 'none';

export interface TestClient {
  clientId: string;
  /** Required for the client_secret_* methods. */
  clientSecret?: string;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  /** For private_key_jwt: the client's public keys. */
  jwks?: { keys: Record<string, unknown>[] };
}

export interface TestAccount {
  sub: string;
  name?: string;
  preferred_username?: string;
  /** Entra's `login_hint` optional claim, for logout_hint tests. */
  login_hint?: string;
}

export interface OidcProviderOptions {
  clients: TestClient[];
  account?: TestAccount;
  /** Access-token lifetime in seconds (default 3600). */
  accessTokenTtlSeconds?: number;
}

export interface TestOidcProvider {
  issuer: string;
  provider: Provider;
  /** Token-endpoint requests as received (form fields), for asserting what a client sent. */
  tokenRequests: Record<string, string>[];
  /**
   * Follows an authorization URL through login and consent (auto-completed) and returns the URL the
   * provider redirects the browser to (the client's redirect_uri with code or error).
   */
  authorize(authorizationUrl: string | URL): Promise<URL>;
  stop(): Promise<void>;
}

export const DEFAULT_ACCOUNT: TestAccount = {
  sub: 'user-1',
  name: 'Test User',
  preferred_username: 'user@example.com',
};

/** Bounded redirect chain: authorize → login → resume → consent → resume → redirect_uri. */
const MAX_HOPS = 12;

export async function startOidcProvider(options: OidcProviderOptions): Promise<TestOidcProvider> {
  const account = options.account ?? DEFAULT_ACCOUNT;
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

  const provider = new Provider(issuer, {
    clients: options.clients.map((c) => ({
      client_id: c.clientId,
      ...(c.clientSecret ? { client_secret: c.clientSecret } : {}),
      token_endpoint_auth_method: c.tokenEndpointAuthMethod,
      redirect_uris: c.redirectUris,
      post_logout_redirect_uris: c.postLogoutRedirectUris ?? [],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      ...(c.jwks ? { jwks: c.jwks } : {}),
    })),
    jwks: { keys: [{ ...signingKey, use: 'sig', kid: 'test-signing-key' }] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    async findAccount(_ctx: unknown, sub: string) {
      return { accountId: sub, claims: async () => ({ ...account, sub }) };
    },
    claims: { openid: ['sub'], profile: ['name', 'preferred_username', 'login_hint'] },
    // The service reads name/username/login_hint from the id_token, as Entra puts them there.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    // Rotate on every use; a rotated (consumed) refresh token presented again revokes the grant.
    rotateRefreshToken: true,
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: options.accessTokenTtlSeconds ?? 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 86_400,
      RefreshToken: 86_400,
    },
  });

  const tokenRequests: Record<string, string>[] = [];
  // The token endpoint's parameters as the provider parsed them (body and Authorization header).
  const record = (ctx: unknown) => {
    const params = (ctx as { oidc?: { params?: Record<string, unknown> } }).oidc?.params ?? {};
    tokenRequests.push(
      Object.fromEntries(Object.entries(params).filter(([, v]) => typeof v === 'string')) as Record<string, string>,
    );
  };
  provider.on('grant.success', record);
  provider.on('grant.error', record);
  const providerHandler = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/interaction/')) {
      completeInteraction(provider, req, res).catch(() => {
        res.statusCode = 500;
        res.end();
      });
      return;
    }
    providerHandler(req, res);
  });

  return {
    issuer,
    provider,
    tokenRequests,
    authorize: async (authorizationUrl) => {
      const jar = new CookieJar();
      let url = new URL(authorizationUrl);
      for (let hop = 0; hop < MAX_HOPS; hop++) {
        if (url.origin !== issuer) return url;
        const response = await jar.fetch(url.href);
        const location = response.headers.get('location');
        if (!location)
          throw new Error(`the provider answered ${response.status} at ${url.pathname}: ${await response.text()}`);
        url = new URL(location, url);
      }
      throw new Error('the authorization did not finish within the expected redirects');
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Signs the configured account in, and grants whatever the client asked for. */
async function completeInteraction(provider: Provider, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const interaction = await provider.interactionDetails(req, res);
  if (interaction.prompt.name === 'login') {
    const sub = DEFAULT_ACCOUNT.sub;
    await provider.interactionFinished(req, res, { login: { accountId: sub } }, { mergeWithLastSubmission: false });
    return;
  }
  const details = interaction.prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  const grant =
    (interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined) ??
    new provider.Grant({ accountId: interaction.session!.accountId, clientId: String(interaction.params.client_id) });
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

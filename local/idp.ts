import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OAuth2Server } from 'oauth2-mock-server';

export interface DevUser {
  oid: string;
  tid: string;
  name: string;
  preferred_username: string;
}

export const DEV_USER: DevUser = {
  oid: '11111111-2222-4333-8444-555555555555',
  tid: '99999999-8888-4777-8666-555555555555',
  name: 'Dana Developer',
  preferred_username: 'dana@contoso.example',
};

/** A user of a second tenant (Fabrikam), with environments of their own and none of Contoso's. */
export const DEV_USER_OTHER_TENANT: DevUser = {
  oid: '22222222-3333-4444-8555-666666666666',
  tid: '77777777-6666-4555-8444-333333333333',
  name: 'Bo Builder',
  preferred_username: 'bo@fabrikam.example',
};

/** The users the dev IdP signs in: Dana (the default) and a user of another tenant. */
export const DEV_USERS: readonly DevUser[] = [DEV_USER, DEV_USER_OTHER_TENANT];

export interface DevIdentityProvider {
  server: OAuth2Server;
  issuer: string;
  stop: () => Promise<void>;
}

/**
 * Starts the development identity provider (oauth2-mock-server) on loopback. It signs users in
 * without a password; id_tokens and access tokens carry Entra-like claims (oid, tid, name,
 * preferred_username) so the service sees what Entra would send. The authorize endpoint signs in
 * the known user its `login_hint` names (case-insensitive), else the user chosen in this browser at
 * `/select-account` (the IdP's own session cookie, as a browser stays signed in to Entra), else the
 * default user; a refresh token
 * stays with the user it was issued to, and each grant's access token is for the resource its
 * scope names.
 */
export async function startDevIdentityProvider(
  options: {
    port?: number;
    user?: DevUser;
    users?: readonly DevUser[];
    accessTokenTtlSeconds?: number;
    audience?: string;
  } = {},
): Promise<DevIdentityProvider> {
  const server = new OAuth2Server();
  await server.issuer.keys.generate('RS256');
  const defaultUser = options.user ?? DEV_USER;
  const users = options.users ?? DEV_USERS;
  // The scopes a user consented to and the user who signed in, by authorization code (single use).
  const scopesByCode = new Map<string, string>();
  const usersByCode = new Map<string, DevUser>();
  // The user each refresh token was issued to: a refresh token redeems tokens for that user only.
  const usersByRefreshToken = new Map<string, DevUser>();
  server.service.on(
    'beforeAuthorizeRedirect',
    (redirect: { url: URL }, req: { query: Record<string, unknown>; headers: IncomingMessage['headers'] }) => {
      const code = redirect.url.searchParams.get('code');
      if (!code) return;
      if (typeof req.query.scope === 'string') scopesByCode.set(code, req.query.scope);
      usersByCode.set(
        code,
        userNamed(users, req.query.login_hint) ?? userNamed(users, chosenAccount(req.headers)) ?? defaultUser,
      );
    },
  );
  serveAccountChooser(server, users);
  const userOf = (body: Record<string, unknown> | undefined): DevUser => {
    if (typeof body?.code === 'string') return usersByCode.get(body.code) ?? defaultUser;
    if (typeof body?.refresh_token === 'string') return usersByRefreshToken.get(body.refresh_token) ?? defaultUser;
    return defaultUser;
  };
  server.service.on(
    'beforeTokenSigning',
    (token: { payload: Record<string, unknown> }, req: { body?: Record<string, unknown> }) => {
      const user = userOf(req.body);
      // `uti`, like Entra's: a unique id, so two tokens issued in the same second never coincide.
      Object.assign(token.payload, { ...user, sub: user.oid, uti: randomUUID() });
      const isAccessToken = 'scope' in token.payload;
      if (!isAccessToken) return;
      const code = typeof req.body?.code === 'string' ? req.body.code : undefined;
      const scope = code ? scopesByCode.get(code) : typeof req.body?.scope === 'string' ? req.body.scope : undefined;
      if (code) scopesByCode.delete(code);
      if (scope) token.payload.scope = scope;
      // Entra issues an access token for the resource its scopes name: `aud` is that resource's URL.
      const audience = options.audience ?? resourceOf(scope);
      if (audience) token.payload.aud = audience;
      if (options.accessTokenTtlSeconds !== undefined) {
        token.payload.exp = Math.floor(Date.now() / 1000) + options.accessTokenTtlSeconds;
      }
    },
  );
  server.service.on(
    'beforeResponse',
    (response: { body: Record<string, unknown> }, req: { body?: Record<string, unknown> }) => {
      const user = userOf(req.body);
      if (typeof req.body?.code === 'string') usersByCode.delete(req.body.code);
      if (typeof response.body.refresh_token === 'string') usersByRefreshToken.set(response.body.refresh_token, user);
    },
  );
  if (options.accessTokenTtlSeconds !== undefined) {
    const ttl = options.accessTokenTtlSeconds;
    server.service.on('beforeResponse', (response: { body: Record<string, unknown> }) => {
      if (typeof response.body.access_token === 'string') response.body.expires_in = ttl;
    });
  }
  publishClientAuthMethods(server);
  await server.start(options.port ?? 0, '127.0.0.1');
  const issuer = server.issuer.url;
  if (!issuer) throw new Error('oauth2-mock-server did not report its issuer URL');
  return { server, issuer, stop: () => server.stop() };
}

const ACCOUNT_COOKIE = 'dev-idp-account';

function chosenAccount(headers: IncomingMessage['headers']): string | undefined {
  for (const part of (headers.cookie ?? '').split(';')) {
    const [name, value] = part.trim().split('=');
    if (name === ACCOUNT_COOKIE && value) return decodeURIComponent(value);
  }
  return undefined;
}

/**
 * `GET /select-account`: a page listing the development users; `?user=<name>` makes that user the
 * one this browser signs in as (until changed), like choosing an account at Entra's sign-in page.
 */
function serveAccountChooser(server: OAuth2Server, users: readonly DevUser[]): void {
  const app = server.service.requestHandler as unknown as {
    handle: (req: IncomingMessage, res: ServerResponse, next: unknown) => void;
  };
  const handle = app.handle.bind(app);
  app.handle = (req, res, next) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/select-account' || req.method !== 'GET') {
      handle(req, res, next);
      return;
    }
    const chosen = userNamed(users, url.searchParams.get('user'));
    const current = userNamed(users, chosenAccount(req.headers)) ?? users[0];
    const headers: Record<string, string> = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' };
    if (chosen)
      headers['set-cookie'] =
        `${ACCOUNT_COOKIE}=${encodeURIComponent(chosen.preferred_username)}; Path=/; HttpOnly; SameSite=Lax`;
    const signedIn = chosen ?? current;
    const items = users
      .map(
        (u) =>
          `<li><a href="/select-account?user=${encodeURIComponent(u.preferred_username)}">${escapeHtml(u.name)} (${escapeHtml(u.preferred_username)})</a></li>`,
      )
      .join('');
    res.writeHead(200, headers);
    res.end(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Development IdP: choose an account</title></head><body>` +
        `<h1>Development IdP</h1><p id="current">This browser signs in as ${escapeHtml(signedIn?.name ?? '')} (${escapeHtml(signedIn?.preferred_username ?? '')}).</p>` +
        `<h2>Choose an account</h2><ul>${items}</ul><p>Then sign in again at the service.</p></body></html>`,
    );
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The known user whose sign-in name a `login_hint` gives (Entra's hint is the UPN or email). */
function userNamed(users: readonly DevUser[], hint: unknown): DevUser | undefined {
  if (typeof hint !== 'string') return undefined;
  return users.find((u) => u.preferred_username.toLowerCase() === hint.trim().toLowerCase());
}

/**
 * The client authentication methods the dev IdP handles. oauth2-mock-server advertises only `none`
 * although it takes a secret in the body; it does not form-decode HTTP Basic credentials (nor, as
 * reported, does Entra), so Basic is left out, and it checks no credential at all.
 */
export const DEV_TOKEN_ENDPOINT_AUTH_METHODS = ['none', 'client_secret_post', 'private_key_jwt'];

type JsonResponse = ServerResponse & { json(body: Record<string, unknown>): unknown };

function publishClientAuthMethods(server: OAuth2Server): void {
  // The service's Express app: wrap its entry point to amend the discovery document it sends.
  const app = server.service.requestHandler as unknown as {
    handle(req: IncomingMessage, res: ServerResponse, next?: unknown): void;
  };
  const handle = app.handle.bind(app);
  app.handle = (req, res, next) => {
    if (req.method === 'GET' && req.url?.split('?')[0] === '/.well-known/openid-configuration') {
      Object.defineProperty(res, 'json', {
        configurable: true,
        value(this: JsonResponse, body: Record<string, unknown>) {
          return (Object.getPrototypeOf(this) as JsonResponse).json.call(this, {
            ...body,
            token_endpoint_auth_methods_supported: DEV_TOKEN_ENDPOINT_AUTH_METHODS,
          });
        },
      });
    }
    handle(req, res, next);
  };
}

/** The resource of the first scope of the form `<resource URL>/<permission>` (Entra's v2 scopes). */
export function resourceOf(scope: string | undefined): string | undefined {
  for (const item of (scope ?? '').split(' ')) {
    const slash = item.lastIndexOf('/');
    if (/^https?:\/\//.test(item) && slash > item.indexOf('//') + 1) return item.slice(0, slash);
  }
  return undefined;
}

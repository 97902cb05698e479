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

export interface DevIdentityProvider {
  server: OAuth2Server;
  issuer: string;
  stop(): Promise<void>;
}

/**
 * Starts the development identity provider (oauth2-mock-server) on loopback. It signs users in
 * without a password; id_tokens and access tokens carry Entra-like claims (oid, tid, name,
 * preferred_username) so the service sees what Entra would send.
 */
export async function startDevIdentityProvider(
  options: { port?: number; user?: DevUser; accessTokenTtlSeconds?: number; audience?: string } = {},
): Promise<DevIdentityProvider> {
  const server = new OAuth2Server();
  await server.issuer.keys.generate('RS256');
  const user = options.user ?? DEV_USER;
  // The scopes a user consented to at the authorize endpoint, by authorization code (single use).
  const scopesByCode = new Map<string, string>();
  server.service.on('beforeAuthorizeRedirect', (redirect: { url: URL }, req: { query: Record<string, unknown> }) => {
    const code = redirect.url.searchParams.get('code');
    if (code && typeof req.query.scope === 'string') scopesByCode.set(code, req.query.scope);
  });
  server.service.on('beforeTokenSigning', (token: { payload: Record<string, unknown> }, req: { body?: Record<string, unknown> }) => {
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
  });
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

/**
 * The client authentication methods the dev IdP handles. oauth2-mock-server advertises only `none`
 * although it takes a secret in the body; it does not form-decode HTTP Basic credentials (nor, as
 * reported, does Entra), so Basic is left out, and it checks no credential at all.
 */
export const DEV_TOKEN_ENDPOINT_AUTH_METHODS = ['none', 'client_secret_post', 'private_key_jwt'];

type JsonResponse = ServerResponse & { json(body: Record<string, unknown>): unknown };

function publishClientAuthMethods(server: OAuth2Server): void {
  // The service's Express app: wrap its entry point to amend the discovery document it sends.
  const app = server.service.requestHandler as unknown as { handle(req: IncomingMessage, res: ServerResponse, next?: unknown): void };
  const handle = app.handle.bind(app);
  app.handle = (req, res, next) => {
    if (req.method === 'GET' && req.url?.split('?')[0] === '/.well-known/openid-configuration') {
      Object.defineProperty(res, 'json', {
        configurable: true,
        value(this: JsonResponse, body: Record<string, unknown>) {
          const json = (Object.getPrototypeOf(this) as JsonResponse).json;
          return json.call(this, { ...body, token_endpoint_auth_methods_supported: DEV_TOKEN_ENDPOINT_AUTH_METHODS });
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

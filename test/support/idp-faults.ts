import type { OAuth2Server } from 'oauth2-mock-server';

type TokenResponse = { body: Record<string, unknown>; statusCode: number };
type TokenRequest = { body: Record<string, string> };

/**
 * Until the returned function is called, the IdP answers every refresh_token grant with this status
 * and body (e.g. 400 `invalid_grant` for a revoked grant, 503 for an outage).
 */
export function failRefreshGrants(server: OAuth2Server, statusCode: number, body: Record<string, unknown>): () => void {
  const hook = (res: TokenResponse, req: TokenRequest) => {
    if (req.body.grant_type !== 'refresh_token') return;
    res.statusCode = statusCode;
    res.body = body;
  };
  server.service.on('beforeResponse', hook);
  return () => void server.service.off('beforeResponse', hook);
}

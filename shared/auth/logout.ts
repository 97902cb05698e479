import { logger } from '../observability/logger.ts';
import type { Services } from '../runtime.ts';

/**
 * Ends a session: deletes it, then revokes its refresh token at the provider where that is offered
 * (RFC 7009; Entra has no revocation endpoint). Revocation is best effort: the session is gone
 * whatever the provider answers. Returns the provider's end-session URL for the browser.
 */
export async function endSession(services: Services, sessionId: string | undefined): Promise<string | undefined> {
  const session = sessionId ? await services.sessions.get(sessionId, Math.floor(services.now() / 1000)) : undefined;
  let refreshToken: string | undefined;
  if (session) {
    refreshToken = await services
      .vault()
      .then((vault) => vault.open(session.id, session.dataKey, 'refresh_token', session.refreshToken))
      .catch((err: unknown) => {
        logger.warn('refresh token not revoked: it could not be decrypted', { error: errorName(err) });
        return undefined;
      });
  }
  if (sessionId) await services.sessions.delete(sessionId);
  const entra = await services.entra();
  if (refreshToken) {
    try {
      const revoked = await entra.revokeRefreshToken(refreshToken);
      logger.info(revoked ? 'refresh token revoked' : 'refresh token not revoked: the provider offers no revocation endpoint');
    } catch (err) {
      logger.warn('refresh token revocation failed; the session is deleted', { error: errorName(err) });
    }
  }
  return entra.endSessionUrl(session?.user.loginHint);
}

/** Name and message of an error from our own code (never a token: the token is not in any message). */
function errorName(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : typeof err;
}

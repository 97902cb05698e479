import { logger } from '../observability/logger.ts';
import type { Services } from '../runtime.ts';

/**
 * Ends a session: deletes it, then revokes its refresh token at the provider where that is offered
 * (RFC 7009; Entra has no revocation endpoint). Revocation is best effort: the session is gone
 * whatever the provider answers. Returns the provider's end-session URL for the browser.
 */
export async function endSession(
  services: Pick<Services, 'sessions' | 'entra' | 'vault' | 'now'>,
  sessionId: string | undefined,
): Promise<string | undefined> {
  const session = sessionId ? await services.sessions.get(sessionId, Math.floor(services.now() / 1000)) : undefined;
  const entra = await services.entra();
  let refreshToken: string | undefined;
  // Decrypt only for a provider that can revoke (no key-service call on Entra).
  if (session && (await entra.canRevoke())) {
    refreshToken = await services
      .vault()
      .then((vault) => vault.open(session.id, session.dataKey, 'refresh_token', session.refreshToken))
      .catch((err: unknown) => {
        logger.warn('refresh token not revoked: it could not be decrypted', { error: errorName(err) });
        return undefined;
      });
  }
  if (sessionId) await services.sessions.delete(sessionId);
  if (refreshToken) {
    try {
      await entra.revokeRefreshToken(refreshToken);
      logger.info('refresh token revoked');
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

import { timingSafeEqual } from 'node:crypto';
import { randomToken, sha256 } from '../crypto/random.ts';
import { badRequest, HttpError } from '../http/errors.ts';
import { logger } from '../observability/logger.ts';
import type { Services } from '../runtime.ts';

export interface LoginComplete {
  sessionToken: string;
  returnTo: string;
  sessionMaxAge: number;
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Completes the login: consumes the pending login exactly once, checks the browser binding,
 * exchanges the code with the PKCE verifier, validates the id_token and creates the session.
 */
export async function completeLogin(
  services: Services,
  query: URLSearchParams,
  bindingCookie: string | undefined,
): Promise<LoginComplete> {
  const state = query.get('state');
  if (!state || state.length > 512) throw badRequest('invalid_state', 'The callback carries no usable state.');
  const nowMs = services.now();
  // Consume first: whatever happens next, this state cannot be used again (RFC 9700 §4.7).
  const pending = await services.pendingLogins.consume(sha256(state), Math.floor(nowMs / 1000));
  if (!pending) throw badRequest('invalid_state', 'The login is unknown, expired or was already completed.');
  if (!bindingCookie || !sameHash(sha256(bindingCookie), pending.bindingHash)) {
    throw badRequest('invalid_state', 'The login was started in another browser.');
  }
  const error = query.get('error');
  if (error) {
    const code = /^[a-z_]{1,64}$/.test(error) ? error : 'authorization_failed';
    throw new HttpError(400, code, 'The identity provider did not complete the sign-in.');
  }
  const entra = await services.entra();
  const { tokens, user } = await entra.exchangeAuthorizationCode({
    callbackParameters: query,
    expectedState: state,
    codeVerifier: pending.codeVerifier,
    nonce: pending.nonce,
  });

  const sessionToken = randomToken();
  const id = sha256(sessionToken);
  const sealed = await services.vault().then((vault) => vault.seal(id, tokens));
  await services.sessions.create({
    id,
    user,
    dataKey: sealed.dataKey,
    accessToken: sealed.accessToken,
    refreshToken: sealed.refreshToken,
    accessTokenExpiresAt: tokens.accessTokenExpiresAt,
    version: 1,
    createdAt: nowMs,
    lastSeenAt: nowMs,
    expiresAt: Math.floor(nowMs / 1000) + services.config.sessionTtlSeconds,
  });
  logger.info('session created', { oid: user.oid, tid: user.tid });
  return { sessionToken, returnTo: pending.returnTo, sessionMaxAge: services.config.sessionTtlSeconds };
}

import { ServiceError } from '../errors/service-error.ts';
import { timingSafeEqual } from 'node:crypto';
import { randomToken, sha256 } from '../crypto/random.ts';
import type { CookieLookup } from '../http/cookies.ts';
import { logger } from '../observability/logger.ts';
import type { SIGN_IN_REASONS } from '../observability/metrics.ts';
import { errorCodeOf } from '../http/middleware.ts';

type SignInReason = (typeof SIGN_IN_REASONS)[number];
import type { Services } from '../runtime.ts';
import { connectionRowId, CONNECTION_LIFETIME_SECONDS } from './connections.ts';
import { needsAdminConsent } from './admin-consent.ts';
import { connectedUrl, startEnvironmentChoice } from './environment-chooser.ts';
import { createHandoff } from './native.ts';
import { signInResource } from './login.ts';
import { accessTokenField } from '../crypto/envelope.ts';
import { discoverWithToken } from '../dataverse/discovery.ts';
import type { Session } from '../stores/model.ts';

/** How the callback ends: a browser session cookie, a native client's handoff, or a connected backend user. */
export type LoginComplete =
  | { kind: 'browser'; sessionToken: string; returnTo: string; sessionMaxAgeSeconds: number }
  | { kind: 'native'; redirectTo: string }
  | { kind: 'connection'; redirectTo: string };

function withParams(base: string, params: Record<string, string>): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Completes the login: consumes the pending login exactly once, checks the browser binding,
 * exchanges the code with the PKCE verifier, validates the id_token and creates the session.
 * Counts the sign-in (SignIn ok, or failed by its error code).
 */
export async function completeLogin(
  services: Services,
  query: URLSearchParams,
  bindingCookie: CookieLookup,
  deadlineMs = services.now() + 8_000,
): Promise<LoginComplete> {
  try {
    const complete = await signIn(services, query, bindingCookie, deadlineMs);
    services.metrics.add('SignIn', 1, { outcome: 'ok' });
    return complete;
  } catch (err) {
    services.metrics.add('SignIn', 1, { outcome: 'failed', reason: errorCodeOf(err) as SignInReason });
    throw err;
  }
}

async function signIn(
  services: Services,
  query: URLSearchParams,
  bindingCookie: CookieLookup,
  deadlineMs: number,
): Promise<LoginComplete> {
  const state = query.get('state');
  if (!state || state.length > 512) throw new ServiceError('invalid_state', 'The callback carries no usable state.');
  const nowMs = services.now();
  // Consume first: whatever happens next, this state cannot be used again (RFC 9700 §4.7).
  const pending = await services.pendingLogins.consume(sha256(state), Math.floor(nowMs / 1000));
  if (!pending) throw new ServiceError('invalid_state', 'The login is unknown, expired or was already completed.');
  // A binding cookie sent twice binds nothing: it fails like a missing one (RFC 9700 §4.7 login CSRF).
  if (bindingCookie.kind === 'ambiguous')
    throw new ServiceError('invalid_state', 'The login-binding cookie was sent more than once.');
  if (bindingCookie.kind === 'absent' || !sameHash(sha256(bindingCookie.value), pending.bindingHash)) {
    throw new ServiceError('invalid_state', 'The login was started in another browser.');
  }
  const error = query.get('error');
  if (error) {
    // The user's organization lets only an administrator consent (AADSTS65001/90094): the callback shows a page.
    if (needsAdminConsent(error, query.get('error_description'))) throw new ServiceError('admin_consent_required');
    // The identity provider's code is never the service's own: it goes to the logs only. RFC 6749
    // §4.1.2.1: access_denied = the user or the organization declined; any other code = not completed.
    logger.info('identity provider ended the sign-in', {
      oauthError: /^[a-z_]{1,64}$/.test(error) ? error : 'unreadable',
    });
    throw error === 'access_denied' ? new ServiceError('sign_in_declined') : new ServiceError('authorization_failed');
  }
  const entra = await services.entra();
  const { tokens, user } = await entra.exchangeAuthorizationCode({
    callbackParameters: query,
    expectedState: state,
    codeVerifier: pending.codeVerifier,
    nonce: pending.nonce,
  });

  const vault = await services.vault();
  const resource = signInResource(services.config, pending.environment);
  // Rows of DYNAMICS_URL keep the shape they always had; any other resource is named on the row.
  const accessResource = resource === services.config.dynamicsUrl?.origin ? undefined : resource;
  /** The row fields every new session or connection has: who, and the tokens sealed for this row. */
  const sealedRow = async (id: string, tokenSet: typeof tokens) => {
    const sealed = await vault.seal(id, tokenSet, undefined, accessTokenField(accessResource));
    return {
      id,
      user,
      accessResource,
      defaultEnvironment: pending.environment,
      dataKey: sealed.dataKey,
      accessToken: sealed.accessToken,
      refreshToken: sealed.refreshToken,
      accessTokenExpiresAt: tokenSet.accessTokenExpiresAtMs,
      accessTokenLifetimeSeconds: tokenSet.accessTokenLifetimeSeconds,
      createdAt: nowMs,
      lastSeenAt: nowMs,
    };
  };
  if (pending.connect) {
    const { ownerKeyId, connectionId, connectSessionId, expectedTenantId, loginHint } = pending.connect;
    // The connect link is spent by the first sign-in that completes through it.
    if (!(await services.connectSessions.consume(connectSessionId, Math.floor(nowMs / 1000)))) {
      throw new ServiceError('invalid_connect_token', 'This connect link was already used or has expired.');
    }
    const wrongTenant = expectedTenantId !== undefined && user.tid.toLowerCase() !== expectedTenantId.toLowerCase();
    const wrongUser = loginHint !== undefined && user.username?.toLowerCase() !== loginHint.toLowerCase();
    if (wrongTenant || wrongUser) {
      throw new ServiceError('account_mismatch', 'This connect link is for another account; ask for a new link.');
    }
    const id = connectionRowId(ownerKeyId, connectionId);
    const row: Session = {
      ...(await sealedRow(id, tokens)),
      // Above any earlier row's version, so a refresh still running for a replaced grant cannot write.
      version: nowMs,
      refreshedAt: nowMs,
      expiresAt: Math.floor(nowMs / 1000) + CONNECTION_LIFETIME_SECONDS,
      connection: { ownerKeyId, connectionId, status: 'active' },
    };
    // Without a named environment or DYNAMICS_URL, the sign-in asked for the discovery service: its
    // token lists the user's environments now; one is taken as it is, several go to the chooser.
    const choose =
      !pending.environment && !services.config.dynamicsUrl && resource === services.config.discoveryUrl.origin;
    if (choose) {
      row.discovered = await discoverWithToken(services, tokens.accessToken, deadlineMs).catch((err: unknown) => {
        if (!(err instanceof ServiceError)) throw err;
        logger.warn('environments not listed for a new connection', { error: err.code });
        return undefined;
      });
      if (row.discovered?.environments.length === 1) row.defaultEnvironment = row.discovered.environments[0]!.url;
    }
    await services.sessions.putConnection(row);
    services.metrics.add('ConnectionStateChange', 1, { state: 'connected' });
    logger.info('connection stored', { oid: user.oid, tid: user.tid });
    if (choose && (row.discovered?.environments.length ?? 0) > 1) {
      return { kind: 'connection', redirectTo: await startEnvironmentChoice(services, row, pending.returnTo) };
    }
    return { kind: 'connection', redirectTo: connectedUrl(pending.returnTo, connectionId) };
  }

  const sessionToken = randomToken();
  const id = sha256(sessionToken);
  const expiresAt = Math.floor(nowMs / 1000) + services.config.sessionTtlSeconds;
  await services.sessions.create({ ...(await sealedRow(id, tokens)), version: 1, expiresAt });
  logger.info('session created', { oid: user.oid, tid: user.tid, client: pending.native ? 'native' : 'browser' });
  if (pending.native) {
    // RFC 8252: the native client gets a one-time handoff on its redirect, never the session token itself.
    const handoff = await createHandoff(services, sessionToken, expiresAt, pending.native.clientChallenge);
    return { kind: 'native', redirectTo: withParams(pending.returnTo, { handoff }) };
  }
  return {
    kind: 'browser',
    sessionToken,
    returnTo: pending.returnTo,
    sessionMaxAgeSeconds: services.config.sessionTtlSeconds,
  };
}

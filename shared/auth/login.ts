import { ServiceError } from '../errors/service-error.ts';
import * as oauth from 'oauth4webapi';
import { randomToken, sha256 } from '../crypto/random.ts';
import { logger } from '../observability/logger.ts';
import type { Services } from '../runtime.ts';
import type { PendingLogin } from '../stores/model.ts';
import { checkNativeReturnTo, isS256Challenge } from './native.ts';
import { checkReturnTo } from './return-to.ts';
import { environmentOriginOfUrl } from './environment-choice.ts';
import type { Config } from '../config/config.ts';

/**
 * The resource the sign-in's own access token is for (Entra returns one resource's token per
 * request): the chosen environment, else DYNAMICS_URL, else the discovery service. Tokens for the
 * others come from the refresh token (refresh_token grant with that resource's scope).
 */
export function signInResource(config: Config, environment: string | undefined): string {
  return environment ?? config.dynamicsUrl?.origin ?? config.discoveryUrl.origin;
}

export interface LoginStart {
  /** The IdP authorization URL to redirect the browser to. */
  authorizationUrl: string;
  /** Value of the browser-binding cookie (its hash is stored with the pending login). */
  binding: string;
  bindingMaxAgeSeconds: number;
}

/**
 * Starts the authorization code flow with PKCE: fresh state, nonce and verifier (RFC 7636 §4.1),
 * stored under SHA-256(state) with a TTL and bound to this browser by a cookie.
 */
export async function startLogin(
  services: Pick<Services, 'config' | 'entra' | 'pendingLogins' | 'now'>,
  returnToParam: string | undefined,
  options: { clientChallenge?: string; connect?: PendingLogin['connect']; environment?: string } = {},
): Promise<LoginStart> {
  const { config } = services;
  // Checked against DATAVERSE_HOSTS now, against the user's discovered environments when first used.
  const environment =
    options.environment === undefined ? undefined : environmentOriginOfUrl(config, options.environment);
  const native =
    returnToParam === undefined ? undefined : checkNativeReturnTo(returnToParam, config.nativeRedirectSchemes);
  if (native && !isS256Challenge(options.clientChallenge)) {
    throw new ServiceError(
      'invalid_request',
      'A loopback or app-scheme returnTo needs client_challenge (S256, 43 characters).',
    );
  }
  if (!native && options.clientChallenge !== undefined) {
    throw new ServiceError('invalid_return_to', 'client_challenge is only for loopback or app-scheme returnTo URLs.');
  }
  const returnTo =
    native ??
    (returnToParam === undefined
      ? config.allowedReturnUrls[0]!.href
      : checkReturnTo(returnToParam, config.allowedReturnUrls));
  if (!returnTo) throw new ServiceError('invalid_return_to', 'returnTo is not one of the allowed return URLs.');

  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const binding = randomToken();
  const codeChallenge = await oauth.calculatePKCECodeChallenge(codeVerifier);
  const authorizationUrl = await services.entra().then((entra) =>
    entra.buildAuthorizationUrl({
      state,
      nonce,
      codeChallenge,
      // A connect link may reach someone else than meant: make the account choice explicit.
      prompt: options.connect ? 'select_account' : undefined,
      loginHint: options.connect?.loginHint,
      resource: signInResource(config, environment),
    }),
  );
  await services.pendingLogins.save({
    id: sha256(state),
    codeVerifier,
    nonce,
    returnTo,
    bindingHash: sha256(binding),
    expiresAt: Math.floor(services.now() / 1000) + config.pendingLoginTtlSeconds,
    native: native ? { clientChallenge: options.clientChallenge! } : undefined,
    connect: options.connect,
    environment,
  });
  logger.info('login started', { returnToOrigin: new URL(returnTo).origin });
  return { authorizationUrl, binding, bindingMaxAgeSeconds: config.pendingLoginTtlSeconds };
}

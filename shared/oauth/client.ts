import * as oauth from 'oauth4webapi';
import { ConfigError, type Config } from '../config/config.ts';
import { KeyServiceUnavailableError } from '../crypto/key-provider.ts';
import type { Signer } from '../crypto/signer.ts';
import { ServiceError } from '../errors/service-error.ts';
import { thrownCause, thrownName } from '../errors/thrown.ts';
import { noMetrics, type MetricsPort } from '../observability/metrics.ts';
import { inSpan } from '../observability/tracing.ts';
import { systemClock, type Clock } from '../ports.ts';
import type { SessionUser } from '../stores/model.ts';
import { chooseTokenEndpointAuthMethod, privateKeyJwt, type TokenEndpointAuthMethod } from './client-auth.ts';
import { ClientRejectedError, TerminalGrantError, TokenEndpointError, TransientTokenError } from './errors.ts';
import {
  expectedDiscoveryIssuer,
  expectedIdTokenIssuer,
  expectedIssuerHook,
  isEntraHost,
  isTemplateIssuer,
} from './issuer.ts';
import { classifyTokenError, promptFor, refreshParameters, resourceParameters } from './profile.ts';

export { ClientRejectedError, TerminalGrantError, TokenEndpointError, TransientTokenError };

/** A fetch-compatible function (injected in tests; the platform's fetch otherwise). */
export type Fetch = (input: string, init: RequestInit) => Promise<Response>;

/** Tokens from a code exchange or a refresh. */
export interface TokenSet {
  accessToken: string;
  /** Absent when the token endpoint did not rotate it (keep the old one). */
  refreshToken?: string;
  /** Epoch milliseconds. */
  accessTokenExpiresAtMs: number;
  /** The access token's lifetime as stated (`expires_in`, RFC 6749 §5.1), or the assumed 3600. */
  accessTokenLifetimeSeconds: number;
}

/** Errors that refuse one resource, not the grant (RFC 6749 §5.2 invalid_scope; RFC 8707 §2 invalid_target). */
const RESOURCE_ERRORS = new Set(['invalid_scope', 'invalid_resource', 'invalid_target', 'consent_required']);
/**
 * Entra's invalid_grant codes that concern the requested resource: AADSTS65001 (no consent for it),
 * AADSTS500011 (resource not found in the tenant), AADSTS650052 and AADSTS650057 (invalid resource).
 */
const RESOURCE_AADSTS = /\bAADSTS(?:65001|500011|650052|650057)\b/;

export interface EntraClientOptions {
  fetch?: Fetch;
  /** Resolves the confidential client's secret, or undefined for a public client. */
  clientSecret?: () => Promise<string | undefined>;
  /** Signs `private_key_jwt` client assertions (KMS in AWS, a local key in local mode). */
  clientAssertionSigner?: Signer;
  metrics?: MetricsPort;
  /** Epoch milliseconds for token expiry and token-endpoint latency (runtime.ts injects the service clock). */
  now?: Clock;
}

/**
 * The OAuth 2.0 / OIDC client for Microsoft Entra ID, one function per protocol step, built on
 * oauth4webapi. The discovery document (and with it the JWKS cache) is kept for the process's life.
 */
export class EntraClient {
  private discovery?: Promise<oauth.AuthorizationServer>;
  private readonly client: oauth.Client;
  private readonly fetchImpl: Fetch;
  private readonly now: Clock;

  constructor(
    private readonly config: Config,
    private readonly options: EntraClientOptions = {},
  ) {
    this.client = { client_id: config.clientId };
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.now = options.now ?? systemClock;
  }

  /**
   * `<resource>/user_impersonation offline_access openid profile`: delegated access to one Dataverse
   * environment (or the discovery service) and a refresh token. Entra issues an access token for one
   * resource per request; the refresh token redeems for the others.
   */
  scopeFor(resource: string): string {
    return `${new URL(resource).origin}/user_impersonation offline_access openid profile`;
  }

  private requestOptions(timeoutMs = this.config.tokenEndpointTimeoutMs) {
    return {
      signal: AbortSignal.timeout(timeoutMs),
      [oauth.customFetch]: this.fetchImpl as unknown as typeof fetch,
      // Plain http only to a loopback provider (local mode, tests): config allows nothing else.
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- deprecated to make it stand out; needed for loopback
      [oauth.allowInsecureRequests]: this.config.allowInsecureLoopback,
    };
  }

  /** OIDC discovery from ENTRA_AUTHORITY (cached; a failure is retried on the next call). */
  discover(): Promise<oauth.AuthorizationServer> {
    this.discovery ??= this.runDiscovery().catch((err: unknown) => {
      this.discovery = undefined;
      throw mapTokenEndpointFailure(err, 'OIDC discovery');
    });
    return this.discovery;
  }

  private async runDiscovery(): Promise<oauth.AuthorizationServer> {
    const expected = expectedDiscoveryIssuer(this.config.entraAuthority);
    const response = await oauth.discoveryRequest(this.config.entraAuthority, this.requestOptions());
    const as = await oauth.processDiscoveryResponse(expected, response);
    if (isTemplateIssuer(as.issuer)) {
      if (!expectedIssuerHook)
        throw new TokenEndpointError('oauth4webapi lacks the issuer hook multi-tenant Entra needs');
      Object.assign(as, {
        [expectedIssuerHook]: (result: { claims: Record<string, unknown> }) =>
          expectedIdTokenIssuer(as.issuer, result.claims),
      });
    }
    return as;
  }

  /** The authorization request URL: code flow with PKCE S256 (RFC 7636 §4.3), state and nonce. */
  async buildAuthorizationUrl(params: {
    state: string;
    nonce: string;
    codeChallenge: string;
    prompt?: 'select_account';
    loginHint?: string;
    /** The resource whose access token the sign-in returns (an environment or the discovery service; default DYNAMICS_URL). */
    resource?: string;
  }): Promise<string> {
    const as = await this.discover();
    // Fail at the first sign-in, before the user meets the provider, if no usable method exists.
    this.tokenEndpointAuthMethod(as);
    if (!as.authorization_endpoint) throw new TokenEndpointError('Discovery has no authorization_endpoint');
    const url = new URL(as.authorization_endpoint);
    url.searchParams.set('client_id', this.config.clientId);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('redirect_uri', this.config.redirectUri);
    url.searchParams.set(
      'scope',
      this.scopeFor(params.resource ?? (this.config.dynamicsUrl ?? this.config.discoveryUrl).origin),
    );
    url.searchParams.set('state', params.state);
    url.searchParams.set('nonce', params.nonce);
    url.searchParams.set('code_challenge', params.codeChallenge);
    url.searchParams.set('code_challenge_method', 'S256');
    url.searchParams.set('response_mode', 'query');
    const prompt = promptFor(this.config, params.prompt);
    if (prompt) url.searchParams.set('prompt', prompt);
    for (const [name, value] of Object.entries(resourceParameters(this.config))) url.searchParams.set(name, value);
    if (params.loginHint) url.searchParams.set('login_hint', params.loginHint);
    return url.href;
  }

  /**
   * One token-endpoint request, timed (TokenEndpointLatency) and in a span carrying the grant type and
   * HTTP status: never the request body, the response, or the endpoint's URL with a query.
   */
  private tokenRequest(
    grantType: 'authorization_code' | 'refresh_token',
    send: () => Promise<Response>,
  ): Promise<Response> {
    const metrics = this.options.metrics ?? noMetrics;
    return inSpan('oauth.token', { 'oauth.grant_type': grantType, 'http.request.method': 'POST' }, async (span) => {
      const startedAtMs = this.now();
      try {
        const response = await send();
        span.setAttribute('http.response.status_code', response.status);
        return response;
      } finally {
        metrics.add('TokenEndpointLatency', this.now() - startedAtMs);
      }
    });
  }

  /** The token-endpoint client authentication method for this configuration and provider (see client-auth.ts). */
  tokenEndpointAuthMethod(as: oauth.AuthorizationServer): TokenEndpointAuthMethod {
    return chooseTokenEndpointAuthMethod(
      {
        explicit: this.config.tokenEndpointAuthMethod,
        hasKey: Boolean(this.options.clientAssertionSigner && this.config.clientCertificateThumbprintS256),
        hasSecret: Boolean(this.options.clientSecret),
        preferSecretInBody: isEntraHost(this.config.entraAuthority),
      },
      as.token_endpoint_auth_methods_supported,
    );
  }

  private async clientAuth(as: oauth.AuthorizationServer): Promise<oauth.ClientAuth> {
    const method = this.tokenEndpointAuthMethod(as);
    if (method === 'none') return oauth.None();
    if (method === 'private_key_jwt') {
      const signer = this.options.clientAssertionSigner;
      const thumbprint = this.config.clientCertificateThumbprintS256;
      if (!signer || !thumbprint)
        throw new ConfigError('private_key_jwt needs CLIENT_ASSERTION_KEY_ID and CLIENT_CERTIFICATE_THUMBPRINT_S256');
      // The assertion's iat/nbf/exp are checked against the provider's clock (RFC 7523 §3): the system time, not the service clock.
      return privateKeyJwt(signer, { certificateThumbprintS256: thumbprint });
    }
    const secret = await this.options.clientSecret?.();
    if (!secret) throw new ConfigError(`${method} needs a client secret, and none is configured`);
    // RFC 6749 §2.3.1: Basic (form-encoded id and secret) is the method servers must support.
    return method === 'client_secret_basic' ? oauth.ClientSecretBasic(secret) : oauth.ClientSecretPost(secret);
  }

  /**
   * Validates the authorization response, exchanges the code with the PKCE verifier and validates the
   * id_token: signature (JWKS), iss (tid-aware), aud, exp and nonce.
   */
  async exchangeAuthorizationCode(params: {
    callbackParameters: URLSearchParams;
    expectedState: string;
    codeVerifier: string;
    nonce: string;
  }): Promise<{ tokens: TokenSet & { refreshToken: string }; user: SessionUser }> {
    const as = await this.discover();
    let validated: URLSearchParams;
    try {
      validated = oauth.validateAuthResponse(as, this.client, params.callbackParameters, params.expectedState);
    } catch (err) {
      if (err instanceof oauth.AuthorizationResponseError) {
        throw new ServiceError('authorization_failed');
      }
      throw new ServiceError('invalid_callback', 'The authorization response is malformed.');
    }
    let response: Response;
    let result: oauth.TokenEndpointResponse;
    try {
      const auth = await this.clientAuth(as);
      response = await this.tokenRequest('authorization_code', () =>
        oauth.authorizationCodeGrantRequest(
          as,
          this.client,
          auth,
          validated,
          this.config.redirectUri,
          params.codeVerifier,
          {
            ...this.requestOptions(),
            additionalParameters: resourceParameters(this.config),
          },
        ),
      );
      result = await oauth.processAuthorizationCodeResponse(as, this.client, response, {
        expectedNonce: params.nonce,
        requireIdToken: true,
      });
    } catch (err) {
      throw mapCodeExchangeFailure(err);
    }
    try {
      await oauth.validateApplicationLevelSignature(as, response, this.requestOptions());
    } catch (err) {
      if (err instanceof oauth.OperationProcessingError || err instanceof oauth.UnsupportedOperationError) {
        throw new ServiceError('invalid_id_token', 'The id_token signature is not valid.');
      }
      throw mapTokenEndpointFailure(err, 'JWKS');
    }
    const claims = oauth.getValidatedIdTokenClaims(result);
    if (!claims) throw new ServiceError('invalid_id_token', 'The token response carried no id_token.');
    if (!result.refresh_token) {
      // A session that cannot refresh would end at the access token's expiry: refuse it now.
      throw new ServiceError(
        'no_refresh_token',
        'The identity provider issued no refresh token (is offline_access granted? see IDP_PROFILE).',
      );
    }
    const oid = typeof claims.oid === 'string' ? claims.oid : claims.sub;
    const tid = typeof claims.tid === 'string' ? claims.tid : '';
    return {
      tokens: {
        accessToken: result.access_token,
        refreshToken: result.refresh_token,
        ...accessTokenExpiry(result, this.now()),
      },
      user: {
        oid,
        tid,
        sub: claims.sub,
        name: typeof claims.name === 'string' ? claims.name : undefined,
        username: typeof claims.preferred_username === 'string' ? claims.preferred_username : undefined,
        // Entra's optional claim, made for logout_hint (Microsoft identity platform: optional claims).
        loginHint:
          typeof claims.login_hint === 'string' && claims.login_hint.length <= 2048 ? claims.login_hint : undefined,
      },
    };
  }

  /**
   * Refresh token grant (RFC 6749 §6). Entra rotates the refresh token on every call. `answerWithinMs`
   * bounds the wait for the answer: the refresher passes what is left of its lease, not
   * TOKEN_ENDPOINT_TIMEOUT_MS, since a request already sent may have spent the refresh token at the
   * provider. `resource` names the environment (or discovery service) the access token is for.
   */
  async refresh(
    refreshToken: string,
    resource: string,
    answerWithinMs = this.config.tokenEndpointTimeoutMs,
  ): Promise<TokenSet> {
    const as = await this.discover();
    try {
      const auth = await this.clientAuth(as);
      const response = await this.tokenRequest('refresh_token', () =>
        oauth.refreshTokenGrantRequest(as, this.client, auth, refreshToken, {
          ...this.requestOptions(answerWithinMs),
          additionalParameters: refreshParameters(this.config, this.scopeFor(resource)),
        }),
      );
      const result = await oauth.processRefreshTokenResponse(as, this.client, response);
      return {
        accessToken: result.access_token,
        refreshToken: result.refresh_token,
        ...accessTokenExpiry(result, this.now()),
      };
    } catch (err) {
      const code = oauthErrorCode(err);
      if (code !== undefined) {
        const aboutResource =
          RESOURCE_ERRORS.has(code) ||
          (code === 'invalid_grant' &&
            err instanceof oauth.ResponseBodyError &&
            RESOURCE_AADSTS.test(err.error_description ?? ''));
        const kind = classifyTokenError(code);
        if (kind === 'grant_ended' || aboutResource) throw new TerminalGrantError(code, aboutResource);
        if (kind === 'client_rejected') throw new ClientRejectedError(code);
      }
      throw mapTokenEndpointFailure(err, 'Token endpoint');
    }
  }

  /**
   * The provider's end-session URL, for the client to navigate to after logout (OIDC RP-Initiated
   * Logout §2): client_id, the configured post_logout_redirect_uri and, when the id_token carried
   * Entra's login_hint claim, logout_hint (so Entra skips its account picker). No id_token_hint: an
   * id_token in a URL lands in browser history and logs, and client_id suffices with the redirect.
   */
  async endSessionUrl(loginHint?: string): Promise<string | undefined> {
    try {
      const as = await this.discover();
      if (!as.end_session_endpoint) return undefined;
      const url = new URL(as.end_session_endpoint);
      url.searchParams.set('client_id', this.config.clientId);
      if (this.config.postLogoutRedirectUri)
        url.searchParams.set('post_logout_redirect_uri', this.config.postLogoutRedirectUri);
      if (loginHint) url.searchParams.set('logout_hint', loginHint);
      return url.href;
    } catch {
      return undefined;
    }
  }

  /** Whether discovery names an RFC 7009 revocation endpoint (Entra's does not); false if discovery fails. */
  async canRevoke(): Promise<boolean> {
    return this.discover().then(offersRevocation, () => false);
  }

  /**
   * RFC 7009 revocation of a refresh token (which, §2.1, also ends its grant's access tokens where the
   * provider supports that). Returns false when the provider has no revocation endpoint (Entra).
   */
  async revokeRefreshToken(refreshToken: string): Promise<boolean> {
    const as = await this.discover();
    if (!offersRevocation(as)) return false;
    try {
      const response = await oauth.revocationRequest(as, this.client, await this.clientAuth(as), refreshToken, {
        ...this.requestOptions(),
        additionalParameters: { token_type_hint: 'refresh_token' },
      });
      await oauth.processRevocationResponse(response);
      return true;
    } catch (err) {
      throw mapTokenEndpointFailure(err, 'Revocation endpoint');
    }
  }
}

/** Whether the provider offers RFC 7009 token revocation (Entra does not). */
export function offersRevocation(as: oauth.AuthorizationServer): boolean {
  return typeof as.revocation_endpoint === 'string';
}

function accessTokenExpiry(
  result: oauth.TokenEndpointResponse,
  nowMs: number,
): Pick<TokenSet, 'accessTokenExpiresAtMs' | 'accessTokenLifetimeSeconds'> {
  const seconds = typeof result.expires_in === 'number' && result.expires_in > 0 ? result.expires_in : 3600;
  return { accessTokenExpiresAtMs: nowMs + seconds * 1000, accessTokenLifetimeSeconds: seconds };
}

/** OAuth error codes are [\x20-\x7E] (RFC 6749 §5.2); keep them short and printable in messages. */
function safeCode(code: string): string {
  return /^[\x21-\x7e]{1,64}$/.test(code) ? code : 'an error';
}

function isTimeoutOrNetwork(err: unknown): boolean {
  const name = thrownName(err);
  return name === 'TimeoutError' || name === 'AbortError' || (err instanceof TypeError && /fetch/i.test(err.message));
}

/**
 * The OAuth error code of a token-endpoint answer. A 401 carrying `WWW-Authenticate` (a client that
 * authenticated with HTTP Basic) is `invalid_client` (RFC 6749 §5.2); oauth4webapi reports it as a
 * challenge rather than a body error.
 */
function oauthErrorCode(err: unknown): string | undefined {
  if (err instanceof oauth.ResponseBodyError) return err.error;
  if (err instanceof oauth.WWWAuthenticateChallengeError && err.status === 401) return 'invalid_client';
  return undefined;
}

function upstreamStatus(err: unknown): number | undefined {
  if (err instanceof oauth.ResponseBodyError) return err.status;
  const cause = thrownCause(err);
  return cause instanceof Response ? cause.status : undefined;
}

/** Maps a failure talking to the IdP to transient (retry later) or a permanent upstream error. */
function mapTokenEndpointFailure(err: unknown, what: string): Error {
  if (err instanceof TransientTokenError || err instanceof TokenEndpointError || err instanceof ServiceError)
    return err;
  // KMS could not sign the client assertion (throttled, unavailable): nothing was sent, retry later.
  if (err instanceof KeyServiceUnavailableError) return err;
  if (isTimeoutOrNetwork(err)) return new TransientTokenError(`${what} unreachable or timed out`);
  const status = upstreamStatus(err);
  if (status !== undefined && (status >= 500 || status === 429)) {
    return new TransientTokenError(`${what} answered HTTP ${status}`);
  }
  if (err instanceof oauth.ResponseBodyError) return new TokenEndpointError(`${what} answered ${safeCode(err.error)}`);
  return new TokenEndpointError(`${what} answered an unusable response (${thrownName(err) ?? 'error'})`);
}

function mapCodeExchangeFailure(err: unknown): Error {
  if (err instanceof oauth.ResponseBodyError && err.error === 'invalid_grant') {
    // Entra's invalid_grant is its own code: the client gets the service's (RFC 6749 §5.2).
    return new ServiceError('authorization_code_rejected');
  }
  const missingClaim =
    err instanceof oauth.OperationProcessingError &&
    err.code === oauth.INVALID_RESPONSE &&
    typeof (err.cause as { claims?: unknown } | undefined)?.claims === 'object';
  if ((err instanceof oauth.OperationProcessingError && err.code === oauth.JWT_CLAIM_COMPARISON) || missingClaim) {
    return new ServiceError('invalid_id_token', 'The id_token failed validation (issuer, audience or nonce).');
  }
  if (err instanceof oauth.OperationProcessingError && err.code === oauth.JWT_TIMESTAMP_CHECK) {
    return new ServiceError('invalid_id_token', 'The id_token is expired or not yet valid.');
  }
  return mapTokenEndpointFailure(err, 'Token endpoint');
}

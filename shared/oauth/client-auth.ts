import { ServiceError } from '../errors/service-error.ts';
import { randomBytes } from 'node:crypto';
import type * as oauth from 'oauth4webapi';
import { ConfigError } from '../config/config.ts';
import { KeyServiceUnavailableError } from '../crypto/key-provider.ts';
import type { Signer } from '../crypto/signer.ts';
import { systemClock, type Clock } from '../ports.ts';

/** Token-endpoint client authentication methods (OIDC Core §9, RFC 8414 §2). */
export const TOKEN_ENDPOINT_AUTH_METHODS = [
  'private_key_jwt',
  'client_secret_basic',
  'client_secret_post',
  'none',
] as const;
export type TokenEndpointAuthMethod = (typeof TOKEN_ENDPOINT_AUTH_METHODS)[number];

/** RFC 7523 §2.2: the client_assertion_type for a JWT bearer client assertion. */
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Lifetime of one client assertion; short, as it is minted per token request. */
export const CLIENT_ASSERTION_LIFETIME_SECONDS = 300;

export interface ClientAssertionOptions {
  /** base64url SHA-256 of the certificate's DER, sent as `x5t#S256` so Entra finds the credential. */
  certificateThumbprintS256: string;
  now?: Clock;
}

/**
 * `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9) with the key held by a `Signer` (KMS in AWS).
 * Header and claims follow Microsoft's certificate-credential format: PS256, `x5t#S256`, `aud` =
 * the token endpoint URL (for multi-tenant Entra that is the tenant's real endpoint, not the
 * `{tenantid}` template issuer), `iss` = `sub` = client_id, a random `jti`, `iat`/`nbf`/`exp`.
 */
export function privateKeyJwt(signer: Signer, options: ClientAssertionOptions): oauth.ClientAuth {
  const now = options.now ?? systemClock;
  return async (as, client, body) => {
    if (!as.token_endpoint)
      throw new ConfigError('The identity provider publishes no token_endpoint for the client assertion audience');
    const issuedAtSec = Math.floor(now() / 1000);
    const header = { alg: 'PS256', typ: 'JWT', 'x5t#S256': options.certificateThumbprintS256 };
    const claims = {
      aud: as.token_endpoint,
      iss: client.client_id,
      sub: client.client_id,
      jti: randomBytes(32).toString('base64url'),
      iat: issuedAtSec,
      nbf: issuedAtSec,
      exp: issuedAtSec + CLIENT_ASSERTION_LIFETIME_SECONDS,
    };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    let signature: Uint8Array;
    try {
      signature = await signer.sign(Buffer.from(signingInput, 'ascii'), 'PS256');
    } catch (err) {
      if (err instanceof KeyServiceUnavailableError) throw err;
      throw new ServiceError('misconfigured', 'The service could not sign its client assertion; see its logs.', {
        cause: err,
      });
    }
    body.set('client_id', client.client_id);
    body.set('client_assertion_type', JWT_BEARER);
    body.set('client_assertion', `${signingInput}.${Buffer.from(signature).toString('base64url')}`);
  };
}

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

export interface ConfiguredCredentials {
  /** TOKEN_ENDPOINT_AUTH_METHOD, when the operator chose one. */
  explicit?: TokenEndpointAuthMethod;
  /** A client assertion key (and certificate thumbprint) is configured. */
  hasKey: boolean;
  /** A client secret (plain or in Secrets Manager) is configured. */
  hasSecret: boolean;
  /**
   * Send a secret in the body even where Basic is offered. For Entra: Microsoft documents
   * `client_secret` in the body, and Entra has been reported not to form-decode Basic credentials,
   * which RFC 6749 §2.3.1 (and oauth4webapi) form-encode: a GUID client id's `-` becomes `%2D`.
   */
  preferSecretInBody?: boolean;
}

/**
 * The method to use: the explicit setting, else the most preferred method that both the
 * configuration allows (key → private_key_jwt; secret → client_secret_basic, then
 * client_secret_post, or post first for Entra; nothing → none) and the provider advertises. Without
 * `token_endpoint_auth_methods_supported` the provider supports client_secret_basic only
 * (OIDC Discovery §3, RFC 8414 §2). `none` is never refused on metadata: Entra, like many providers,
 * leaves it out of the list yet serves public clients, which are a registration setting.
 */
export function chooseTokenEndpointAuthMethod(
  configured: ConfiguredCredentials,
  supportedByProvider: readonly string[] | undefined,
): TokenEndpointAuthMethod {
  const supported = new Set(supportedByProvider ?? ['client_secret_basic']);
  if (configured.explicit) {
    if (configured.explicit !== 'none' && !supported.has(configured.explicit)) {
      throw new ConfigError(
        `TOKEN_ENDPOINT_AUTH_METHOD is ${configured.explicit}, but the identity provider supports only ${[...supported].join(', ')}`,
      );
    }
    return configured.explicit;
  }
  const candidates: TokenEndpointAuthMethod[] = [];
  if (configured.hasKey) candidates.push('private_key_jwt');
  if (configured.hasSecret) {
    candidates.push(
      ...(configured.preferSecretInBody
        ? (['client_secret_post', 'client_secret_basic'] as const)
        : (['client_secret_basic', 'client_secret_post'] as const)),
    );
  }
  if (candidates.length === 0) return 'none';
  const chosen = candidates.find((method) => supported.has(method));
  if (!chosen) {
    throw new ConfigError(
      `The configured client credentials allow ${candidates.join(', ')}, but the identity provider supports only ${[...supported].join(', ')}`,
    );
  }
  return chosen;
}

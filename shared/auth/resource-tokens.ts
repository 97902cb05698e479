import { ServiceError } from '../errors/service-error.ts';
import type { Config } from '../config/config.ts';
import { accessTokenField, type SealedField } from '../crypto/envelope.ts';
import type { EnvironmentToken, Session } from '../stores/model.ts';

/**
 * At most this many per-resource access tokens are kept on a session row (the least recently
 * refreshed is evicted): 16 sealed tokens of a few KB each keep the row far below DynamoDB's 400 KB.
 */
export const MAX_ENVIRONMENT_TOKENS = 16;

/** One resource's access token as the session holds it. */
export interface ResourceToken {
  sealed?: Uint8Array;
  /** Epoch milliseconds. */
  expiresAt: number;
  /** As the provider stated it; absent on tokens stored before it was kept. */
  lifetimeSeconds?: number;
  /** The session version that issued it. */
  version: number;
  field: SealedField;
  refusedWith?: string;
  blockedUntil?: number;
}

/** The resource of the session's own token slot: the sign-in's resource, or DYNAMICS_URL on older rows. */
export function sessionResource(session: Session, config: Config): string | undefined {
  return session.accessResource ?? config.dynamicsUrl?.origin;
}

/** The token the session holds for `resource` (an environment or the discovery service), if any. */
export function resourceToken(session: Session, resource: string, config: Config): ResourceToken | undefined {
  if (resource === sessionResource(session, config)) {
    return {
      sealed: session.accessToken,
      expiresAt: session.accessTokenExpiresAt,
      lifetimeSeconds: session.accessTokenLifetimeSeconds,
      version: session.accessVersion ?? session.version,
      // Rows of DYNAMICS_URL keep the field they always had.
      field: accessTokenField(session.accessResource),
    };
  }
  const entry = session.environmentTokens?.[resource];
  if (!entry) return undefined;
  return { ...entry, sealed: entry.accessToken, field: accessTokenField(resource) };
}

/**
 * Share of an access token's lifetime refreshed ahead of expiry when that is less than
 * REFRESH_SKEW_SECONDS: a token is used for three quarters of its life, however short, and the
 * last quarter leaves room for the refresh itself (one token call) before it runs out.
 */
export const REFRESH_AHEAD_FRACTION = 1 / 4;

/**
 * How long before expiry a token is refreshed: the smaller of REFRESH_SKEW_SECONDS and a quarter of
 * its lifetime, so a 2-minute token is not refreshed on every request under the default 120 s skew.
 * Tokens stored without their lifetime keep the skew alone.
 */
export function refreshAheadMs(
  token: Pick<ResourceToken, 'lifetimeSeconds'>,
  config: Pick<Config, 'refreshSkewSeconds'>,
): number {
  const skewMs = config.refreshSkewSeconds * 1000;
  if (token.lifetimeSeconds === undefined || !(token.lifetimeSeconds > 0)) return skewMs;
  return Math.min(skewMs, token.lifetimeSeconds * 1000 * REFRESH_AHEAD_FRACTION);
}

/** Whether a resource's token is missing or close enough to its expiry to refresh before use. */
export function refreshDue(
  token: Pick<ResourceToken, 'sealed' | 'expiresAt' | 'lifetimeSeconds'> | undefined,
  nowMs: number,
  config: Pick<Config, 'refreshSkewSeconds'>,
): boolean {
  return !token?.sealed || token.expiresAt - nowMs <= refreshAheadMs(token, config);
}

/** The per-resource map with `resource` set, bounded to MAX_ENVIRONMENT_TOKENS (least recently refreshed out). */
export function withEnvironmentToken(
  tokens: Record<string, EnvironmentToken> | undefined,
  resource: string,
  token: EnvironmentToken,
): Record<string, EnvironmentToken> {
  const next = { ...tokens, [resource]: token };
  const byAge = Object.entries(next).sort(([, a], [, b]) => a.refreshedAt - b.refreshedAt);
  while (byAge.length > MAX_ENVIRONMENT_TOKENS) Reflect.deleteProperty(next, byAge.shift()![0]);
  return next;
}

/**
 * The identity provider refuses this environment for this user (no access or no consent): 403, not a
 * sign-out. Its own error code is logged by the refresher, never answered as the service's.
 */
export const environmentRefused = () => new ServiceError('environment_access_denied');

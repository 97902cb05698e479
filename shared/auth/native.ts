import { createHash, hkdfSync, timingSafeEqual } from 'node:crypto';
import { LOOPBACK_REDIRECT_HOSTS } from '../config/urls.ts';
import { openAesGcm, sealAesGcm } from '../crypto/aes-gcm.ts';
import { ServiceError } from '../errors/service-error.ts';
import { randomToken, sha256 } from '../crypto/random.ts';
import type { Services } from '../runtime.ts';
import { parseRedirectTarget } from './return-to.ts';

/** A handoff is redeemable for this long after the callback. */
export const HANDOFF_TTL_SECONDS = 60;

const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** RFC 7636 §4.1 code_verifier: 43–128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/**
 * A native client's redirect target (RFC 8252): the loopback interface over http on any port
 * (§7.3; IP literals only, §8.3), or one of the configured private-use URI schemes (§7.1).
 */
export function checkNativeReturnTo(raw: string, schemes: ReadonlySet<string>): string | undefined {
  // eslint-disable-next-line no-control-regex
  const url = parseRedirectTarget(raw, /[\u0000-\u0020\u007f\\]/);
  if (!url || url.username || url.password || url.hash) return undefined;
  if (url.protocol === 'http:' && LOOPBACK_REDIRECT_HOSTS.has(url.hostname)) return url.href;
  if (schemes.has(url.protocol.slice(0, -1))) return url.href;
  return undefined;
}

export function isS256Challenge(value: string | undefined): value is string {
  return typeof value === 'string' && S256_CHALLENGE.test(value);
}

function handoffKey(handoff: string): Buffer {
  return Buffer.from(hkdfSync('sha256', handoff, 'dynamics-auth', 'handoff session token', 32));
}

/**
 * Creates the one-time handoff for a native client. Only SHA-256(handoff) is stored, with the
 * session token sealed under a key derived from the handoff itself: a database reader cannot
 * recover the session token, and whoever intercepts the handoff still needs the client's verifier.
 */
export async function createHandoff(
  services: Pick<Services, 'handoffs' | 'now'>,
  sessionToken: string,
  sessionExpiresAt: number,
  clientChallenge: string,
): Promise<string> {
  const handoff = randomToken();
  const id = sha256(handoff);
  const sealed = sealAesGcm(handoffKey(handoff), sessionToken, Buffer.from(id));
  await services.handoffs.save({
    id,
    clientChallenge,
    sealedSessionToken: new Uint8Array(sealed),
    sessionExpiresAt,
    expiresAt: Math.floor(services.now() / 1000) + HANDOFF_TTL_SECONDS,
  });
  return handoff;
}

const invalidGrant = () => new ServiceError('invalid_grant');

/**
 * POST /auth/token: redeems a handoff exactly once. The handoff is consumed before the verifier is
 * checked, so a wrong guess burns it (no retries against one handoff).
 */
export async function redeemHandoff(
  services: Pick<Services, 'handoffs' | 'now'>,
  body: { handoff?: unknown; client_verifier?: unknown },
): Promise<{ sessionToken: string; expiresAt: number }> {
  const { handoff, client_verifier: verifier } = body;
  if (
    typeof handoff !== 'string' ||
    !/^[A-Za-z0-9_-]{43}$/.test(handoff) ||
    typeof verifier !== 'string' ||
    !VERIFIER.test(verifier)
  ) {
    throw new ServiceError('invalid_request', 'Send JSON {"handoff": "...", "client_verifier": "..."}.');
  }
  const id = sha256(handoff);
  const stored = await services.handoffs.consume(id, Math.floor(services.now() / 1000));
  if (!stored) throw invalidGrant();
  const challenge = Buffer.from(createHash('sha256').update(verifier).digest('base64url'));
  const expected = Buffer.from(stored.clientChallenge);
  if (challenge.length !== expected.length || !timingSafeEqual(challenge, expected)) throw invalidGrant();
  const sessionToken = openAesGcm(handoffKey(handoff), stored.sealedSessionToken, Buffer.from(id)).toString('utf8');
  return { sessionToken, expiresAt: stored.sessionExpiresAt };
}

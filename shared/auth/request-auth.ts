import { headersOf } from '../http/event.ts';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { Config } from '../config/config.ts';
import { isTokenShaped, sha256 } from '../crypto/random.ts';
import { bearerCredential } from '../http/bearer.ts';
import { readCookie, SESSION_COOKIE } from '../http/cookies.ts';
import { csrfRejected, unauthenticated } from '../http/errors.ts';
import type { Services } from '../runtime.ts';
import type { Session, SessionStore } from '../stores/model.ts';
import { isMeantAsApiKey, requireApiKey } from './api-keys.ts';
import { checkConnectionId, loadActiveConnection } from './connections.ts';

export type Credential = { via: 'cookie' | 'bearer'; sessionId: string };

/** Session activity is recorded at most this often (keeps the warm proxy path read-only). */
export const ACTIVITY_WRITE_INTERVAL_MS = 5 * 60_000;

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  return headersOf(event)[name.toLowerCase()];
}

/**
 * Reads the session credential: `Authorization: Bearer <session token>` (non-browser clients) or the
 * `__Host-` session cookie, when sent exactly once. Only SHA-256 of the token is ever looked up.
 */
export function readCredential(event: APIGatewayProxyEventV2): Credential | undefined {
  const authorization = header(event, 'authorization');
  if (authorization !== undefined) {
    const token = bearerCredential(authorization);
    return isTokenShaped(token) ? { via: 'bearer', sessionId: sha256(token) } : undefined;
  }
  const cookie = readCookie(
    event.cookies ?? (header(event, 'cookie') ? [header(event, 'cookie')!] : []),
    SESSION_COOKIE,
  );
  // A session cookie sent twice authenticates nothing: picking one would let a planted cookie win.
  if (cookie.kind !== 'single') return undefined;
  return isTokenShaped(cookie.value) ? { via: 'cookie', sessionId: sha256(cookie.value) } : undefined;
}

/**
 * Cookie-authenticated unsafe requests must carry `X-CSRF: 1` (a header a cross-site form cannot set
 * without a CORS preflight) and, when an Origin is sent, an allowed one.
 */
export function checkCsrf(event: APIGatewayProxyEventV2, credential: Credential | undefined, config: Config): void {
  // Only the cookie is ambient (sent by the browser on its own); a request without it has nothing to forge.
  if (credential?.via !== 'cookie') return;
  if (!UNSAFE_METHODS.has(event.requestContext.http.method.toUpperCase())) return;
  if (header(event, 'x-csrf') !== '1')
    throw csrfRejected('Cookie-authenticated requests must send the header X-CSRF: 1.');
  const origin = header(event, 'origin');
  if (origin !== undefined && origin !== config.publicBaseUrl.origin && !config.allowedOrigins.has(origin)) {
    throw csrfRejected('The request comes from an origin that is not allowed.');
  }
}

/** Authenticates the request (CSRF rules included) and loads its session, or throws 401/403. */
export async function requireSession(
  event: APIGatewayProxyEventV2,
  sessions: SessionStore,
  config: Config,
  nowMs: number,
): Promise<Session> {
  const credential = readCredential(event);
  checkCsrf(event, credential, config);
  if (!credential) throw unauthenticated();
  const session = await sessions.get(credential.sessionId, Math.floor(nowMs / 1000));
  if (!session) throw unauthenticated();
  // Sliding idle timeout: one write per session per ACTIVITY_WRITE_INTERVAL_MS at most.
  if (nowMs - session.lastSeenAt >= ACTIVITY_WRITE_INTERVAL_MS) {
    await sessions.touch(session.id, nowMs);
    session.lastSeenAt = nowMs;
  }
  return session;
}

/** Who calls the proxy: the session whose tokens are used, and whether it may impersonate other users. */
export interface ProxyCaller {
  session: Session;
  mayImpersonate: boolean;
}

/**
 * The proxy's caller: a user's session (cookie or bearer session token), or a backend's managed
 * connection (`Authorization: Bearer <API key>` with `Connection-Id`). A bearer credential meant as an
 * API key (its prefix, or sent with `Connection-Id`) that is wrong gets 401 `invalid_api_key`.
 */
export async function requireProxyCaller(
  event: APIGatewayProxyEventV2,
  services: Pick<Services, 'apiKeys' | 'config' | 'sessions' | 'now'>,
): Promise<ProxyCaller> {
  const bearer = bearerCredential(header(event, 'authorization'));
  if (bearer && (isMeantAsApiKey(bearer) || header(event, 'connection-id') !== undefined)) {
    const key = await requireApiKey(event, services.apiKeys);
    const connectionId = checkConnectionId(header(event, 'connection-id'));
    // A backend acting for its users impersonates only if its key was created for it (off by default).
    return {
      session: await loadActiveConnection(services, key.keyId, connectionId),
      mayImpersonate: key.allowImpersonation === true,
    };
  }
  // Signed-in users may: Dataverse grants it only to users holding prvActOnBehalfOfAnotherUser themselves.
  return {
    session: await requireSession(event, services.sessions, services.config, services.now()),
    mayImpersonate: true,
  };
}

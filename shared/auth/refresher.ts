import { randomToken } from '../crypto/random.ts';
import type { TokenVault } from '../crypto/envelope.ts';
import { loginRequired, serviceUnavailable } from '../http/errors.ts';
import type { EntraClient } from '../oauth/client.ts';
import { TerminalGrantError } from '../oauth/errors.ts';
import { logger } from '../observability/logger.ts';
import type { RotatedTokens, Session, SessionStore } from '../stores/model.ts';
import { reconnectRequired } from './connections.ts';

export interface RefresherOptions {
  /** How long a refresh lease is held at most (a crashed holder blocks others this long). */
  leaseMs?: number;
  /** Poll interval while another instance holds the lease. */
  pollMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface RefresherDeps {
  sessions: SessionStore;
  vault: () => Promise<TokenVault>;
  entra: () => Promise<EntraClient>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Single-flight token refresh across requests and instances.
 *
 * In one process, concurrent callers for the same (session, version) share one promise. Across
 * processes, a lease in the session item (conditional write on version and lease expiry) lets one
 * refresher call the token endpoint; the others poll until the version moves on. Every attempt first
 * re-reads the session and returns it if its version already changed (lock, then double-check).
 */
export class SessionRefresher {
  private readonly inFlight = new Map<string, Promise<Session>>();
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly deps: RefresherDeps,
    options: RefresherOptions = {},
  ) {
    // Longer than one refresh can take (discovery and token call, 8 s each at most), shorter than the
    // functions that wait for it (29 s).
    this.leaseMs = options.leaseMs ?? 20_000;
    this.pollMs = options.pollMs ?? 100;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? defaultSleep;
  }

  /**
   * Returns a session whose tokens are newer than `staleVersion`, refreshing them if nobody else has.
   * Throws `login_required` when the grant is gone, and 503 when the refresh could not finish before
   * `deadlineMs` (the caller's own time budget: it must answer before its Lambda is cut off).
   */
  refreshFrom(sessionId: string, staleVersion: number, deadlineMs = this.now() + this.leaseMs): Promise<Session> {
    const key = `${sessionId}#${staleVersion}`;
    let flight = this.inFlight.get(key);
    if (!flight) {
      flight = this.run(sessionId, staleVersion, deadlineMs).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, flight);
    }
    return flight;
  }

  private async run(sessionId: string, staleVersion: number, deadlineMs: number): Promise<Session> {
    for (;;) {
      const current = await this.deps.sessions.get(sessionId, Math.floor(this.now() / 1000));
      if (!current) throw loginRequired();
      if (current.connection?.status === 'failed') throw reconnectRequired(current.connection.lastError);
      if (current.version !== staleVersion) return current;
      // Another instance holds a live lease: wait for its result instead of racing it.
      const leaseFree = current.leaseUntil === undefined || current.leaseUntil < this.now();
      if (leaseFree) {
        const leaseId = randomToken();
        const leaseUntil = this.now() + this.leaseMs;
        if (await this.deps.sessions.acquireRefreshLease(sessionId, staleVersion, leaseId, leaseUntil, this.now())) {
          return this.rotate(current, leaseId, Math.min(deadlineMs, leaseUntil));
        }
      }
      const pause = this.pollMs / 2 + Math.random() * this.pollMs;
      if (this.now() + pause >= deadlineMs) {
        throw serviceUnavailable('Another refresh of this session is still running; retry shortly.');
      }
      await this.sleep(pause);
    }
  }

  private async rotate(current: Session, leaseId: string, deadlineMs: number): Promise<Session> {
    const { sessions } = this.deps;
    let rotated: RotatedTokens;
    try {
      const vault = await this.deps.vault();
      const refreshToken = await vault.open(current.id, current.dataKey, 'refresh_token', current.refreshToken);
      const entra = await this.deps.entra();
      const tokens = await entra.refresh(refreshToken, Math.max(1, deadlineMs - this.now()));
      // Entra rotates the refresh token on every refresh; keep the old one if none came back.
      const sealed = await vault.seal(
        current.id,
        { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? refreshToken },
        current.dataKey,
      );
      rotated = { ...sealed, accessTokenExpiresAt: tokens.accessTokenExpiresAt };
    } catch (err) {
      if (err instanceof TerminalGrantError) {
        if (current.connection) {
          // A backend's connection is kept, marked, so its owner can see why and reconnect the user.
          logger.info('refresh grant ended; connection marked failed', { oauthError: err.oauthError });
          await sessions.markConnectionFailed(current.id, current.version, leaseId, err.oauthError, this.now());
          throw reconnectRequired(err.oauthError);
        }
        logger.info('refresh grant ended; session deleted', { oauthError: err.oauthError });
        await sessions.delete(current.id);
        throw loginRequired();
      }
      await sessions.releaseRefreshLease(current.id, leaseId).catch(() => undefined);
      throw err;
    }
    const nowMs = this.now();
    let saved: boolean;
    try {
      saved = await sessions.saveRotatedTokens(current.id, current.version, leaseId, rotated, nowMs);
    } catch (err) {
      // The old refresh token stays stored and valid (Entra does not revoke it on rotation).
      await sessions.releaseRefreshLease(current.id, leaseId).catch(() => undefined);
      throw err;
    }
    if (!saved) {
      // Our lease ran out and someone else rotated; their result is the current one.
      const latest = await sessions.get(current.id, Math.floor(nowMs / 1000));
      if (latest && latest.version !== current.version) return latest;
      throw serviceUnavailable('The session changed during refresh; retry shortly.');
    }
    logger.info('session tokens rotated', { sessionVersion: current.version + 1 });
    return { ...current, ...rotated, version: current.version + 1, refreshedAt: nowMs, leaseUntil: undefined };
  }
}

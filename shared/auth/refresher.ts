import { ServiceError } from '../errors/service-error.ts';
import type { Config } from '../config/config.ts';
import { randomToken } from '../crypto/random.ts';
import type { TokenVault } from '../crypto/envelope.ts';
import { loginRequired, serviceUnavailable } from '../http/errors.ts';
import type { EntraClient } from '../oauth/client.ts';
import { TerminalGrantError } from '../oauth/errors.ts';
import { logger } from '../observability/logger.ts';
import { noMetrics, type MetricsPort, type RefreshTrigger } from '../observability/metrics.ts';
import { systemClock, type Clock } from '../ports.ts';
import type { RotatedTokens, Session, SessionStore } from '../stores/model.ts';
import { reconnectRequired } from './connections.ts';
import { environmentRefused, resourceToken, sessionResource, withEnvironmentToken } from './resource-tokens.ts';

export interface RefresherOptions {
  /** How long a refresh lease is held at most (a crashed holder blocks others this long). */
  leaseMs?: number;
  /** Poll interval while another instance holds the lease. */
  pollMs?: number;
  /** First pause before writing rotated tokens again after a failed write (doubles each time). */
  saveRetryMs?: number;
  now?: Clock;
  sleep?: (ms: number) => Promise<void>;
}

export interface RefresherDeps {
  config: Config;
  sessions: SessionStore;
  vault: () => Promise<TokenVault>;
  entra: () => Promise<EntraClient>;
  metrics?: MetricsPort;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** setTimeout's largest delay; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_SAVE_RETRY_MS = 2_000;

/** A rotation the provider answered but that could not be written yet: its tokens are the only valid ones. */
interface UnsavedRotation {
  trigger: RefreshTrigger;
  current: Session;
  leaseId: string;
  rotated: RotatedTokens;
  ownSlot: boolean;
}

/**
 * Single-flight token refresh across requests and instances.
 *
 * A session has one refresh token and one access token per resource (environment or discovery).
 * In one process, concurrent callers for the same (session, resource, token version) share one
 * promise. Across processes, ONE lease per session (conditional write on the session version and
 * lease expiry) lets one refresher call the token endpoint at a time, whatever the resource: each
 * refresh rotates the one refresh token, and a provider with reuse detection treats a reused one as
 * theft. The others poll; every attempt first re-reads the session and returns it if the token for
 * ITS resource is already newer than the one that failed (lock, then double-check, per resource).
 *
 * Once a token request is sent, the provider may have spent the old refresh token (RFC 9700 §4.14.2:
 * with reuse detection, presenting it again revokes the grant). So the request is awaited until the
 * lease ends, not just for the caller's time budget (a caller whose budget runs out answers 503 and
 * the flight goes on), and a failed write of the new tokens is retried while the lease holds, the
 * tokens kept in memory meanwhile, instead of falling back to the stored, spent one.
 */
export class SessionRefresher {
  private readonly inFlight = new Map<string, Promise<Session>>();
  private readonly unsaved = new Map<string, UnsavedRotation>();
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly saveRetryMs: number;
  private readonly now: Clock;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly metrics: MetricsPort;

  constructor(
    private readonly deps: RefresherDeps,
    options: RefresherOptions = {},
  ) {
    // Longer than one refresh can take (discovery and token call, 8 s each at most), shorter than the
    // functions that wait for it (29 s).
    this.leaseMs = options.leaseMs ?? 20_000;
    this.pollMs = options.pollMs ?? 100;
    this.saveRetryMs = options.saveRetryMs ?? 100;
    this.now = options.now ?? systemClock;
    this.sleep = options.sleep ?? defaultSleep;
    this.metrics = deps.metrics ?? noMetrics;
  }

  /**
   * Returns a session whose tokens are newer than `staleVersion`, refreshing them if nobody else has.
   * Throws `login_required` when the grant is gone, and 503 when the refresh could not finish before
   * `deadlineMs` (the caller's own time budget: it must answer before its Lambda is cut off). A
   * token request already sent is seen through and saved after that caller gave up (see the class).
   * `trigger` says why (refresh ahead of expiry, a 401 from Dataverse, or an explicit call), for metrics.
   */
  refreshFrom(
    sessionId: string,
    staleVersion: number,
    deadlineMs = this.now() + this.leaseMs,
    resource?: string,
    trigger: RefreshTrigger = 'explicit',
  ): Promise<Session> {
    // Callers that name no resource mean the session's own one (DYNAMICS_URL's on most rows): one flight for both.
    const key = `${sessionId}#${resource ?? this.deps.config.dynamicsUrl?.origin ?? ''}#${staleVersion}`;
    let flight = this.inFlight.get(key);
    if (!flight) {
      flight = this.run(sessionId, staleVersion, deadlineMs, trigger, resource).finally(() =>
        this.inFlight.delete(key),
      );
      this.inFlight.set(key, flight);
    }
    return this.within(flight, deadlineMs);
  }

  /** The caller stops waiting at its deadline (503); the flight itself goes on. */
  private within(flight: Promise<Session>, deadlineMs: number): Promise<Session> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(serviceUnavailable('The identity provider has not answered yet; the refresh goes on. Retry shortly.')),
        Math.min(Math.max(0, deadlineMs - this.now()), MAX_TIMER_MS),
      );
    });
    return Promise.race([flight, late]).finally(() => clearTimeout(timer));
  }

  private async run(
    sessionId: string,
    staleVersion: number,
    deadlineMs: number,
    trigger: RefreshTrigger,
    requested?: string,
  ): Promise<Session> {
    const unsaved = this.unsaved.get(sessionId);
    if (unsaved) {
      // New tokens this process holds but could not write: write them before anything else.
      this.unsaved.delete(sessionId);
      await this.saveRotation(unsaved, Math.max(deadlineMs, this.now() + this.leaseMs));
      // Then as any refresh: the row is re-read and this resource's token checked.
    }
    for (;;) {
      const current = await this.deps.sessions.get(sessionId, Math.floor(this.now() / 1000));
      if (!current) throw loginRequired();
      if (current.connection?.status === 'failed') throw reconnectRequired();
      const resource = requested ?? sessionResource(current, this.deps.config);
      if (resource === undefined) throw environmentRequired();
      const token = resourceToken(current, resource, this.deps.config);
      if (token?.refusedWith && (token.blockedUntil ?? 0) > this.now()) throw environmentRefused();
      if (token?.sealed && token.version !== staleVersion) return current;
      // Another instance holds a live lease: wait for its result instead of racing it.
      const leaseFree = current.leaseUntil === undefined || current.leaseUntil < this.now();
      if (leaseFree) {
        const leaseId = randomToken();
        const leaseUntil = this.now() + this.leaseMs;
        if (await this.deps.sessions.acquireRefreshLease(sessionId, current.version, leaseId, leaseUntil, this.now())) {
          return this.rotate(current, resource, leaseId, leaseUntil, trigger);
        }
      }
      const pause = this.pollMs / 2 + Math.random() * this.pollMs;
      if (this.now() + pause >= deadlineMs) {
        throw serviceUnavailable('Another refresh of this session is still running; retry shortly.');
      }
      this.metrics.add('RefreshLeaseWait', 1);
      await this.sleep(pause);
    }
  }

  /** Calls the token endpoint under the lease (until `leaseUntil`) and writes the rotation. */
  private async rotate(
    current: Session,
    resource: string,
    leaseId: string,
    leaseUntil: number,
    trigger: RefreshTrigger,
  ): Promise<Session> {
    const { sessions, config } = this.deps;
    const ownSlot = resource === sessionResource(current, config);
    const field = resourceToken(current, resource, config)?.field ?? `access_token@${resource}`;
    let rotated: RotatedTokens;
    try {
      const vault = await this.deps.vault();
      const refreshToken = await vault.open(current.id, current.dataKey, 'refresh_token', current.refreshToken);
      const entra = await this.deps.entra();
      // Wait for the answer while the lease holds, keeping a quarter of it (3 s at most) to write it.
      const answerBy = leaseUntil - Math.min(3_000, this.leaseMs / 4);
      const tokens = await entra.refresh(refreshToken, resource, Math.max(1, answerBy - this.now()));
      // Entra rotates the refresh token on every refresh; keep the old one if none came back.
      const sealed = await vault.seal(
        current.id,
        { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? refreshToken },
        current.dataKey,
        field,
      );
      rotated = ownSlot
        ? {
            dataKey: sealed.dataKey,
            refreshToken: sealed.refreshToken,
            accessToken: sealed.accessToken,
            accessTokenExpiresAt: tokens.accessTokenExpiresAtMs,
            accessTokenLifetimeSeconds: tokens.accessTokenLifetimeSeconds,
          }
        : {
            dataKey: sealed.dataKey,
            refreshToken: sealed.refreshToken,
            // The session slot's token stays as it was: pin the version that issued it.
            accessVersion: current.accessVersion ?? current.version,
            environmentTokens: withEnvironmentToken(current.environmentTokens, resource, {
              accessToken: sealed.accessToken,
              expiresAt: tokens.accessTokenExpiresAtMs,
              lifetimeSeconds: tokens.accessTokenLifetimeSeconds,
              version: current.version + 1,
              refreshedAt: this.now(),
            }),
          };
    } catch (err) {
      this.metrics.add('Refresh', 1, { outcome: err instanceof TerminalGrantError ? 'terminal' : 'failed', trigger });
      if (err instanceof TerminalGrantError && err.resourceSpecific && !ownSlot) {
        // This environment is refused (no access, no consent); the grant and other environments are fine.
        logger.info('identity provider refused one environment', { oauthError: err.oauthError });
        const refused = withEnvironmentToken(current.environmentTokens, resource, {
          expiresAt: 0,
          version: current.version,
          refreshedAt: this.now(),
          refusedWith: err.oauthError,
          blockedUntil: this.now() + config.dataverseRejectionCooldownSeconds * 1000,
        });
        await sessions.saveEnvironmentTokens(current.id, current.version, refused, leaseId).catch(() => undefined);
        await sessions.releaseRefreshLease(current.id, leaseId).catch(() => undefined);
        throw environmentRefused();
      }
      if (err instanceof TerminalGrantError) {
        if (current.connection) {
          // A backend's connection is kept, marked, so its owner can see why and reconnect the user.
          logger.info('refresh grant ended; connection marked failed', { oauthError: err.oauthError });
          await sessions.markConnectionFailed(current.id, current.version, leaseId, err.oauthError, this.now());
          this.metrics.add('ConnectionStateChange', 1, { state: 'failed' });
          throw reconnectRequired();
        }
        logger.info('refresh grant ended; session deleted', { oauthError: err.oauthError });
        await sessions.delete(current.id);
        throw loginRequired();
      }
      await sessions.releaseRefreshLease(current.id, leaseId).catch(() => undefined);
      throw err;
    }
    return this.saveRotation({ trigger, current, leaseId, rotated, ownSlot }, leaseUntil);
  }

  /**
   * Writes a rotation; a failed write is retried with backoff until `retryUntilMs`. The old refresh
   * token is spent at the provider, so it is never fallen back to: when every write fails, the new
   * tokens stay in this process (the next refresh of the session writes them first) and the caller
   * gets 503.
   */
  private async saveRotation(rotation: UnsavedRotation, retryUntilMs: number): Promise<Session> {
    const { trigger, current, leaseId, rotated, ownSlot } = rotation;
    let pauseMs = this.saveRetryMs;
    let saved: boolean;
    let nowMs: number;
    for (let attempt = 1; ; attempt++) {
      nowMs = this.now();
      try {
        saved = await this.deps.sessions.saveRotatedTokens(current.id, current.version, leaseId, rotated, nowMs);
        break;
      } catch (err) {
        if (this.now() + pauseMs >= retryUntilMs) {
          this.unsaved.set(current.id, rotation);
          this.metrics.add('Refresh', 1, { outcome: 'failed', trigger });
          logger.error('rotated tokens could not be saved; kept in memory', { attempt, error: (err as Error).name });
          throw serviceUnavailable('The session store is unavailable; retry shortly.');
        }
        logger.warn('rotated tokens could not be saved; retrying', { attempt, error: (err as Error).name });
        await this.sleep(pauseMs);
        pauseMs = Math.min(pauseMs * 2, MAX_SAVE_RETRY_MS);
      }
    }
    if (!saved) {
      // Our lease ran out and someone else rotated; their result is the current one.
      const latest = await this.deps.sessions.get(current.id, Math.floor(nowMs / 1000));
      // Revoked (or signed out) while the token call ran: the write did not bring the row back.
      if (!latest) throw loginRequired();
      if (latest.version !== current.version) return latest;
      throw serviceUnavailable('The session changed during refresh; retry shortly.');
    }
    logger.info('session tokens rotated', { sessionVersion: current.version + 1 });
    this.metrics.add('Refresh', 1, { outcome: 'ok', trigger });
    return {
      ...current,
      ...rotated,
      accessToken: rotated.accessToken ?? current.accessToken,
      accessTokenExpiresAt: rotated.accessTokenExpiresAt ?? current.accessTokenExpiresAt,
      accessTokenLifetimeSeconds: ownSlot ? rotated.accessTokenLifetimeSeconds : current.accessTokenLifetimeSeconds,
      accessVersion: ownSlot ? undefined : rotated.accessVersion,
      version: current.version + 1,
      refreshedAt: nowMs,
      leaseUntil: undefined,
    };
  }
}

/** No environment is known for this request: neither chosen nor configured (DYNAMICS_URL). */
export const environmentRequired = () =>
  new ServiceError(
    'environment_required',
    'No Dataverse environment is chosen: list yours at GET /auth/environments, then call /orgs/{host}/api/data/… or choose a default with POST /auth/environment.',
  );

import type { SessionRowKind } from './tables.ts';

/** A login in progress, between /auth/login and /auth/callback. Keyed by SHA-256(state). */
export interface PendingLogin {
  id: string;
  /** RFC 7636 code_verifier. */
  codeVerifier: string;
  /** OIDC nonce, checked against the id_token. */
  nonce: string;
  /** Where to send the browser after the callback (already checked against ALLOWED_RETURN_URLS). */
  returnTo: string;
  /** SHA-256 of the login-binding cookie that ties this login to the browser that started it. */
  bindingHash: string;
  /** Epoch seconds; also the table's TTL attribute. */
  expiresAt: number;
  /** A native or CLI client (RFC 8252): after the callback it gets a one-time handoff, not a cookie. */
  native?: { clientChallenge: string };
  /** A managed connection being connected: the tokens go to this backend's connection. */
  connect?: ConnectTarget;
  /** The environment chosen at sign-in (an origin already checked against DATAVERSE_HOSTS). */
  environment?: string;
}

/** Where a connect sign-in's tokens go, and whose sign-in is accepted for it. */
export interface ConnectTarget {
  ownerKeyId: string;
  connectionId: string;
  /** The connect session (SHA-256 of its token), consumed when the sign-in completes. */
  connectSessionId: string;
  /** Only a user of this tenant may complete it. */
  expectedTenantId?: string;
  /** Only this user (preferred_username, case-insensitive) may complete it. */
  loginHint?: string;
}

/** A native client's one-time handoff, keyed by SHA-256(handoff code). */
export interface Handoff {
  id: string;
  /** S256 challenge of the client's verifier (RFC 7636 applied to the handoff). */
  clientChallenge: string;
  /** The new session's token, AES-256-GCM under a key derived from the handoff code. */
  sealedSessionToken: Uint8Array;
  sessionExpiresAt: number;
  /** Epoch seconds (60 s after the callback). */
  expiresAt: number;
}

/** A backend's request to connect one of its users, keyed by SHA-256(connect token). */
export interface ConnectSession {
  id: string;
  ownerKeyId: string;
  connectionId: string;
  returnTo?: string;
  expectedTenantId?: string;
  loginHint?: string;
  /** The environment the connection is for (an origin already checked against DATAVERSE_HOSTS). */
  environment?: string;
  expiresAt: number;
}

/**
 * A connected user's pending choice of environment, keyed by SHA-256 of the one-time token the
 * chooser page carries: it names the connection row it may set and where the browser goes after.
 */
export interface EnvironmentChoice {
  id: string;
  connectionRowId: string;
  connectionId: string;
  returnTo: string;
  expiresAt: number;
}

/** A backend's API key, keyed by SHA-256(key); the key itself is shown once and never stored. */
export interface ApiKey {
  id: string;
  keyId: string;
  name: string;
  createdAt: number;
  revokedAt?: number;
  /** Whether calls with this key may impersonate other Dataverse users (set at creation; off by default). */
  allowImpersonation?: boolean;
}

/** Managed-connection details on a Sessions row. */
export interface ConnectionInfo {
  ownerKeyId: string;
  connectionId: string;
  status: 'active' | 'failed';
  lastError?: string;
}

/** Who is signed in, from the validated id_token. */
export interface SessionUser {
  oid: string;
  tid: string;
  sub: string;
  name?: string;
  username?: string;
  /**
   * The id_token's `login_hint` optional claim (Entra), sent back as `logout_hint` at logout. Not a
   * secret, but personal data: kept with the session only and never returned to clients.
   */
  loginHint?: string;
}

/** One resource's access token on a session: an environment's (or the discovery service's). */
export interface EnvironmentToken {
  /** AES-256-GCM ciphertext, bound to the resource (field `access_token@<resource>`). */
  accessToken?: Uint8Array;
  /** Epoch milliseconds. */
  expiresAt: number;
  /** The lifetime the provider stated (`expires_in`); absent on tokens stored before it was kept. */
  lifetimeSeconds?: number;
  /** The session version (refresh-token rotation) that issued it: the per-resource "still current?" check. */
  version: number;
  /** Epoch milliseconds of the refresh that wrote it (least recently refreshed is evicted first). */
  refreshedAt: number;
  /** The identity provider refused this resource (no access, no consent): its OAuth error code. */
  refusedWith?: string;
  /** Epoch milliseconds until which a refusal (or Dataverse's rejection of a fresh token) holds. */
  blockedUntil?: number;
}

/** An environment from the Global Discovery Service, as the service keeps and lists it. */
export interface DataverseEnvironment {
  /** The environment URL (origin), e.g. `https://contoso.crm.dynamics.com`: the token audience. */
  url: string;
  /** The Web API origin, e.g. `https://contoso.api.crm.dynamics.com`, when discovery gives one. */
  apiUrl?: string;
  friendlyName: string;
  uniqueName: string;
  urlName?: string;
  environmentId?: string;
  tenantId?: string;
  region?: string;
  version?: string;
  state?: string;
}

/** A session's discovered environments and when they were read (epoch milliseconds). */
export interface DiscoveredEnvironments {
  cachedAt: number;
  environments: DataverseEnvironment[];
}

/** A signed-in user. Keyed by SHA-256(session token); the token itself is never stored. */
export interface Session {
  id: string;
  user: SessionUser;
  /** The session's data key, wrapped by the master key. */
  dataKey: Uint8Array;
  /** AES-256-GCM ciphertexts (see shared/crypto/envelope.ts). */
  accessToken: Uint8Array;
  refreshToken: Uint8Array;
  /** Epoch milliseconds. */
  accessTokenExpiresAt: number;
  /** `accessToken`'s lifetime as the provider stated it (`expires_in`); absent on older rows. */
  accessTokenLifetimeSeconds?: number;
  /** Incremented by every token rotation; refreshes are conditional on it. */
  version: number;
  /** Epoch milliseconds. */
  createdAt: number;
  refreshedAt?: number;
  /** Epoch milliseconds of the last recorded use (written at most every few minutes). */
  lastSeenAt: number;
  /** Epoch seconds; the absolute end of the session and the table's TTL attribute. */
  expiresAt: number;
  /** Epoch milliseconds until which another refresher holds the lease (absent when none). */
  leaseUntil?: number;
  /** Present on managed connections (no idle timeout; refresh failures mark, not delete). */
  connection?: ConnectionInfo;
  /**
   * Epoch milliseconds until which Dataverse's 401s are not worth a refresh: it rejected a freshly
   * refreshed token of this user. Read with the session, written only when that happens.
   */
  dataverseRejectedUntil?: number;
  /**
   * The resource of `accessToken`: absent on rows that hold DYNAMICS_URL's token (all rows written
   * before environments existed), else the origin the sign-in asked for.
   */
  accessResource?: string;
  /** The session version that issued `accessToken` (absent: `version`). */
  accessVersion?: number;
  /** Access tokens for other resources, by resource origin (at most MAX_ENVIRONMENT_TOKENS). */
  environmentTokens?: Record<string, EnvironmentToken>;
  /** The environment `/api/data/` goes to (origin); DYNAMICS_URL when absent. */
  defaultEnvironment?: string;
  /** The caller's environments from discovery (cached on the row). */
  discovered?: DiscoveredEnvironments;
}

/** The fields a token rotation writes: always the refresh token, and one resource's access token. */
export interface RotatedTokens {
  dataKey: Uint8Array;
  refreshToken: Uint8Array;
  /** The session's own slot (`accessResource`), when that is the resource refreshed. */
  accessToken?: Uint8Array;
  accessTokenExpiresAt?: number;
  accessTokenLifetimeSeconds?: number;
  /** Pins the session slot's token version when another resource is refreshed. */
  accessVersion?: number;
  /** The whole per-resource map, when another resource is refreshed. */
  environmentTokens?: Record<string, EnvironmentToken>;
}

/** Whose rows a revocation ends: every session (or connection) of a tenant, a user, or a user in a tenant. */
export interface RowOwner {
  kind: SessionRowKind;
  tenantId?: string;
  userId?: string;
}

export interface PendingLoginStore {
  save(login: PendingLogin): Promise<void>;
  /** Deletes and returns the pending login exactly once; undefined if absent, already used or expired. */
  consume(id: string, nowSeconds: number): Promise<PendingLogin | undefined>;
  /** Stores an admin-consent request's state (a single-use item of its own kind). */
  saveAdminConsent(request: PendingAdminConsent): Promise<void>;
  consumeAdminConsent(id: string, nowSeconds: number): Promise<PendingAdminConsent | undefined>;
}

/** An admin-consent request in flight, keyed by SHA-256 of its state. */
export interface PendingAdminConsent {
  id: string;
  expiresAt: number;
}

export interface SessionStore {
  /**
   * The session, or undefined if absent, past its absolute expiry (TTL deletion is only eventual)
   * or idle for longer than the idle timeout.
   */
  get(id: string, nowSeconds: number): Promise<Session | undefined>;
  /** Records use of the session (sliding idle timeout). */
  touch(id: string, nowMs: number): Promise<void>;
  create(session: Session): Promise<void>;
  /**
   * Takes the refresh lease if the session is still at `version` and no unexpired lease is held.
   * Returns false when another refresher holds it or the version moved on.
   */
  acquireRefreshLease(
    id: string,
    version: number,
    leaseId: string,
    leaseUntilMs: number,
    nowMs: number,
  ): Promise<boolean>;
  /** Gives the lease back without changing tokens (after a failed refresh). */
  releaseRefreshLease(id: string, leaseId: string): Promise<void>;
  /**
   * Writes rotated tokens, increments the version and drops the lease, only if the session is still
   * at `version` and this caller holds the lease. Returns false otherwise.
   */
  saveRotatedTokens(
    id: string,
    version: number,
    leaseId: string,
    tokens: RotatedTokens,
    nowMs: number,
  ): Promise<boolean>;
  /**
   * Deletes the row; true if there was one. With `owner`, only a row that is of that kind, tenant and
   * user (a revocation's target) is deleted.
   */
  delete(id: string, owner?: RowOwner): Promise<boolean>;
  /** Writes (creates or replaces) a managed connection's row. */
  putConnection(session: Session): Promise<void>;
  /**
   * Marks a connection whose grant ended; keeps the row so its owner can see why. Only the lease
   * holder at `version` may: a reconnected row (new version) is never marked by a stale refresh.
   */
  markConnectionFailed(id: string, version: number, leaseId: string, reason: string, nowMs: number): Promise<void>;
  /**
   * Records that Dataverse rejected the tokens at `version` even fresh: no 401-driven refresh until
   * `untilMs`. A row that moved on to other tokens (reconnected) is not marked.
   */
  markDataverseRejected(id: string, version: number, untilMs: number): Promise<void>;
  /** Ends the cool-down (Dataverse accepted the user's token again). */
  clearDataverseRejected(id: string): Promise<void>;
  /**
   * Writes the per-resource map without rotating (a resource refused by the identity provider, or
   * rejected by Dataverse) and drops the lease if `leaseId` holds it; only while the row is at `version`.
   */
  saveEnvironmentTokens(
    id: string,
    version: number,
    tokens: Record<string, EnvironmentToken>,
    leaseId?: string,
  ): Promise<boolean>;
  /** Caches the caller's discovered environments on the row. */
  saveDiscovered(id: string, discovered: DiscoveredEnvironments): Promise<void>;
  /** Sets the environment `/api/data/` goes to. */
  setDefaultEnvironment(id: string, environment: string): Promise<void>;
}

export interface HandoffStore {
  save(handoff: Handoff): Promise<void>;
  consume(id: string, nowSeconds: number): Promise<Handoff | undefined>;
}

export interface ConnectSessionStore {
  save(connect: ConnectSession): Promise<void>;
  /** Reads without consuming (opening the link twice — e.g. a link scanner first — must not spend it). */
  find(id: string, nowSeconds: number): Promise<ConnectSession | undefined>;
  consume(id: string, nowSeconds: number): Promise<ConnectSession | undefined>;
  /** Stores a pending environment choice (a single-use item of its own kind). */
  saveChoice(choice: EnvironmentChoice): Promise<void>;
  /** Reads a pending choice without consuming it (the chooser page may be reloaded). */
  findChoice(id: string, nowSeconds: number): Promise<EnvironmentChoice | undefined>;
  consumeChoice(id: string, nowSeconds: number): Promise<EnvironmentChoice | undefined>;
}

export interface ApiKeyStore {
  /** The key by its hash, or undefined if unknown or revoked. */
  find(id: string): Promise<ApiKey | undefined>;
  create(key: ApiKey): Promise<void>;
  list(): Promise<ApiKey[]>;
  revoke(keyId: string, nowMs: number): Promise<boolean>;
}

/** DynamoDB (or its stand-in) failed in a way a retry may fix; nothing was changed. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

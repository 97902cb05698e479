/**
 * The one HTTP error type. Handlers and the core throw it; the error middleware turns it into
 * `{"error": code, "message": message}` with `status` (on Web API paths OData's
 * `{"error": {"code", "message"}}`). Messages are for humans and never carry
 * tokens, codes, cookies or secrets.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const badRequest = (code: string, message: string) => new HttpError(400, code, message);

/** The session is missing, expired or was ended; the client must sign in again. */
export const unauthenticated = () =>
  new HttpError(401, 'unauthenticated', 'No valid session: sign in at /auth/login.');

/** The grant behind the session can no longer be used (RFC 6749 §5.2 invalid_grant, or Entra interaction_required). */
export const loginRequired = () =>
  new HttpError(401, 'login_required', 'The sign-in has expired or was revoked: sign in again at /auth/login.');

export const csrfRejected = (message: string) => new HttpError(403, 'csrf', message);

/** A dependency (token endpoint, DynamoDB, KMS) failed transiently; nothing stored was changed. */
export const serviceUnavailable = (message: string, cause?: unknown) =>
  new HttpError(503, 'temporarily_unavailable', message, { 'Retry-After': '1' }, { cause });

/** "10 minutes" (or "90 seconds"): a cool-down as people read it. */
function duration(seconds: number): string {
  if (seconds % 60 !== 0) return `${seconds} seconds`;
  const minutes = seconds / 60;
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

/**
 * Dataverse rejected even a freshly refreshed token of this user (e.g. no member of the environment).
 * 403, not 401: a 401 tells clients to sign in again, which changes nothing here and loops.
 */
export const dataverseRejected = (cooldownSeconds: number) =>
  new HttpError(
    403,
    'dataverse_rejected',
    `Dataverse rejects this user's access even with a freshly issued token (the user may have no access to this environment). ` +
      `The service will not refresh this sign-in for Dataverse again for ${duration(cooldownSeconds)}; ` +
      'a successful call or a new sign-in ends that pause.',
  );

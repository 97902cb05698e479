import { ServiceError } from '../errors/service-error.ts';

/** The session is missing, expired or was ended; the client must sign in again. */
export const unauthenticated = () => new ServiceError('unauthenticated');

/** The grant behind the session can no longer be used (RFC 6749 §5.2 invalid_grant, or Entra interaction_required). */
export const loginRequired = () => new ServiceError('login_required');

export const csrfRejected = (message: string) => new ServiceError('csrf', message);

/** A dependency (token endpoint, DynamoDB, KMS) failed transiently; nothing stored was changed. */
export const serviceUnavailable = (message: string, cause?: unknown) =>
  new ServiceError('temporarily_unavailable', message, { cause });

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
  new ServiceError(
    'dataverse_rejected',
    `Dataverse rejects this user's access even with a freshly issued token (the user may have no access to this environment). ` +
      `The service will not refresh this sign-in for Dataverse again for ${duration(cooldownSeconds)}; ` +
      'a successful call or a new sign-in ends that pause.',
  );

/** KMS encryption-context key/value naming what the data key protects (also used in IAM conditions). */
export const ENCRYPTION_PURPOSE_KEY = 'purpose';
export const ENCRYPTION_PURPOSE = 'dynamics-auth/session-tokens';
/** Encryption-context key carrying the session's key hash, binding a ciphertext to its row. */
export const ENCRYPTION_SESSION_KEY = 'session';
/** Purpose of the data keys that seal webhook signing secrets (never opens a session's tokens). */
export const WEBHOOK_SECRET_PURPOSE = 'dynamics-auth/webhook-secret';
/** Encryption-context keys binding a webhook secret to its owner (API key id) and endpoint. */
export const ENCRYPTION_OWNER_KEY = 'owner';
export const ENCRYPTION_ENDPOINT_KEY = 'endpoint';

/** KMS encryption-context key/value naming what the data key protects (also used in IAM conditions). */
export const ENCRYPTION_PURPOSE_KEY = 'purpose';
export const ENCRYPTION_PURPOSE = 'dynamics-auth/session-tokens';
/** Encryption-context key carrying the session's key hash, binding a ciphertext to its row. */
export const ENCRYPTION_SESSION_KEY = 'session';

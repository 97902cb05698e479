import { createHash, randomBytes } from 'node:crypto';

/** 256 bits of randomness, base64url (43 characters). */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** SHA-256, base64url. Used for table keys so a database reader cannot use what it reads. */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** True for strings shaped like `randomToken()` output (cheap pre-check before any lookup). */
export function isTokenShaped(value: string | undefined): value is string {
  return typeof value === 'string' && TOKEN_SHAPE.test(value);
}

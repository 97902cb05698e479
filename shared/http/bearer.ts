/**
 * The credential of `Authorization: Bearer <credential>`, or undefined for any other value. The
 * scheme name is case-insensitive (RFC 9110 §11.1); one space separates it from the credential
 * (RFC 6750 §2.1), which is one run of non-space characters.
 */
export function bearerCredential(authorization: string | undefined): string | undefined {
  return /^Bearer (\S+)$/i.exec(authorization?.trim() ?? '')?.[1];
}

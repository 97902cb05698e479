/**
 * Parses an untrusted redirect target: at most 2,048 characters, none matching `forbidden` (control
 * characters, backslashes, which URL parsers treat inconsistently), absolute. Undefined otherwise.
 */
export function parseRedirectTarget(raw: string, forbidden: RegExp): URL | undefined {
  if (raw.length === 0 || raw.length > 2048 || forbidden.test(raw)) return undefined;
  try {
    return new URL(raw);
  } catch {
    return undefined;
  }
}

/**
 * `returnTo` must name an allowed origin and, when the allowed entry has a path, stay under it
 * (RFC 9700 §4.11: no open redirectors). Returns the normalised URL or undefined.
 */
export function checkReturnTo(raw: string, allowed: readonly URL[]): string | undefined {
  // eslint-disable-next-line no-control-regex
  const url = parseRedirectTarget(raw, /[\u0000-\u001f\u007f\\]/);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) return undefined;
  for (const entry of allowed) {
    if (url.origin !== entry.origin) continue;
    const prefix = entry.pathname;
    if (
      prefix === '/' ||
      url.pathname === prefix ||
      url.pathname.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`)
    ) {
      return url.href;
    }
  }
  return undefined;
}

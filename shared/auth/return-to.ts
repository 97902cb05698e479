/**
 * `returnTo` must name an allowed origin and, when the allowed entry has a path, stay under it
 * (RFC 9700 §4.11: no open redirectors). Returns the normalised URL or undefined.
 */
export function checkReturnTo(raw: string, allowed: readonly URL[]): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (raw.length === 0 || raw.length > 2048 || /[\u0000-\u001f\u007f\\]/.test(raw)) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) return undefined;
  for (const entry of allowed) {
    if (url.origin !== entry.origin) continue;
    const prefix = entry.pathname;
    if (prefix === '/' || url.pathname === prefix || url.pathname.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`)) {
      return url.href;
    }
  }
  return undefined;
}

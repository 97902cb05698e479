/**
 * Cookie names and attributes, written once. Both cookies are `__Host-` prefixed (Secure, Path=/, no
 * Domain), HttpOnly and SameSite=Lax: the IdP's redirect back to /auth/callback is a cross-site
 * top-level navigation, on which a Strict cookie would not be sent.
 */
export const SESSION_COOKIE = '__Host-dyn-session';
export const LOGIN_BINDING_COOKIE = '__Host-dyn-login';

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function serialize(name: string, value: string, maxAgeSeconds: number): string {
  return `${name}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=Lax`;
}

export const sessionCookie = (token: string, maxAgeSeconds: number) => serialize(SESSION_COOKIE, token, maxAgeSeconds);
export const loginBindingCookie = (value: string, maxAgeSeconds: number) =>
  serialize(LOGIN_BINDING_COOKIE, value, maxAgeSeconds);
export const clearCookie = (name: string) => serialize(name, '', 0);

/** What a request says about one cookie name: not sent, sent once, or sent more than once. */
export type CookieLookup = { kind: 'absent' } | { kind: 'single'; value: string } | { kind: 'ambiguous' };

const ABSENT: CookieLookup = { kind: 'absent' };
const AMBIGUOUS: CookieLookup = { kind: 'ambiguous' };

/** RFC 6265 §5.2 / RFC 5234 WSP: only SP and HTAB (not `String.prototype.trim`'s Unicode set). */
const isWsp = (code: number) => code === 0x20 || code === 0x09;

function trimWsp(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isWsp(text.charCodeAt(start))) start++;
  while (end > start && isWsp(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

/**
 * Looks one cookie up in API Gateway v2's `cookies` array (or a raw Cookie header), parsed as RFC
 * 6265 §5.2 does: only SP and HTAB around names and values are whitespace, so a name a sibling
 * subdomain set as "\u00a0__Host-…" (to which no `__Host-` rule applies) is another name. A name
 * sent more than once is `ambiguous`, never one of its values: the caller must treat it as absent.
 * Malformed pairs are skipped, never thrown on; a pair with an empty value counts as absent.
 */
export function readCookie(cookies: readonly string[] | undefined, name: string): CookieLookup {
  if (!cookies || !COOKIE_NAME.test(name)) return ABSENT;
  let found: string | undefined;
  for (const header of cookies) {
    for (const pair of header.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0 || trimWsp(pair.slice(0, eq)) !== name) continue;
      if (found !== undefined) return AMBIGUOUS;
      found = trimWsp(pair.slice(eq + 1));
    }
  }
  return found ? { kind: 'single', value: found } : ABSENT;
}

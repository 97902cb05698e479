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

/**
 * Reads one cookie from API Gateway v2's `cookies` array (or a raw Cookie header). Malformed pairs
 * are skipped, never thrown on; the first occurrence of a name wins.
 */
export function readCookie(cookies: readonly string[] | undefined, name: string): string | undefined {
  if (!cookies) return undefined;
  for (const header of cookies) {
    for (const pair of header.split(';')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const key = pair.slice(0, eq).trim();
      if (key !== name || !COOKIE_NAME.test(key)) continue;
      const value = pair.slice(eq + 1).trim();
      return value.length > 0 ? value : undefined;
    }
  }
  return undefined;
}

/**
 * URL rules the whole service shares: which hosts count as loopback, when plain http is acceptable,
 * and how a base URL loses its trailing slash before a path is appended.
 */

/**
 * Hosts where plain http is acceptable for the service's own settings (local mode and tests): the
 * name `localhost` and the IP literals, since a local IdP or dev server is commonly named either way.
 */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Hosts a native client's loopback redirect may name: IP literals only. RFC 8252 §8.3 — `localhost`
 * is NOT RECOMMENDED, since a name can resolve to a non-loopback interface or be blocked by firewalls.
 */
export const LOOPBACK_REDIRECT_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', '[::1]']);

/** Whether the URL's host is a loopback host (`localhost` or a loopback IP literal). */
export function isLoopback(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

/** https (RFC 6749 §1.6), or plain http to a loopback host, whose traffic never leaves the machine (RFC 8252 §8.3). */
export function isHttpsOrLoopbackHttp(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url));
}

/** A base URL without trailing slashes, ready for `${base}/path`. */
export function withoutTrailingSlash(value: string): string {
  return value.replace(/\/+$/, '');
}

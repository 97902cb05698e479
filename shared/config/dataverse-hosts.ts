/**
 * Which Dataverse environment hosts the service may call (DATAVERSE_HOSTS): exact host names or
 * patterns whose first label is `*` (exactly one DNS label), https only, no ports, no IP literals.
 * Loopback hosts with a port are allowed only where plain-http loopback is (local mode and tests).
 */
import { LOOPBACK_HOSTS } from './urls.ts';

/** One DNS label (RFC 1123 §2.1), lower case: what Dataverse organization names are. */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** A host with an optional port: `[::1]:8080` splits into `[::1]` and `8080`. */
const HOST_AND_PORT = /^(.*?)(?::([1-9]\d{0,4}))?$/;

export class HostPatternError extends Error {
  override name = 'HostPatternError';
}

/** A DNS name of at least two labels, lower case, whose last label is not numeric (no IPv4 literal). */
function isDnsName(host: string): boolean {
  const labels = host.split('.');
  return labels.length >= 2 && labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1]!);
}

function isLoopbackHost(host: string): boolean {
  const m = HOST_AND_PORT.exec(host);
  return !!m && LOOPBACK_HOSTS.has(m[1]!) && (m[2] === undefined || Number(m[2]) <= 65535);
}

/** Parses DATAVERSE_HOSTS entries; throws `HostPatternError` naming the first bad one. */
export function parseHostPatterns(entries: readonly string[], allowLoopback: boolean): string[] {
  return entries.map((entry) => {
    if (entry !== entry.toLowerCase()) throw new HostPatternError(`"${entry}" must be lower case`);
    if (isLoopbackHost(entry)) {
      if (!allowLoopback)
        throw new HostPatternError(`"${entry}": loopback hosts are allowed only in local mode and tests`);
      return entry;
    }
    const rest = entry.startsWith('*.') ? entry.slice(2) : entry;
    // A wildcard must leave a registrable suffix of at least two labels (`*.com` would allow the world).
    if (!isDnsName(rest) || (entry.startsWith('*.') && rest.split('.').length < 2)) {
      throw new HostPatternError(
        `"${entry}" must be a host name or *.<host name> (no scheme, port, path or IP address)`,
      );
    }
    return entry;
  });
}

/** True when `host` (a request's `{host}`) is syntactically a Dataverse host the patterns allow. */
export function hostAllowed(host: string, patterns: readonly string[], allowLoopback: boolean): boolean {
  if (host.length > 253) return false;
  if (isLoopbackHost(host)) return allowLoopback && patterns.includes(host);
  if (!isDnsName(host)) return false;
  return patterns.some((pattern) => {
    if (!pattern.startsWith('*.')) return pattern === host;
    const dot = host.indexOf('.');
    return host.slice(dot + 1) === pattern.slice(2);
  });
}

/** The environment origin of an allowed `{host}`: https, or http for a loopback stand-in. */
export function originOfHost(host: string): string {
  return `${isLoopbackHost(host) ? 'http' : 'https'}://${host}`;
}

/** The `{host}` of an environment URL (host and, for loopback, port), as it appears under `/orgs/`. */
export function hostOfOrigin(origin: string): string {
  return new URL(origin).host;
}

import { ServiceError } from '../errors/service-error.ts';
import { environmentHostAllowed, type Config } from '../config/config.ts';
import { originOfHost } from '../config/dataverse-hosts.ts';

const invalidEnvironment = (message: string) => new ServiceError('invalid_environment', message);

/**
 * The origin of an environment `{host}` (as under `/orgs/{host}`), or 400 when DATAVERSE_HOSTS does
 * not allow it: lower case, no port (except loopback stand-ins in local mode and tests), no IP literal.
 */
export function environmentOriginOfHost(config: Config, host: string): string {
  if (!environmentHostAllowed(config, host)) {
    throw invalidEnvironment(
      'This host is not an allowed Dataverse environment host (DATAVERSE_HOSTS): use the lower-case host of an environment URL from GET /auth/environments.',
    );
  }
  return originOfHost(host);
}

/** The origin of an environment URL a client names (`?environment=`, `{"environment": …}`), or 400. */
export function environmentOriginOfUrl(config: Config, raw: unknown): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 300)
    throw invalidEnvironment('environment must be an environment URL.');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidEnvironment('environment must be an absolute environment URL, e.g. https://contoso.crm.dynamics.com.');
  }
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw invalidEnvironment('environment must be an environment URL without path, query or credentials.');
  }
  // The URL parser lower-cases the host; the caller's own spelling must already be exact.
  const written = raw.replace(/^[a-z]+:\/\//i, '').split(/[/?#]/)[0];
  if (written !== url.host) throw invalidEnvironment('environment must name a lower-case host without a default port.');
  const origin = environmentOriginOfHost(config, url.host);
  if (origin !== url.origin) throw invalidEnvironment('environment must use https.');
  return origin;
}

/** `/orgs/{host}/api/data/…` → the host and the Web API path under it; undefined for other paths. */
export function splitOrgsPath(rawPath: string): { host: string; path: string } | undefined {
  const match = /^\/orgs\/([^/]*)(\/.*)?$/.exec(rawPath);
  if (!match) return undefined;
  return { host: match[1]!, path: match[2] ?? '/' };
}

import { ServiceError } from '../errors/service-error.ts';
import { thrownName } from '../errors/thrown.ts';
import * as z from 'zod/mini';
import { refreshDue, resourceToken } from '../auth/resource-tokens.ts';
import { environmentHostAllowed } from '../config/config.ts';
import { hostOfOrigin, originOfHost } from '../config/dataverse-hosts.ts';
import { logger } from '../observability/logger.ts';
import type { Services } from '../runtime.ts';
import type { DataverseEnvironment, DiscoveredEnvironments, Session } from '../stores/model.ts';

/** A session's environment list is read from the Global Discovery Service again after this long. */
export const DISCOVERY_CACHE_MS = 5 * 60_000;

/** Dataverse Global Discovery Service v2.0 `Instances` (Microsoft: "Discover user organizations"). */
const text = z.optional(z.nullable(z.string()));
const InstancesSchema = z.object({
  value: z.array(
    z.object({
      Url: z.string(),
      ApiUrl: text,
      FriendlyName: text,
      UniqueName: text,
      UrlName: text,
      EnvironmentId: text,
      TenantId: text,
      Region: text,
      Version: text,
      State: z.optional(z.nullable(z.union([z.string(), z.number()]))),
    }),
  ),
});

/** The origin of `raw` if it is an environment URL this deployment may call (DATAVERSE_HOSTS), else undefined. */
function allowedOrigin(services: Pick<Services, 'config'>, raw: string | null | undefined): string | undefined {
  if (!raw) return undefined;
  try {
    const url = new URL(raw);
    if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) return undefined;
    // https only (http solely for loopback stand-ins), exactly as `/orgs/{host}` would reach it.
    return environmentHostAllowed(services.config, url.host) && url.origin === originOfHost(url.host)
      ? url.origin
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Web API origin Discovery names, kept only when it is the environment's own `<org>.api.<rest>`
 * host (Microsoft: the Web API endpoint `https://<org>.api.crm.dynamics.com/api/data/v9.2`), so a
 * discovery answer can never point the proxy at another host with the user's token.
 */
function apiOriginOf(url: string, apiUrl: string | null | undefined): string | undefined {
  if (!apiUrl) return undefined;
  try {
    const env = new URL(url);
    const api = new URL(apiUrl);
    const [org, ...rest] = env.hostname.split('.');
    const expected = `${org}.api.${rest.join('.')}`;
    return api.protocol === env.protocol && api.hostname === expected && api.port === env.port ? api.origin : undefined;
  } catch {
    return undefined;
  }
}

/** Maps a validated discovery answer to the environments this deployment may serve. */
export function toEnvironments(services: Pick<Services, 'config'>, body: unknown): DataverseEnvironment[] {
  const parsed = InstancesSchema.safeParse(body);
  if (!parsed.success)
    throw new ServiceError('discovery_error', 'The Global Discovery Service answered in an unexpected shape.');
  const environments: DataverseEnvironment[] = [];
  for (const instance of parsed.data.value) {
    const url = allowedOrigin(services, instance.Url);
    // Hosts outside DATAVERSE_HOSTS are neither listed nor allowed.
    if (!url) continue;
    environments.push({
      url,
      apiUrl: apiOriginOf(url, instance.ApiUrl),
      friendlyName: instance.FriendlyName ?? instance.UniqueName ?? hostOfOrigin(url),
      uniqueName: instance.UniqueName ?? '',
      urlName: instance.UrlName ?? undefined,
      environmentId: instance.EnvironmentId ?? undefined,
      tenantId: instance.TenantId ?? undefined,
      region: instance.Region ?? undefined,
      version: instance.Version ?? undefined,
      state: instance.State === undefined || instance.State === null ? undefined : String(instance.State),
    });
  }
  return environments;
}

async function getInstances(
  services: Pick<Services, 'config' | 'dataverseFetch' | 'now'>,
  accessToken: string,
  deadlineMs: number,
): Promise<Response> {
  const timeoutMs = Math.min(services.config.upstreamTimeoutMs, deadlineMs - services.now());
  if (timeoutMs <= 0) throw new ServiceError('discovery_timeout');
  try {
    return await services.dataverseFetch(new URL('/api/discovery/v2.0/Instances', services.config.discoveryUrl).href, {
      method: 'GET',
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const name = thrownName(err);
    if (name === 'TimeoutError' || name === 'AbortError') throw new ServiceError('discovery_timeout');
    throw new ServiceError('discovery_unavailable', 'The Global Discovery Service could not be reached.');
  }
}

/** The environments of a Global Discovery Service answer, or the error it stands for. */
async function environmentsOf(services: Pick<Services, 'config'>, response: Response): Promise<DataverseEnvironment[]> {
  if (response.status === 401 || response.status === 403) {
    throw new ServiceError(
      'discovery_rejected',
      'The Global Discovery Service refuses this user; no environments can be listed.',
    );
  }
  if (response.status === 429 || response.status >= 500) throw new ServiceError('discovery_unavailable');
  if (response.status !== 200)
    throw new ServiceError('discovery_error', `The Global Discovery Service answered HTTP ${response.status}.`);
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new ServiceError('discovery_error', 'The Global Discovery Service answered with a body that is not JSON.');
  }
  return toEnvironments(services, body);
}

/**
 * The environments a discovery access token the caller already holds can list (the callback's own,
 * when the sign-in asked for the discovery service): no refresh, no stored token opened.
 */
export async function discoverWithToken(
  services: Pick<Services, 'config' | 'dataverseFetch' | 'now'>,
  accessToken: string,
  deadlineMs: number,
): Promise<DiscoveredEnvironments> {
  const environments = await environmentsOf(services, await getInstances(services, accessToken, deadlineMs));
  return { cachedAt: services.now(), environments };
}

/**
 * The caller's environments: from the session row while younger than DISCOVERY_CACHE_MS, else from
 * the Global Discovery Service with the session's discovery token (refreshed like any other
 * resource's, under the one refresh lease), then cached on the row.
 */
export async function discoverEnvironments(
  services: Services,
  session: Session,
  deadlineMs: number,
  options: { allowCached?: boolean } = {},
): Promise<{ session: Session; discovered: DiscoveredEnvironments }> {
  const now = services.now();
  if (options.allowCached !== false && session.discovered && now - session.discovered.cachedAt < DISCOVERY_CACHE_MS) {
    return { session, discovered: session.discovered };
  }
  const resource = services.config.discoveryUrl.origin;
  const refreshDeadlineMs = deadlineMs - Math.min(5_000, (deadlineMs - now) / 3);
  let current = session;
  let token = resourceToken(current, resource, services.config);
  if (refreshDue(token, now, services.config)) {
    current = await services.refresher.refreshFrom(
      current.id,
      token?.sealed ? token.version : -1,
      refreshDeadlineMs,
      resource,
      'ahead',
    );
    token = resourceToken(current, resource, services.config)!;
  }
  const call = async (s: Session) => {
    const t = resourceToken(s, resource, services.config)!;
    const vault = await services.vault();
    return getInstances(services, await vault.open(s.id, s.dataKey, t.field, t.sealed!), deadlineMs);
  };
  let response = await call(current);
  if (response.status === 401) {
    current = await services.refresher.refreshFrom(current.id, token!.version, refreshDeadlineMs, resource, '401');
    response = await call(current);
  }
  const discovered = { cachedAt: services.now(), environments: await environmentsOf(services, response) };
  await services.sessions.saveDiscovered(current.id, discovered).catch((err: unknown) => {
    logger.warn('could not cache the discovered environments', { error: (err as Error).name });
  });
  logger.info('environments discovered', { count: discovered.environments.length });
  return { session: { ...current, discovered }, discovered };
}

/** The environment to proxy to: where to send calls, which resource to ask tokens for. */
export interface TargetEnvironment {
  /** The environment URL's origin: the token's resource (scope `<url>/user_impersonation`). */
  url: string;
  /** The Web API origin to call, when discovery gives one. */
  apiUrl?: string;
}

/**
 * Resolves an environment origin for this caller: DYNAMICS_URL needs no discovery; any other must
 * be one of the caller's discovered environments (403 otherwise, before any token call for it). A
 * host already in the row's list is served from it whatever its age (the warm path reads nothing
 * else); a host not in it is checked against a fresh list once the cached one is older than
 * DISCOVERY_CACHE_MS.
 */
export async function resolveEnvironment(
  services: Services,
  session: Session,
  origin: string,
  deadlineMs: number,
): Promise<{ session: Session; target: TargetEnvironment }> {
  if (services.config.dynamicsUrl?.origin === origin) return { session, target: { url: origin } };
  const find = (list: DiscoveredEnvironments | undefined) => list?.environments.find((e) => e.url === origin);
  let current = session;
  let found = find(current.discovered);
  if (!found) {
    ({ session: current } = await discoverEnvironments(services, current, deadlineMs));
    found = find(current.discovered);
  }
  if (!found) {
    throw new ServiceError(
      'environment_not_allowed',
      'This environment is not one of yours: GET /auth/environments lists the environments this sign-in can use.',
    );
  }
  return { session: current, target: { url: found.url, apiUrl: found.apiUrl } };
}

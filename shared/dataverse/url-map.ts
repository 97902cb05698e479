/**
 * URL mapping between the Dataverse base `E` (an environment's origin) and the base the client
 * called `B` (the service's public base URL, possibly with a path), as a reverse proxy's
 * `ProxyPassReverse` does: only URLs under `E/api/data/` and `B/api/data/` are ever touched.
 */
import { withoutTrailingSlash } from '../config/urls.ts';

/** The two bases of one proxied call. */
export interface UrlBases {
  /** `E`: the Dataverse environment's origin, e.g. `https://contoso.crm.dynamics.com`. */
  dataverse: string;
  /** `B`: the base the client called, e.g. `https://auth.example.com` or `…/orgs/contoso.crm.dynamics.com`. */
  service: string;
}

/** One direction of the mapping: URLs starting with `from` are rewritten to start with `to`. */
export interface PrefixMap {
  /** `<base>/api/data/`, its origin part lower-cased. */
  readonly from: string;
  readonly to: string;
  /** Length of `from`'s origin part, compared case-insensitively (RFC 3986 §6.2.2.1); the path is exact. */
  readonly originLength: number;
}

const WEB_API_ROOT = '/api/data/';

function prefixMap(fromBase: string, toBase: string): PrefixMap {
  const from = new URL(fromBase);
  const fromPath = withoutTrailingSlash(from.pathname);
  return {
    from: `${from.origin}${fromPath}${WEB_API_ROOT}`,
    to: `${withoutTrailingSlash(toBase)}${WEB_API_ROOT}`,
    originLength: from.origin.length,
  };
}

/** Dataverse → client: what responses carry (annotations, OData-EntityId, Location, $batch parts). */
export function responseUrlMap(bases: UrlBases): PrefixMap {
  return prefixMap(bases.dataverse, bases.service);
}

/** Client → Dataverse: what requests carry (`@odata.bind`, `@odata.id`, `$batch` request lines). */
export function requestUrlMap(bases: UrlBases): PrefixMap {
  return prefixMap(bases.service, bases.dataverse);
}

/** True when `url` starts with the map's `from` prefix (origin case-insensitive, path exact). */
export function startsWithPrefix(url: string, map: PrefixMap): boolean {
  return (
    url.length >= map.from.length &&
    url.slice(0, map.originLength).toLowerCase() === map.from.slice(0, map.originLength) &&
    url.slice(map.originLength, map.from.length) === map.from.slice(map.originLength)
  );
}

/** The URL with its prefix mapped, or the URL unchanged when it lies outside `from`. */
export function mapUrl(url: string, map: PrefixMap): string {
  return startsWithPrefix(url, map) ? map.to + url.slice(map.from.length) : url;
}

/**
 * OData annotations whose values are URLs of the service (OData JSON Format 4.0 §4.5: context, id,
 * edit/read links, navigation/association links, media links, next and delta links). Microsoft's own
 * instance annotations (`@Microsoft.Dynamics.CRM.*`, `@OData.Community.Display.V1.*`) carry paging
 * cookies, counts, formatted values and logical names, never Web API URLs, and are left alone.
 */
export const RESPONSE_URL_ANNOTATIONS: readonly string[] = [
  'odata.context',
  'odata.nextLink',
  'odata.deltaLink',
  'odata.id',
  'odata.editLink',
  'odata.readLink',
  'odata.navigationLink',
  'odata.associationLink',
  'odata.mediaReadLink',
  'odata.mediaEditLink',
];

/** Annotations a client sends URLs in: entity references (`@odata.bind`, `$ref` bodies' `@odata.id`). */
export const REQUEST_URL_ANNOTATIONS: readonly string[] = ['odata.bind', 'odata.id'];

/**
 * Matches a JSON property name that is one of `annotations`, either alone (`@odata.nextLink`) or
 * applied to a property (`primarycontactid@odata.navigationLink`, `parentcustomerid_account@odata.bind`).
 */
export function annotationMatcher(annotations: readonly string[]): (name: string) => boolean {
  const set = new Set(annotations);
  return (name) => {
    const at = name.lastIndexOf('@');
    return at >= 0 && set.has(name.slice(at + 1));
  };
}

import type { Fetch } from '../oauth/client.ts';
import { HttpError } from '../http/errors.ts';
import type { HttpResponse } from '../http/response.ts';
import { logger } from '../observability/logger.ts';
import type { Session } from '../stores/model.ts';
import type { Services } from '../runtime.ts';
import { buildDataverseUrl, forwardableRequestHeaders, returnableResponseHeaders } from './request.ts';

export interface ProxyRequest {
  method: string;
  rawPath: string;
  rawQuery: string;
  headers: Record<string, string | undefined> | undefined;
  body?: Uint8Array;
  /** Milliseconds this invocation may still use (Lambda's remaining time less a safety margin). */
  budgetMs: number;
  /** Whether the caller may impersonate other users (MSCRMCallerID, CallerObjectId). */
  allowImpersonation: boolean;
}

interface UpstreamResponse {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS']);
const ALLOWED_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
/**
 * Lambda responses carry at most 6 MB, and the body goes base64-encoded (4/3 larger) to keep binary
 * and multipart bodies byte for byte: larger bodies get a clear 502 instead of a failed invocation.
 */
export const MAX_RESPONSE_BYTES = 4_400_000;
/** Keep this much of the budget for the response itself. */
const BUDGET_MARGIN_MS = 500;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Forwards one Web API call for the session's user: refresh ahead when the access token is about to
 * expire, refresh once and retry once on 401, retry a short 429 once within the time budget.
 */
export async function forwardToDataverse(services: Services, session: Session, request: ProxyRequest): Promise<HttpResponse> {
  const method = request.method.toUpperCase();
  if (!ALLOWED_METHODS.has(method)) throw new HttpError(405, 'method_not_allowed', `${method} is not proxied.`);
  const url = buildDataverseUrl(services.config.dynamicsUrl, request.rawPath, request.rawQuery);
  const headers = forwardableRequestHeaders(request.headers, { allowImpersonation: request.allowImpersonation });
  const body = BODYLESS.has(method) ? undefined : request.body;
  const started = services.now();
  const remaining = () => request.budgetMs - (services.now() - started);
  // A refresh may use the budget but must leave time for the upstream call that follows it.
  const refreshDeadline = () => started + request.budgetMs - Math.min(5_000, request.budgetMs / 3);

  let current = session;
  if (current.accessTokenExpiresAt - services.now() <= services.config.refreshSkewSeconds * 1000) {
    current = await services.refresher.refreshFrom(current.id, current.version, refreshDeadline());
  }
  const send = async (s: Session) => {
    const vault = await services.vault();
    const accessToken = await vault.open(s.id, s.dataKey, 'access_token', s.accessToken);
    return callUpstream(services.dataverseFetch, url, method, headers, body, accessToken, Math.min(remaining() - BUDGET_MARGIN_MS, services.config.upstreamTimeoutMs));
  };

  let response = await send(current);
  if (response.status === 401) {
    current = await services.refresher.refreshFrom(current.id, current.version, refreshDeadline());
    response = await send(current);
  }
  if (response.status === 429) {
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
    if (
      retryAfterMs !== undefined &&
      retryAfterMs <= services.config.maxRetryAfterSeconds * 1000 &&
      remaining() - retryAfterMs > BUDGET_MARGIN_MS * 2
    ) {
      logger.info('dataverse throttled; retrying once', { retryAfterMs });
      await sleep(retryAfterMs);
      response = await send(current);
    }
  }
  logger.debug('dataverse answered', { method, statusCode: response.status, durationMs: services.now() - started });
  if (response.body.length > MAX_RESPONSE_BYTES) {
    throw new HttpError(
      502,
      'response_too_large',
      'The Dataverse response is larger than a Lambda response can carry (about 4.4 MB): page it with Prefer: odata.maxpagesize or $top.',
    );
  }
  return {
    statusCode: response.status,
    headers: {
      ...returnableResponseHeaders(response.headers),
      'Cache-Control': 'no-store',
      // Dataverse content is served from the service's own origin: never let a browser run it.
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "sandbox; default-src 'none'",
    },
    body: Buffer.from(response.body).toString('base64'),
    isBase64Encoded: true,
  };
}

/** Retry-After in seconds (the form Dataverse uses) or an HTTP date, as milliseconds. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d{1,6}$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

async function callUpstream(
  fetchImpl: Fetch,
  url: URL,
  method: string,
  clientHeaders: Headers,
  body: Uint8Array | undefined,
  accessToken: string,
  timeoutMs: number,
): Promise<UpstreamResponse> {
  if (timeoutMs <= 0) throw new HttpError(504, 'upstream_timeout', 'Dataverse did not answer in time.');
  const headers = new Headers(clientHeaders);
  headers.set('authorization', `Bearer ${accessToken}`);
  try {
    const response = await fetchImpl(url.href, {
      method,
      headers,
      body: body && body.length > 0 ? new Uint8Array(body) : undefined,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    // Read the whole body inside the same timeout: a stalled body is a timeout too.
    return { status: response.status, headers: response.headers, body: new Uint8Array(await response.arrayBuffer()) };
  } catch (err) {
    const name = (err as Error)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new HttpError(504, 'upstream_timeout', 'Dataverse did not answer in time.');
    }
    throw new HttpError(502, 'upstream_unreachable', 'Dataverse could not be reached.', {}, { cause: err });
  }
}

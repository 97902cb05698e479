import { ServiceError } from '../errors/service-error.ts';
import { thrownName } from '../errors/thrown.ts';
import type { Fetch } from '../oauth/client.ts';
import { dataverseRejected } from '../http/errors.ts';
import type { HttpResponse } from '../http/response.ts';
import { logger } from '../observability/logger.ts';
import { inSpan } from '../observability/tracing.ts';
import type { Session } from '../stores/model.ts';
import type { Services } from '../runtime.ts';
import { environmentRequired } from '../auth/refresher.ts';
import { environmentRefused, refreshDue, resourceToken, withEnvironmentToken } from '../auth/resource-tokens.ts';
import type { TargetEnvironment } from './discovery.ts';
import { mapBatchRequest, mapBatchResponse, multipartBoundary, URL_RESPONSE_HEADERS } from './batch.ts';
import { compressBody, isCompressible, negotiateContentCoding, type ContentCoding } from './compression.ts';
import { mapJsonAnnotations } from './json-annotations.ts';
import { buildDataverseUrl, forwardableRequestHeaders, returnableResponseHeaders } from './request.ts';
import {
  annotationMatcher,
  mapUrl,
  REQUEST_URL_ANNOTATIONS,
  requestUrlMap,
  RESPONSE_URL_ANNOTATIONS,
  responseUrlMap,
  type UrlBases,
} from './url-map.ts';
import { publicBase } from '../config/config.ts';

export interface ProxyRequest {
  method: string;
  /** The path as an HTTP API delivers it (`rawPath`): URL-decoded. */
  rawPath: string;
  rawQuery: string;
  headers: Record<string, string | undefined> | undefined;
  body?: Uint8Array;
  /** Milliseconds this invocation may still use (Lambda's remaining time less a safety margin). */
  budgetMs: number;
  /** The base URL the client called (`B` of the URL mapping); default PUBLIC_BASE_URL. */
  serviceBase?: string;
  /** Whether the caller may impersonate other users (MSCRMCallerID, CallerObjectId). */
  allowImpersonation: boolean;
  /** The environment to call (already checked for this caller); default DYNAMICS_URL. */
  environment?: TargetEnvironment;
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
 * The limit applies to the body as sent: compressed when the client accepts gzip or br.
 */
export const MAX_RESPONSE_BYTES = 4_400_000;
/**
 * The most the proxy reads from Dataverse (a page can be tens of MB): an eighth of the function's
 * memory (64 MB at the proxy's 512 MB), since the body, its mapped copy and its compressed copy
 * are all in memory at once. Lambda sets AWS_LAMBDA_FUNCTION_MEMORY_SIZE; locally 512 MB is assumed.
 */
export function upstreamReadLimit(memoryMb = Number(process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE) || 512): number {
  return Math.max(8, Math.floor(memoryMb / 8)) * 1024 * 1024;
}
/** Codings fetch (undici) decodes itself: a body that had one of these arrives decoded. */
const DECODED_BY_FETCH = new Set(['identity', 'gzip', 'x-gzip', 'deflate', 'br']);
/** Keep this much of the budget for the response itself. */
const BUDGET_MARGIN_MS = 500;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Forwards one Web API call for the session's user: refresh ahead when the access token is about to
 * expire, refresh once and retry once on 401 (unless Dataverse rejected a fresh token of this user
 * within the cool-down: then 403 `dataverse_rejected` at once), retry a short 429 once within the time budget.
 */
export async function forwardToDataverse(
  services: Services,
  session: Session,
  request: ProxyRequest,
): Promise<HttpResponse> {
  const method = request.method.toUpperCase();
  if (!ALLOWED_METHODS.has(method)) throw new ServiceError('method_not_allowed', `${method} is not proxied.`);
  const { config } = services;
  const target = request.environment ?? (config.dynamicsUrl ? { url: config.dynamicsUrl.origin } : undefined);
  if (!target) throw environmentRequired();
  // Microsoft: tokens are for the environment URL (`<url>/user_impersonation`); calls may go to its Web API host.
  const resource = target.url;
  const callOrigin = target.apiUrl ?? target.url;
  const url = buildDataverseUrl(new URL(callOrigin), request.rawPath, request.rawQuery);
  const headers = forwardableRequestHeaders(request.headers, { allowImpersonation: request.allowImpersonation });
  const service = request.serviceBase ?? publicBase(config);
  const bases: UrlBases[] = [{ dataverse: callOrigin, service }];
  // Dataverse may name either origin in what it answers: both map back to the client's base.
  if (target.apiUrl) bases.push({ dataverse: target.url, service });
  const body =
    BODYLESS.has(method) || !request.body
      ? undefined
      : mapRequestBody(request.body, headers.get('content-type'), bases[0]!);
  const coding = negotiateContentCoding(headerValue(request.headers, 'accept-encoding'));
  const started = services.now();
  const remaining = () => request.budgetMs - (services.now() - started);
  // A refresh may use the budget but must leave time for the upstream call that follows it.
  const refreshDeadlineMs = () => started + request.budgetMs - Math.min(5_000, request.budgetMs / 3);
  const tokenOf = (s: Session) => resourceToken(s, resource, config);
  const ownSlot = (s: Session) => tokenOf(s)?.field === 'access_token' || s.accessResource === resource;

  let current = session;
  const held = tokenOf(current);
  if (held?.refusedWith && (held.blockedUntil ?? 0) > services.now()) throw environmentRefused();
  if (refreshDue(held, services.now(), config)) {
    current = await services.refresher.refreshFrom(
      current.id,
      held?.sealed ? held.version : -1,
      refreshDeadlineMs(),
      resource,
      'ahead',
    );
  }
  const send = async (s: Session) => {
    const token = tokenOf(s)!;
    const vault = await services.vault();
    const accessToken = await vault.open(s.id, s.dataKey, token.field, token.sealed!);
    return callUpstream(
      services.dataverseFetch,
      url,
      method,
      headers,
      body,
      accessToken,
      Math.min(remaining() - BUDGET_MARGIN_MS, config.upstreamTimeoutMs),
    );
  };

  let response = await send(current);
  if (response.status === 401) {
    // Dataverse rejected this user's fresh token a moment ago: another refresh would change nothing.
    const rejectedUntilMs = ownSlot(current) ? current.dataverseRejectedUntil : tokenOf(current)?.blockedUntil;
    if ((rejectedUntilMs ?? 0) > services.now()) throw dataverseRejected(config.dataverseRejectionCooldownSeconds);
    current = await services.refresher.refreshFrom(
      current.id,
      tokenOf(current)!.version,
      refreshDeadlineMs(),
      resource,
      '401',
    );
    response = await send(current);
    if (response.status === 401)
      throw await rejectedEvenFresh(services, current, ownSlot(current) ? undefined : resource);
  }
  if (ownSlot(current) && current.dataverseRejectedUntil !== undefined && response.status < 500) {
    // Dataverse accepted the token (anything but 401 and its own failures): 401s are worth a refresh again.
    await services.sessions.clearDataverseRejected(current.id).catch((err: unknown) => {
      logger.warn('could not clear the dataverse rejection mark', { error: (err as Error).name });
    });
  }
  if (response.status === 429) {
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), services.now());
    countThrottling(services, retryAfterMs);
    if (
      retryAfterMs !== undefined &&
      retryAfterMs <= config.maxRetryAfterSeconds * 1000 &&
      remaining() - retryAfterMs > BUDGET_MARGIN_MS * 2
    ) {
      logger.info('dataverse throttled; retrying once', { retryAfterMs });
      await sleep(retryAfterMs);
      response = await send(current);
      if (response.status === 429)
        countThrottling(services, parseRetryAfter(response.headers.get('retry-after'), services.now()));
    }
  }
  logger.debug('dataverse answered', { method, statusCode: response.status, durationMs: services.now() - started });
  return toClientResponse(response, bases, coding);
}

/** Dataverse service protection answered 429: counted, with the Retry-After it asked for (seconds). */
function countThrottling(services: Pick<Services, 'metrics'>, retryAfterMs: number | undefined): void {
  services.metrics.add('DataverseThrottled', 1);
  if (retryAfterMs !== undefined) services.metrics.add('DataverseRetryAfter', Math.round(retryAfterMs / 1000));
}

/** Maps the service's URLs in `@odata.bind`/`@odata.id` values and `$batch` parts to Dataverse's. */
function mapRequestBody(body: Uint8Array, contentType: string | null, bases: UrlBases): Uint8Array {
  if (multipartBoundary(contentType)) return mapBatchRequest(body, contentType!, bases);
  if (/json/i.test(contentType ?? ''))
    return mapJsonAnnotations(body, requestUrlMap(bases), annotationMatcher(REQUEST_URL_ANNOTATIONS));
  return body;
}

/**
 * The client's answer: Dataverse URLs in headers, annotations and `$batch` parts mapped to the
 * service's, compressed when the client accepts it, within what a Lambda response can carry.
 */
function toClientResponse(
  response: UpstreamResponse,
  allBases: UrlBases[],
  accepted: ContentCoding | undefined,
): HttpResponse {
  const headers = returnableResponseHeaders(response.headers);
  const responseMaps = allBases.map(responseUrlMap);
  for (const name of URL_RESPONSE_HEADERS) {
    for (const map of responseMaps) if (headers[name] !== undefined) headers[name] = mapUrl(headers[name], map);
  }
  const contentType = response.headers.get('content-type');
  const upstreamCoding = (response.headers.get('content-encoding') ?? '')
    .toLowerCase()
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  // A body fetch could not decode is still encoded: pass it, and its Content-Encoding, as it came.
  const stillEncoded = upstreamCoding.some((c) => !DECODED_BY_FETCH.has(c));
  let body = response.body;
  let coding: string | undefined;
  if (stillEncoded) {
    coding = response.headers.get('content-encoding')!;
  } else {
    for (const [i, bases] of allBases.entries()) {
      if (multipartBoundary(contentType)) body = mapBatchResponse(body, contentType!, bases);
      else if (/json/i.test(contentType ?? ''))
        body = mapJsonAnnotations(body, responseMaps[i]!, annotationMatcher(RESPONSE_URL_ANNOTATIONS));
    }
    if (accepted && isCompressible(contentType, body.length)) {
      body = compressBody(body, accepted);
      coding = accepted;
    }
  }
  if (body.length > MAX_RESPONSE_BYTES) {
    const advice =
      coding && !stillEncoded
        ? ` even compressed with ${coding}: page it with Prefer: odata.maxpagesize or $top.`
        : `: page it with Prefer: odata.maxpagesize or $top${!accepted && isCompressible(contentType, body.length) ? ', or send Accept-Encoding: gzip or br' : ''}.`;
    throw new ServiceError(
      'response_too_large',
      `The Dataverse response is larger than a Lambda response can carry (about 4.4 MB)${advice}`,
    );
  }
  return {
    statusCode: response.status,
    headers: {
      ...headers,
      ...(coding ? { 'Content-Encoding': coding } : {}),
      // The body depends on Accept-Encoding (RFC 9110 §12.5.5).
      Vary: 'Accept-Encoding',
      'Cache-Control': 'no-store',
      // Dataverse content is served from the service's own origin: never let a browser run it.
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "sandbox; default-src 'none'",
    },
    body: Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64'),
    isBase64Encoded: true,
  };
}

/**
 * Dataverse answered 401 to a token just refreshed: the user is rejected (e.g. no member of the
 * environment), not signed out. Marks the session so that its 401s skip the token endpoint for the
 * cool-down, and answers 403 (a 401 would send the client to sign in again, and round the loop).
 */
async function rejectedEvenFresh(
  services: Pick<Services, 'config' | 'sessions' | 'now'>,
  session: Session,
  resource?: string,
): Promise<ServiceError> {
  const cooldownSeconds = services.config.dataverseRejectionCooldownSeconds;
  const untilMs = services.now() + cooldownSeconds * 1000;
  logger.info('dataverse rejected a fresh token; refresh paused', {
    cooldownSeconds,
    connection: session.connection !== undefined,
  });
  const entry = resource === undefined ? undefined : session.environmentTokens?.[resource];
  // Another environment's rejection pauses that environment only.
  const mark = entry
    ? services.sessions.saveEnvironmentTokens(
        session.id,
        session.version,
        withEnvironmentToken(session.environmentTokens, resource!, { ...entry, blockedUntil: untilMs }),
      )
    : services.sessions.markDataverseRejected(session.id, session.version, untilMs);
  await mark.catch((err: unknown) =>
    logger.warn('could not mark the dataverse rejection', { error: (err as Error).name }),
  );
  return dataverseRejected(cooldownSeconds);
}

function headerValue(headers: Record<string, string | undefined> | undefined, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers ?? {})) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** Retry-After in seconds (the form Dataverse uses) or an HTTP date, as milliseconds. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (!value) return undefined;
  if (/^\d{1,6}$/.test(value.trim())) return Number(value.trim()) * 1000;
  const atMs = Date.parse(value);
  return Number.isNaN(atMs) ? undefined : Math.max(0, atMs - nowMs);
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
  if (timeoutMs <= 0) throw new ServiceError('upstream_timeout', 'Dataverse did not answer in time.');
  const headers = new Headers(clientHeaders);
  headers.set('authorization', `Bearer ${accessToken}`);
  try {
    // The host and method only: the path and query may carry record keys and filter values.
    const attributes = { 'http.request.method': method, 'server.address': url.hostname, 'peer.service': 'Dataverse' };
    return await inSpan('Dataverse', attributes, async (span) => {
      const response = await fetchImpl(url.href, {
        method,
        headers,
        body: body && body.length > 0 ? new Uint8Array(body) : undefined,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      span.setAttribute('http.response.status_code', response.status);
      // Dataverse's id for this request, which Microsoft support asks for.
      const requestId = response.headers.get('x-ms-service-request-id');
      if (requestId && /^[\w-]{1,100}$/.test(requestId)) span.setAttribute('dataverse.request_id', requestId);
      // Read the whole body inside the same timeout: a stalled body is a timeout too.
      return {
        status: response.status,
        headers: response.headers,
        body: await readBounded(response, upstreamReadLimit()),
      };
    });
  } catch (err) {
    if (err instanceof ServiceError) throw err;
    const name = thrownName(err);
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new ServiceError('upstream_timeout', 'Dataverse did not answer in time.');
    }
    throw new ServiceError('upstream_unreachable', undefined, { cause: err });
  }
}

/** Reads a response body, refusing (502) one larger than `limit` bytes so memory stays bounded. */
async function readBounded(response: Response, limit: number): Promise<Uint8Array> {
  if (!response.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value: chunk } = await reader.read();
    if (done) break;
    total += chunk.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw new ServiceError(
        'response_too_large',
        `The Dataverse response is larger than the proxy reads (${Math.round(limit / 2 ** 20)} MB): page it with Prefer: odata.maxpagesize or $top.`,
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

import { environmentOriginOfHost, splitOrgsPath } from '#shared/auth/environment-choice.ts';
import { requireProxyCaller } from '#shared/auth/request-auth.ts';
import { publicBase } from '#shared/config/config.ts';
import { resolveEnvironment, type TargetEnvironment } from '#shared/dataverse/discovery.ts';
import { forwardToDataverse } from '#shared/dataverse/proxy.ts';
import { createHandler, handlerDeadline, toErrorResponse, type RouteHandler } from '#shared/http/middleware.ts';
import { rawQueryOf } from '#shared/http/event.ts';
import type { HttpResponse } from '#shared/http/response.ts';
import { statusClassOf } from '#shared/observability/metrics.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/**
 * ANY /api/data/{proxy+} — the caller's default environment; ANY /orgs/{host}/api/data/{proxy+} — the
 * environment `{host}`, which must be allowed (DATAVERSE_HOSTS, 400) and one of the caller's (403),
 * both checked before any token call for it.
 */
export const proxyRoute =
  (services: () => Services): RouteHandler =>
  async (event, context) => {
    const s = services();
    const started = s.now();
    // The proxy answers its own errors (the same mapping as the middleware) so that every call is counted.
    const response: HttpResponse = await forward(s, event, context).catch((err: unknown) =>
      toErrorResponse(err, event.rawPath),
    );
    s.metrics.add('ProxyCall', 1, { statusClass: statusClassOf(response.statusCode) });
    s.metrics.add('ProxyLatency', s.now() - started);
    return response;
  };

async function forward(
  s: Services,
  event: Parameters<RouteHandler>[0],
  context: Parameters<RouteHandler>[1],
): Promise<HttpResponse> {
  const deadline = handlerDeadline(context, s.now());
  const orgs = splitOrgsPath(event.rawPath);
  // Checked before authentication too: a malformed host is a bad request whoever sends it.
  const origin = orgs ? environmentOriginOfHost(s.config, orgs.host) : undefined;
  const caller = await requireProxyCaller(event, s);
  let session = caller.session;
  let environment: TargetEnvironment | undefined;
  const chosen = origin ?? session.defaultEnvironment;
  if (chosen) ({ session, target: environment } = await resolveEnvironment(s, session, chosen, deadline));
  return forwardToDataverse(s, session, {
    method: event.requestContext.http.method,
    // Behind the construct's HTTP API rawPath arrives URL-decoded; buildDataverseUrl encodes it again.
    rawPath: orgs ? orgs.path : event.rawPath,
    rawQuery: rawQueryOf(event),
    headers: event.headers,
    body: event.body === undefined ? undefined : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8'),
    budgetMs: deadline - s.now(),
    allowImpersonation: caller.mayImpersonate,
    serviceBase: orgs ? `${publicBase(s.config)}/orgs/${orgs.host}` : undefined,
    environment,
  });
}

export const handler = createHandler(proxyRoute(getServices));

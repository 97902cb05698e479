import { requireProxyCaller } from '#shared/auth/request-auth.ts';
import { forwardToDataverse } from '#shared/dataverse/proxy.ts';
import { createHandler, handlerDeadline, type RouteHandler } from '#shared/http/middleware.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/** ANY /api/data/{proxy+} — the signed-in user's (or a managed connection's) Dataverse Web API call. */
export const proxyRoute =
  (services: () => Services): RouteHandler =>
  async (event, context) => {
    const s = services();
    const caller = await requireProxyCaller(event, s);
    return forwardToDataverse(s, caller.session, {
      method: event.requestContext.http.method,
      // Behind the construct's HTTP API rawPath arrives URL-decoded; buildDataverseUrl encodes it again.
      rawPath: event.rawPath,
      rawQuery: event.rawQueryString ?? '',
      headers: event.headers,
      body: event.body === undefined ? undefined : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8'),
      budgetMs: handlerDeadline(context, s.now()) - s.now(),
      allowImpersonation: caller.mayImpersonate,
    });
  };

export const handler = createHandler(proxyRoute(getServices));

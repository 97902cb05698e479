import { requireProxyCaller } from '#shared/auth/request-auth.ts';
import { forwardToDataverse } from '#shared/dataverse/proxy.ts';
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/** Milliseconds kept back from the Lambda's remaining time to answer before being cut off. */
const LAMBDA_MARGIN_MS = 1_000;

/** ANY /api/data/{proxy+} — the signed-in user's (or a managed connection's) Dataverse Web API call. */
export const proxyRoute =
  (services: () => Services): RouteHandler =>
  async (event, context) => {
    const s = services();
    const session = await requireProxyCaller(event, s);
    const remaining = typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : 30_000;
    return forwardToDataverse(s, session, {
      method: event.requestContext.http.method,
      rawPath: event.rawPath,
      rawQuery: event.rawQueryString ?? '',
      headers: event.headers,
      body: event.body === undefined ? undefined : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8'),
      budgetMs: remaining - LAMBDA_MARGIN_MS,
    });
  };

export const handler = createHandler(proxyRoute(getServices));

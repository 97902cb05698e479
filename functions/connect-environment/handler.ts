import { ServiceError } from '#shared/errors/service-error.ts';
import { chooseEnvironment, showEnvironmentChooser } from '#shared/auth/environment-chooser.ts';
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { headersOf } from '#shared/http/event.ts';
import { redirect } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/**
 * GET /connect/environment?token= — the connected user's environment chooser (HTML, no script).
 * POST /connect/environment — the chooser's form (application/x-www-form-urlencoded: token, environment).
 */
export const connectEnvironmentRoute =
  (services: () => Services): RouteHandler =>
  async (event) => {
    const s = services();
    if (event.requestContext.http.method.toUpperCase() !== 'POST') {
      return showEnvironmentChooser(s, event.queryStringParameters?.token);
    }
    const type = (headersOf(event)['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      throw new ServiceError(
        'unsupported_media_type',
        'The chooser form is sent as application/x-www-form-urlencoded.',
      );
    }
    const raw = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
    if (raw.length > 4096) throw new ServiceError('invalid_request', 'The form is too large.');
    // 303: the browser follows with GET (RFC 9110 §15.4.4).
    return { ...redirect(await chooseEnvironment(s, new URLSearchParams(raw))), statusCode: 303 };
  };

export const handler = createHandler(connectEnvironmentRoute(getServices));

import { environmentOriginOfUrl } from '#shared/auth/environment-choice.ts';
import { requireProxyCaller, requireSession } from '#shared/auth/request-auth.ts';
import { DISCOVERY_CACHE_MS, discoverEnvironments, resolveEnvironment } from '#shared/dataverse/discovery.ts';
import { readJsonBody } from '#shared/http/body.ts';
import { createHandler, handlerDeadline, type RouteHandler } from '#shared/http/middleware.ts';
import { json } from '#shared/http/response.ts';
import { getServices, type Services } from '#shared/runtime.ts';

/**
 * GET /auth/environments — the caller's Dataverse environments from the Global Discovery Service
 * (session, or API key + Connection-Id), cached on the session for DISCOVERY_CACHE_MS.
 * POST /auth/environment — `{"environment": "<url>"}` chooses the environment `/api/data/` goes to.
 */
export const environmentsRoute =
  (services: () => Services): RouteHandler =>
  async (event, context) => {
    const s = services();
    const deadline = handlerDeadline(context, s.now());
    if (event.requestContext.http.method.toUpperCase() === 'POST') {
      const session = await requireSession(event, s.sessions, s.config, s.now());
      const origin = environmentOriginOfUrl(s.config, readJsonBody(event).environment);
      // Only one of the caller's own environments can become the default (403 otherwise).
      await resolveEnvironment(s, session, origin, deadline);
      await s.sessions.setDefaultEnvironment(session.id, origin);
      return json(200, { defaultEnvironment: origin });
    }
    const { session } = await requireProxyCaller(event, s);
    const { session: current, discovered } = await discoverEnvironments(s, session, deadline);
    return json(200, {
      environments: discovered.environments.map((e) => ({ ...e, apiUrl: e.apiUrl ?? null })),
      defaultEnvironment: current.defaultEnvironment ?? s.config.dynamicsUrl?.origin ?? null,
      cachedAt: new Date(discovered.cachedAt).toISOString(),
      maxAgeSeconds: DISCOVERY_CACHE_MS / 1000,
    });
  };

export const handler = createHandler(environmentsRoute(getServices));

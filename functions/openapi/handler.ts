import document from '#shared/http/openapi.json' with { type: 'json' };
import { createHandler, type RouteHandler } from '#shared/http/middleware.ts';
import { json } from '#shared/http/response.ts';

/** GET /openapi.json — the OpenAPI 3.1 description of every route. */
export const openapiRoute = (): RouteHandler => () =>
  Promise.resolve(json(200, document, { headers: { 'Cache-Control': 'public, max-age=300' } }));

export const handler = createHandler(openapiRoute());

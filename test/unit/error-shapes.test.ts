import { describe, expect, it } from 'vitest';
import { ServiceError } from '../../shared/errors/service-error.ts';
import { toErrorResponse } from '../../shared/http/middleware.ts';
import { errorShapeFor } from '../../shared/http/response.ts';
import { StoreUnavailableError } from '../../shared/stores/model.ts';

const bodyOf = (path: string | undefined, err: unknown) =>
  JSON.parse(toErrorResponse(err, path).body as string) as unknown;

describe('error shapes', () => {
  it.each([
    '/api/data/v9.2/accounts',
    '/api/data/v9.2/',
    '/api/data',
    '/api/data/v8.0/x',
    '/orgs/contoso.crm.dynamics.com/api/data/v9.2/accounts',
  ])('answers OData’s {"error": {"code", "message"}} on the Web API path %s', (path) => {
    expect(errorShapeFor(path)).toBe('odata');
    expect(bodyOf(path, new ServiceError('invalid_path', 'Bad path.'))).toEqual({
      error: { code: 'invalid_path', message: 'Bad path.' },
    });
  });

  it.each([
    '/auth/session',
    '/connections/abc',
    '/api/dataverse/v9.2/x',
    '/orgs/a/b/api/data/v9.2',
    '/openapi.json',
    undefined,
  ])('keeps {"error": code, "message"} on %s', (path) => {
    expect(errorShapeFor(path)).toBe('service');
    expect(bodyOf(path, new ServiceError('csrf', 'No.'))).toEqual({ error: 'csrf', message: 'No.' });
  });

  it('shapes the mapped dependency and unknown errors the same way, keeping status and headers', () => {
    const path = '/api/data/v9.2/WhoAmI';
    const unavailable = toErrorResponse(new StoreUnavailableError('throttled'), path);
    expect(unavailable.statusCode).toBe(503);
    expect(unavailable.headers['Retry-After']).toBe('1');
    expect(JSON.parse(unavailable.body as string)).toEqual({
      error: { code: 'temporarily_unavailable', message: expect.any(String) },
    });
    const unknown = toErrorResponse(new Error('boom at /secret'), path);
    expect(unknown.statusCode).toBe(500);
    expect(JSON.parse(unknown.body as string)).toEqual({
      error: { code: 'internal_error', message: 'An unexpected error occurred.' },
    });
    expect(JSON.parse(toErrorResponse(new Error('boom'), '/auth/refresh').body as string)).toEqual({
      error: 'internal_error',
      message: 'An unexpected error occurred.',
    });
  });
});

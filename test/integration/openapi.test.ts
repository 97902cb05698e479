import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../shared/http/routes.ts';
import type { HttpResponse } from '../../shared/http/response.ts';
import {
  expectMatchesOpenApi,
  findOperation,
  HTTP_METHODS,
  openApiDocument,
  resolveRef,
  schemaValidator,
  toFragment,
} from '../support/openapi.ts';
import { LOGIN_COOKIE, RETURN_ORIGIN, signIn, startTestStack, type TestStack } from '../support/stack.ts';
import { failRefreshGrants } from '../support/idp-faults.ts';
import { StoreUnavailableError } from '../../shared/stores/model.ts';

const doc = openApiDocument;
const API = '/api/data/v9.2';
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every `$ref` in the document, with where it is. */
function refsIn(node: unknown, parts: string[] = []): { ref: string; at: string }[] {
  if (Array.isArray(node)) return node.flatMap((v, i) => refsIn(v, [...parts, String(i)]));
  if (!isObject(node)) return [];
  return Object.entries(node).flatMap(([k, v]) =>
    k === '$ref' && typeof v === 'string' ? [{ ref: v, at: toFragment(parts) }] : refsIn(v, [...parts, k]),
  );
}

const deref = (node: unknown): Record<string, unknown> => {
  let current = node;
  while (isObject(current) && typeof current.$ref === 'string') current = resolveRef(current.$ref);
  if (!isObject(current)) throw new Error('not an object');
  return current;
};

/** [method, template, operation] for every operation in the document. */
const operations = () =>
  Object.entries(doc.paths).flatMap(([template, item]) =>
    HTTP_METHODS.filter((m) => isObject(item[m])).map(
      (m) => [m, template, item[m] as Record<string, unknown>] as const,
    ),
  );

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 with every route of the service', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    const expected: [string, string][] = [
      ['GET', '/auth/login'],
      ['GET', '/auth/callback'],
      ['POST', '/auth/refresh'],
      ['GET', '/auth/session'],
      ['POST', '/auth/logout'],
      ['GET', '/api/data/{path}'],
      ['POST', '/api/data/{path}'],
      ['PATCH', '/api/data/{path}'],
      ['PUT', '/api/data/{path}'],
      ['DELETE', '/api/data/{path}'],
      // Being added: documented by contract.
      ['POST', '/auth/token'],
      ['POST', '/connect/sessions'],
      ['GET', '/connect/start'],
      ['GET', '/connections/{connectionId}'],
      ['GET', '/connections/{connectionId}/token'],
      ['DELETE', '/connections/{connectionId}'],
      ['GET', '/openapi.json'],
    ];
    for (const [method, path] of expected) expect(findOperation(method, path).template, `${method} ${path}`).toBe(path);
    const loginParams = (findOperation('GET', '/auth/login').operation.parameters as { name: string }[]).map(
      (p) => p.name,
    );
    expect(loginParams).toEqual(expect.arrayContaining(['returnTo', 'client_challenge']));
    const proxyParams = (doc.paths['/api/data/{path}']!.parameters as unknown[]).map((p) => deref(p).name);
    expect(proxyParams).toEqual(expect.arrayContaining(['path', 'Connection-Id']));
  });

  it('documents every route in the route table (shared/http/routes.ts)', () => {
    const normalize = (path: string) => path.replace(/\{[^}]+\}/g, '{}');
    const documented = new Set(Object.keys(doc.paths).map(normalize));
    for (const route of FUNCTIONS.flatMap((f) => f.routes)) {
      expect(documented.has(normalize(route.path)), `${route.method} ${route.path}`).toBe(true);
      const template = Object.keys(doc.paths).find((t) => normalize(t) === normalize(route.path))!;
      if (route.method !== 'ANY') expect(() => findOperation(route.method, template)).not.toThrow();
    }
  });

  it('resolves every $ref', () => {
    const refs = refsIn(doc);
    expect(refs.length).toBeGreaterThan(50);
    const broken = refs.filter(({ ref }) => !ref.startsWith('#/') || resolveRef(ref) === undefined);
    expect(broken).toEqual([]);
  });

  it('compiles every schema, and every operation documents its responses with compiling schemas', () => {
    for (const name of Object.keys(doc.components!.schemas!)) {
      expect(() => schemaValidator(['components', 'schemas', name]), name).not.toThrow();
    }
    const ids = new Set<string>();
    for (const [method, template, operation] of operations()) {
      const label = `${method.toUpperCase()} ${template}`;
      expect(typeof operation.operationId, label).toBe('string');
      expect(ids.has(operation.operationId as string), `duplicate operationId ${String(operation.operationId)}`).toBe(
        false,
      );
      ids.add(operation.operationId as string);
      const responses = operation.responses as Record<string, unknown>;
      expect(Object.keys(responses).length, label).toBeGreaterThan(0);
      for (const [status, raw] of Object.entries(responses)) {
        expect(status, label).toMatch(/^(?:[1-5](?:\d\d|XX)|default)$/);
        const response = deref(raw);
        expect(typeof response.description, `${label} ${status}`).toBe('string');
        for (const [mediaType, media] of Object.entries(
          (response.content ?? {}) as Record<string, { schema?: unknown }>,
        )) {
          if (media.schema === undefined) continue;
          const located =
            isObject(raw) && typeof raw.$ref === 'string'
              ? raw.$ref.slice(2).split('/')
              : ['paths', template, method, 'responses', status];
          expect(
            () => schemaValidator([...located, 'content', mediaType, 'schema']),
            `${label} ${status} ${mediaType}`,
          ).not.toThrow();
        }
      }
    }
  });

  it('declares each path template variable as a required path parameter', () => {
    for (const [method, template, operation] of operations()) {
      const params = [
        ...((doc.paths[template]!.parameters as unknown[]) ?? []),
        ...((operation.parameters as unknown[]) ?? []),
      ].map(deref);
      for (const [, name] of template.matchAll(/\{([^}]+)\}/g)) {
        const param = params.find((p) => p.in === 'path' && p.name === name);
        expect(param, `${method} ${template} {${name}}`).toBeDefined();
        expect(param!.required).toBe(true);
      }
    }
  });

  it('has the three security schemes, used by name, and the X-CSRF header on cookie-authenticated unsafe operations', () => {
    const schemes = doc.components!.securitySchemes as Record<string, Record<string, unknown>>;
    expect(schemes.sessionCookie).toMatchObject({ type: 'apiKey', in: 'cookie', name: '__Host-dyn-session' });
    expect(schemes.sessionBearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(schemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const [method, template, operation] of operations()) {
      const security = (operation.security ?? []) as Record<string, unknown>[];
      for (const requirement of security)
        for (const name of Object.keys(requirement)) expect(schemes, `${method} ${template}`).toHaveProperty(name);
      const cookieAuth = security.some((r) => 'sessionCookie' in r);
      if (cookieAuth && ['post', 'put', 'patch', 'delete'].includes(method)) {
        const names = ((operation.parameters as unknown[]) ?? []).map((p) => deref(p).name);
        expect(names, `${method} ${template}`).toContain('X-CSRF');
      }
    }
  });

  it('describes errors strictly with one Error schema', () => {
    const error = doc.components!.schemas!.Error as Record<string, unknown>;
    expect(error).toMatchObject({ type: 'object', required: ['error', 'message'], additionalProperties: false });
    const validate = schemaValidator(['components', 'schemas', 'Error']);
    expect(validate({ error: 'csrf', message: 'no' })).toBe(true);
    expect(validate({ error: 'csrf', message: 'no', stack: 'x' })).toBe(false);
    expect(validate({ error: { code: 'x' }, message: 'no' })).toBe(false);
  });

  it('describes the service’s own errors on Web API paths strictly with ODataError', () => {
    const validate = schemaValidator(['components', 'schemas', 'ODataError']);
    expect(validate({ error: { code: 'invalid_path', message: 'no' } })).toBe(true);
    expect(validate({ error: 'invalid_path', message: 'no' })).toBe(false);
    expect(validate({ error: { code: 'invalid_path' } })).toBe(false);
    expect(validate({ error: { code: 'invalid_path', message: 'no', stack: 'x' } })).toBe(false);
    expect(validate({ error: { code: 'csrf', message: 'no' }, message: 'no' })).toBe(false);
  });

  it('documents errors on Web API paths as ODataError (or Dataverse’s own), and everywhere else as Error', () => {
    const schemaRefs = (node: unknown) =>
      refsIn(node)
        .map(({ ref }) => ref)
        .filter((ref) => ref.startsWith('#/components/schemas/'));
    /** The error schemas a response names, following response and schema $refs (ProxyError → its choices). */
    const errorSchemas = (raw: unknown): Set<string> => {
      const found = new Set<string>();
      const pending = schemaRefs(deref(raw).content ?? {});
      while (pending.length > 0) {
        const ref = pending.pop()!;
        if (found.has(ref)) continue;
        found.add(ref);
        pending.push(...schemaRefs(resolveRef(ref)));
      }
      return found;
    };
    const ERROR = '#/components/schemas/Error';
    const ODATA = '#/components/schemas/ODataError';
    let webApiErrors = 0;
    for (const [method, template, operation] of operations()) {
      for (const [status, raw] of Object.entries(operation.responses as Record<string, unknown>)) {
        if (!/^[45]/.test(status)) continue;
        // A page for the person at the browser (the admin-consent-required page) carries no JSON at all.
        if (Object.keys(deref(raw).content ?? {}).join() === 'text/html') continue;
        const schemas = errorSchemas(raw);
        const label = `${method.toUpperCase()} ${template} ${status}`;
        if (/^(?:\/orgs\/\{host\})?\/api\/data\//.test(template)) {
          webApiErrors++;
          expect(schemas.has(ODATA), label).toBe(true);
          expect(schemas.has(ERROR), label).toBe(false);
        } else {
          expect(schemas.has(ERROR), label).toBe(true);
          expect(schemas.has(ODATA), label).toBe(false);
        }
      }
    }
    expect(webApiErrors).toBeGreaterThan(20);
  });
});

describe('expectMatchesOpenApi', () => {
  const json = (status: number, body: unknown): HttpResponse => ({
    statusCode: status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
    body: JSON.stringify(body),
  });
  const session = {
    authenticated: true,
    user: { oid: 'o', tid: 't', name: null, username: 'u@example.com' },
    expiresAt: '2030-01-01T00:00:00.000Z',
  };

  it('accepts a matching response and returns its parsed body', () => {
    expect(expectMatchesOpenApi('GET', '/auth/session', 200, json(200, session))).toEqual(session);
  });

  it('rejects a body that violates the schema, naming the problem', () => {
    expect(() => expectMatchesOpenApi('GET', '/auth/session', 200, json(200, { ...session, extra: 1 }))).toThrow(
      /must NOT have additional properties 'extra'/,
    );
    expect(() =>
      expectMatchesOpenApi('GET', '/auth/session', 200, json(200, { ...session, expiresAt: 'tomorrow' })),
    ).toThrow(/\/expiresAt must match format "date-time"/);
    expect(() => expectMatchesOpenApi('GET', '/auth/session', 401, json(401, { error: 'unauthenticated' }))).toThrow(
      /must have required property 'message'/,
    );
    expect(() =>
      expectMatchesOpenApi('GET', '/auth/session', 200, { ...json(200, session), body: 'not json' }),
    ).toThrow(/not JSON/);
  });

  it('rejects an undocumented status, method, path or content type, and a missing required header', () => {
    expect(() =>
      expectMatchesOpenApi('GET', '/auth/session', 418, json(418, { error: 'teapot', message: 'no' })),
    ).toThrow(/status 418 is not documented \(documented: 200, 401, 500, 503\)/);
    expect(() => expectMatchesOpenApi('DELETE', '/auth/session', 200, json(200, session))).toThrow(
      /DELETE \/auth\/session is not documented/,
    );
    expect(() => expectMatchesOpenApi('GET', '/nowhere', 200)).toThrow(/no path in the document matches \/nowhere/);
    expect(() =>
      expectMatchesOpenApi('GET', '/auth/session', 200, {
        ...json(200, session),
        headers: { 'Content-Type': 'text/html', 'Cache-Control': 'no-store' },
      }),
    ).toThrow(/content type "text\/html" is not documented/);
    expect(() =>
      expectMatchesOpenApi('GET', '/auth/login', 302, { headers: { 'Cache-Control': 'no-store' }, body: '' }),
    ).toThrow(/required header Location is missing/);
    expect(() =>
      expectMatchesOpenApi(
        'POST',
        '/auth/refresh',
        503,
        json(503, { error: 'temporarily_unavailable', message: 'later' }),
      ),
    ).toThrow(/required header Retry-After is missing/);
  });

  it('maps concrete paths onto templates, the proxy’s {path} spanning segments', () => {
    expect(findOperation('GET', '/connections/abc').template).toBe('/connections/{connectionId}');
    expect(findOperation('GET', '/connections/abc/token').template).toBe('/connections/{connectionId}/token');
    expect(findOperation('PATCH', `${API}/accounts(1)/name?x=1`).template).toBe('/api/data/{path}');
  });
});

describe('real responses match the OpenAPI document', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(async () => stack?.stop());

  const check = (method: string, path: string, answer: HttpResponse, status: number) => {
    expect(answer.statusCode, answer.body).toBe(status);
    return expectMatchesOpenApi(method, path, answer.statusCode, answer);
  };

  it('GET /auth/login: 302 and 400', async () => {
    const routes = stack.routes();
    check(
      'GET',
      '/auth/login',
      await routes.login({ path: '/auth/login', query: `returnTo=${encodeURIComponent(`${RETURN_ORIGIN}/app`)}` }),
      302,
    );
    check('GET', '/auth/login', await routes.login({ path: '/auth/login' }), 302);
    const refused = check(
      'GET',
      '/auth/login',
      await routes.login({ path: '/auth/login', query: 'returnTo=https%3A%2F%2Fevil.example%2F' }),
      400,
    );
    expect(refused).toMatchObject({ error: 'invalid_return_to' });
  });

  it('GET /auth/callback: 302 and 400', async () => {
    const { callback } = await signIn(stack);
    check('GET', '/auth/callback', callback, 302);
    const routes = stack.routes();
    const unknown = check(
      'GET',
      '/auth/callback',
      await routes.callback({ path: '/auth/callback', query: 'state=unknown&code=x', cookies: [`${LOGIN_COOKIE}=x`] }),
      400,
    );
    expect(unknown).toMatchObject({ error: 'invalid_state' });
    check('GET', '/auth/callback', await routes.callback({ path: '/auth/callback' }), 400);
  });

  it('GET /auth/session: 200 (cookie and bearer) and 401', async () => {
    const { sessionCookie, sessionToken } = await signIn(stack);
    const routes = stack.routes();
    const viaCookie = check(
      'GET',
      '/auth/session',
      await routes.session({ path: '/auth/session', cookies: [sessionCookie] }),
      200,
    );
    expect(viaCookie).toMatchObject({ authenticated: true, user: { name: expect.any(String) } });
    check(
      'GET',
      '/auth/session',
      await routes.session({ path: '/auth/session', headers: { authorization: `Bearer ${sessionToken}` } }),
      200,
    );
    check('GET', '/auth/session', await routes.session({ path: '/auth/session' }), 401);
    check(
      'GET',
      '/auth/session',
      await routes.session({ path: '/auth/session', headers: { authorization: 'Bearer nope' } }),
      401,
    );
  });

  it('POST /auth/refresh: 200, 401, 403 and 503', async () => {
    const { sessionCookie, sessionToken } = await signIn(stack);
    const routes = stack.routes();
    const refresh = (init: Partial<Parameters<typeof routes.refresh>[0]>) =>
      routes.refresh({ method: 'POST', path: '/auth/refresh', ...init });
    check('POST', '/auth/refresh', await refresh({ headers: { authorization: `Bearer ${sessionToken}` } }), 200);
    check('POST', '/auth/refresh', await refresh({ cookies: [sessionCookie], headers: { 'x-csrf': '1' } }), 200);
    check('POST', '/auth/refresh', await refresh({ headers: { 'x-csrf': '1' } }), 401);
    check('POST', '/auth/refresh', await refresh({ headers: { authorization: `Bearer ${'A'.repeat(43)}` } }), 401);
    const csrf = check('POST', '/auth/refresh', await refresh({ cookies: [sessionCookie] }), 403);
    expect(csrf).toMatchObject({ error: 'csrf' });
    // CSRF protects the ambient cookie only: no credential at all, or a malformed bearer, is 401.
    expect(check('POST', '/auth/refresh', await refresh({}), 401)).toMatchObject({ error: 'unauthenticated' });
    expect(
      check('POST', '/auth/refresh', await refresh({ headers: { authorization: 'Bearer nope' } }), 401),
    ).toMatchObject({ error: 'unauthenticated' });

    const restoreIdp = failRefreshGrants(stack.idp.server, 503, { error: 'temporarily_unavailable' });
    try {
      // A new session: the first one's rotation just happened, and a refresh within 5 s is coalesced.
      const other = await signIn(stack);
      check(
        'POST',
        '/auth/refresh',
        await refresh({ headers: { authorization: `Bearer ${other.sessionToken}` } }),
        503,
      );
    } finally {
      restoreIdp();
    }
  });

  it('POST /auth/refresh: 401 login_required when the grant is revoked', async () => {
    const { sessionToken } = await signIn(stack);
    const restoreIdp = failRefreshGrants(stack.idp.server, 400, { error: 'invalid_grant' });
    try {
      const answer = await stack
        .routes()
        .refresh({ method: 'POST', path: '/auth/refresh', headers: { authorization: `Bearer ${sessionToken}` } });
      expect(check('POST', '/auth/refresh', answer, 401)).toMatchObject({ error: 'login_required' });
    } finally {
      restoreIdp();
    }
  });

  it('POST /auth/logout: 200 (signed in, and without a session) and 403 (cookie without X-CSRF)', async () => {
    const { sessionCookie } = await signIn(stack);
    const routes = stack.routes();
    check(
      'POST',
      '/auth/logout',
      await routes.logout({ method: 'POST', path: '/auth/logout', cookies: [sessionCookie] }),
      403,
    );
    const out = check(
      'POST',
      '/auth/logout',
      await routes.logout({
        method: 'POST',
        path: '/auth/logout',
        cookies: [sessionCookie],
        headers: { 'x-csrf': '1' },
      }),
      200,
    );
    expect(out).toHaveProperty('logoutUrl');
    check(
      'POST',
      '/auth/logout',
      await routes.logout({ method: 'POST', path: '/auth/logout', headers: { 'x-csrf': '1' } }),
      200,
    );
    check('POST', '/auth/logout', await routes.logout({ method: 'POST', path: '/auth/logout' }), 200);
  });

  describe('ANY /api/data/{path}', () => {
    it('passes Dataverse’s answers through: 200 JSON, 204, 200 binary, 404', async () => {
      const { sessionCookie, sessionToken } = await signIn(stack);
      const routes = stack.routes();
      const auth = { authorization: `Bearer ${sessionToken}` };
      check('GET', `${API}/WhoAmI`, await routes.proxy({ path: `${API}/WhoAmI`, headers: auth }), 200);
      check(
        'GET',
        '/api/data/{path}',
        await routes.proxy({ path: `${API}/accounts`, query: '$top=1', cookies: [sessionCookie] }),
        200,
      );
      const created = await routes.proxy({
        method: 'POST',
        path: `${API}/accounts`,
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'OpenAPI Co' }),
      });
      check('POST', `${API}/accounts`, created, 204);
      const id = /\(([0-9a-f-]{36})\)/.exec(created.headers['odata-entityid']!)![1]!;
      check(
        'PATCH',
        `${API}/accounts(${id})`,
        await routes.proxy({
          method: 'PATCH',
          path: `${API}/accounts(${id})`,
          cookies: [sessionCookie],
          headers: { 'x-csrf': '1', 'content-type': 'application/json' },
          body: '{"name":"Renamed"}',
        }),
        204,
      );
      const account = stack.dataverse.insert('accounts', { name: 'Binary' });
      const image = await routes.proxy({ path: `${API}/accounts(${account.id})/entityimage/$value`, headers: auth });
      expect(image.headers['content-type']).toBe('image/png');
      check('GET', '/api/data/{path}', image, 200);
      check(
        'DELETE',
        `${API}/accounts(${id})`,
        await routes.proxy({ method: 'DELETE', path: `${API}/accounts(${id})`, headers: auth }),
        204,
      );
      check(
        'GET',
        `${API}/accounts(${id})`,
        await routes.proxy({ path: `${API}/accounts(${id})`, headers: auth }),
        404,
      );
    });

    it('passes Dataverse’s own 403 error through (not the service’s Error shape)', async () => {
      const { sessionToken } = await signIn(stack);
      stack.dataverse.failNext(
        403,
        1,
        { 'content-type': 'application/json; odata.metadata=minimal' },
        '{"error":{"code":"0x80040220","message":"Principal user is missing prvReadAccount privilege."}}',
      );
      const answer = await stack
        .routes()
        .proxy({ path: `${API}/accounts`, headers: { authorization: `Bearer ${sessionToken}` } });
      expect(check('GET', '/api/data/{path}', answer, 403)).toMatchObject({ error: { code: '0x80040220' } });
    });

    it('answers its own errors in OData’s shape (ODataError): 400, 401, 403, 405, 502, 503, 504', async () => {
      const { sessionCookie, sessionToken } = await signIn(stack);
      const routes = stack.routes();
      const auth = { authorization: `Bearer ${sessionToken}` };
      const own = (method: string, path: string, answer: HttpResponse, status: number, code: string) => {
        const body = check(method, path, answer, status);
        expect(body).toMatchObject({ error: { code, message: expect.any(String) } });
        // The service's own errors must match ODataError itself, not only the proxy's looser ProxyError.
        expect(schemaValidator(['components', 'schemas', 'ODataError'])(body)).toBe(true);
        expect(schemaValidator(['components', 'schemas', 'Error'])(body)).toBe(false);
      };
      own(
        'GET',
        '/api/data/v8.0/accounts',
        await routes.proxy({ path: '/api/data/v8.0/accounts', headers: auth }),
        400,
        'invalid_path',
      );
      own('GET', `${API}/a/../b`, await routes.proxy({ path: `${API}/a/../b`, headers: auth }), 400, 'invalid_path');
      own(
        'GET',
        `${API}/accounts`,
        await routes.proxy({ path: `${API}/accounts`, query: 'a=%20b c', headers: auth }),
        400,
        'invalid_query',
      );
      own('GET', `${API}/WhoAmI`, await routes.proxy({ path: `${API}/WhoAmI` }), 401, 'unauthenticated');
      own(
        'POST',
        `${API}/accounts`,
        await routes.proxy({ method: 'POST', path: `${API}/accounts`, cookies: [sessionCookie], body: '{}' }),
        403,
        'csrf',
      );
      own(
        'OPTIONS',
        `${API}/accounts`,
        await routes.proxy({ method: 'OPTIONS', path: `${API}/accounts`, headers: auth }),
        405,
        'method_not_allowed',
      );
      own(
        'GET',
        `${API}/WhoAmI`,
        await routes.proxy({ path: `${API}/WhoAmI`, headers: auth }, 1_200),
        504,
        'upstream_timeout',
      );
      const unreachable = stack.routes(
        stack.newInstance({
          dataverseFetch: async () => {
            throw new TypeError('fetch failed');
          },
        }),
      );
      own(
        'GET',
        `${API}/WhoAmI`,
        await unreachable.proxy({ path: `${API}/WhoAmI`, headers: auth }),
        502,
        'upstream_unreachable',
      );
      const storeDown = stack.routes(
        stack.newInstance({
          sessions: Object.assign(Object.create(stack.services.sessions) as typeof stack.services.sessions, {
            get: async () => {
              throw new StoreUnavailableError('ProvisionedThroughputExceededException');
            },
          }),
        }),
      );
      own(
        'GET',
        `${API}/WhoAmI`,
        await storeDown.proxy({ path: `${API}/WhoAmI`, headers: auth }),
        503,
        'temporarily_unavailable',
      );
      const restoreIdp = failRefreshGrants(stack.idp.server, 400, { error: 'invalid_grant' });
      try {
        stack.dataverse.failNext(401, 1);
        own(
          'GET',
          `${API}/WhoAmI`,
          await routes.proxy({ path: `${API}/WhoAmI`, headers: auth }),
          401,
          'login_required',
        );
      } finally {
        restoreIdp();
      }
    });

    it('keeps the flat Error shape on the other routes (the same errors, off the Web API)', async () => {
      const { sessionCookie } = await signIn(stack);
      const routes = stack.routes();
      const flat = (method: string, path: string, answer: HttpResponse, status: number, code: string) => {
        const body = check(method, path, answer, status);
        expect(body).toMatchObject({ error: code, message: expect.any(String) });
        expect(schemaValidator(['components', 'schemas', 'Error'])(body)).toBe(true);
        expect(schemaValidator(['components', 'schemas', 'ODataError'])(body)).toBe(false);
      };
      flat('GET', '/auth/session', await routes.session({ path: '/auth/session' }), 401, 'unauthenticated');
      flat(
        'POST',
        '/auth/refresh',
        await routes.refresh({ method: 'POST', path: '/auth/refresh', cookies: [sessionCookie] }),
        403,
        'csrf',
      );
      flat(
        'GET',
        '/auth/login',
        await routes.login({ path: '/auth/login', query: 'returnTo=https%3A%2F%2Fevil.example%2F' }),
        400,
        'invalid_return_to',
      );
    });
  });
});

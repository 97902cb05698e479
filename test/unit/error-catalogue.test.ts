import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, ERROR_CODES, type ErrorCode } from '../../shared/errors/catalogue.ts';
import { ServiceError } from '../../shared/errors/service-error.ts';
import { FUNCTIONS } from '../../shared/http/routes.ts';
import { toErrorResponse } from '../../shared/http/middleware.ts';
import { codesReachableFrom, codesThrownIn, nonLiteralThrows, sourceFiles } from '../support/error-codes.ts';
import { HTTP_METHODS, openApiDocument, resolveRef } from '../support/openapi.ts';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const deref = (node: unknown): Record<string, unknown> => {
  let current = node;
  while (isObject(current) && typeof current.$ref === 'string') current = resolveRef(current.$ref);
  return isObject(current) ? current : {};
};
const sorted = (codes: Iterable<string>) => [...codes].sort();
/** Parameter names and values that error descriptions quote like codes. */
const NOT_CODES = new Set(['client_challenge', 'environment', 'organizations']);

describe('the error catalogue', () => {
  it('only accepts catalogue codes (checked by the type checker)', () => {
    // At run time a missing entry fails loudly (a 500) instead of answering an undocumented code.
    // @ts-expect-error a code outside the catalogue does not compile
    expect(() => new ServiceError('invalid_grant_from_entra')).toThrow(TypeError);
    const known: ErrorCode = 'csrf';
    expect(new ServiceError(known).status).toBe(403);
  });

  it('gives every code a 4xx/5xx status, a message and only the headers a client acts on', () => {
    for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
      expect(code).toMatch(/^[a-z][a-z0-9_]{0,63}$/);
      expect(entry.status, code).toBeGreaterThanOrEqual(400);
      expect(entry.status, code).toBeLessThan(600);
      expect(entry.message.length, code).toBeGreaterThan(0);
      for (const name of Object.keys('headers' in entry ? entry.headers : {}))
        expect(['retry-after', 'www-authenticate']).toContain(name.toLowerCase());
    }
  });

  it.each(ERROR_CODES)('answers %s with its status and headers in both shapes', (code) => {
    const entry = ERROR_CATALOGUE[code];
    const headers = 'headers' in entry ? entry.headers : {};
    const own = toErrorResponse(new ServiceError(code), '/auth/session');
    expect(own.statusCode).toBe(entry.status);
    expect(JSON.parse(own.body as string)).toEqual({ error: code, message: entry.message });
    const odata = toErrorResponse(new ServiceError(code, 'A detail.'), '/api/data/v9.2/accounts');
    expect(odata.statusCode).toBe(entry.status);
    expect(JSON.parse(odata.body as string)).toEqual({ error: { code, message: 'A detail.' } });
    for (const answer of [own, odata]) {
      expect(answer.headers).toMatchObject({
        'Content-Type': 'application/json; charset=utf-8',
        'Cache-Control': 'no-store',
        ...headers,
      });
    }
  });
});

describe('the source', () => {
  const files = sourceFiles();
  const thrown = new Map(files.map((f) => [f, codesThrownIn(f)]));

  it('throws only catalogue codes, always as literals', () => {
    expect(files.length).toBeGreaterThan(50);
    const outside = [...thrown].flatMap(([file, codes]) =>
      codes.filter((c) => !Object.hasOwn(ERROR_CATALOGUE, c)).map((c) => `${file}: ${c}`),
    );
    expect(outside).toEqual([]);
    expect(files.filter((f) => nonLiteralThrows(f) > 0)).toEqual([]);
  });

  it('throws every catalogue code somewhere (no code is documented but never answered)', () => {
    const used = new Set([...thrown.values()].flat());
    expect(ERROR_CODES.filter((c) => !used.has(c))).toEqual([]);
  });
});

describe('the OpenAPI document and the catalogue', () => {
  const schemas = openApiDocument.components!.schemas as Record<string, Record<string, unknown>>;

  it('documents the error code of both shapes as an enum of exactly the catalogue’s codes', () => {
    const own = (schemas.Error!.properties as Record<string, { enum?: string[] }>).error!.enum;
    const odataError = (
      schemas.ODataError!.properties as Record<string, { properties: Record<string, { enum?: string[] }> }>
    ).error!;
    expect(sorted(own ?? [])).toEqual(sorted(ERROR_CODES));
    expect(sorted(odataError.properties.code!.enum ?? [])).toEqual(sorted(ERROR_CODES));
  });

  /** [function, method, template, status, codes named in the response's description]. */
  const documentedCodes = () =>
    FUNCTIONS.flatMap((fn) =>
      fn.routes.flatMap((route) => {
        const prefix = route.path.replace(/\{proxy\+\}$/, '');
        const templates = Object.keys(openApiDocument.paths).filter((t) =>
          route.path.endsWith('{proxy+}')
            ? t.startsWith(prefix)
            : t.replace(/\{[^}]+\}/g, '{}') === route.path.replace(/\{[^}]+\}/g, '{}'),
        );
        return templates.flatMap((template) =>
          HTTP_METHODS.filter(
            (m) =>
              isObject(openApiDocument.paths[template]![m]) &&
              (route.method === 'ANY' || route.method.toLowerCase() === m),
          ).flatMap((m) =>
            Object.entries((openApiDocument.paths[template]![m] as { responses: Record<string, unknown> }).responses)
              .filter(([status]) => /^[45]\d\d$/.test(status))
              .map(([status, raw]) => {
                const { description: text } = deref(raw);
                const description = typeof text === 'string' ? text : '';
                const codes = [...description.matchAll(/`([a-z][a-z0-9]*(?:_[a-z0-9]+)*)`/g)]
                  .map((x) => x[1]!)
                  .filter((c) => !NOT_CODES.has(c));
                return [fn.name, m.toUpperCase(), template, Number(status), codes] as const;
              }),
          ),
        );
      }),
    );

  it('names, in each route’s error responses, only catalogue codes of that status', () => {
    const rows = documentedCodes();
    expect(rows.length).toBeGreaterThan(100);
    expect(rows.filter(([, , , , codes]) => codes.length > 0).length).toBeGreaterThan(80);
    const wrong = rows.flatMap(([, method, template, status, codes]) =>
      codes
        .filter((c) => !Object.hasOwn(ERROR_CATALOGUE, c) || ERROR_CATALOGUE[c as ErrorCode].status !== status)
        .map(
          (c) =>
            `${method} ${template} ${status}: ${c}${Object.hasOwn(ERROR_CATALOGUE, c) ? ` (catalogue: ${ERROR_CATALOGUE[c as ErrorCode].status})` : ' (not in the catalogue)'}`,
        ),
    );
    expect(wrong).toEqual([]);
  });

  it('names, for each route, only codes its handler can produce (thrown somewhere in what the handler loads)', () => {
    const reachable = new Map(FUNCTIONS.map((fn) => [fn.name, codesReachableFrom(`functions/${fn.name}/handler.ts`)]));
    const unreachable = documentedCodes().flatMap(([fn, method, template, status, codes]) =>
      codes
        .filter((c) => !reachable.get(fn)!.has(c))
        .map((c) => `${method} ${template} ${status}: ${c} (function ${fn})`),
    );
    expect(unreachable).toEqual([]);
  });
});

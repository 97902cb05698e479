import { describe, expect, it } from 'vitest';
import { httpApiRawPath } from '../../local/server.ts';
import { buildDataverseUrl, encodePathSegment } from '../../shared/dataverse/request.ts';
import { ServiceError } from '../../shared/errors/service-error.ts';

const dyn = new URL('https://contoso.crm.dynamics.com');
const API = '/api/data/v9.2';
/** The path Dataverse is called with, for a path as an HTTP API delivers it (decoded). */
const upstreamPath = (decodedPath: string) => buildDataverseUrl(dyn, decodedPath, '').pathname;
const refusal = (decodedPath: string) => {
  try {
    buildDataverseUrl(dyn, decodedPath, '');
  } catch (error) {
    if (error instanceof ServiceError) return { status: error.status, code: error.code, message: error.message };
    throw error;
  }
  return undefined;
};

describe('the local server delivers rawPath as an HTTP API does (decoded once; REST APIs and function URLs would keep the encoding)', () => {
  it('decodes every escape once, including an encoded slash, quote, plus, question mark and hash', () => {
    expect(httpApiRawPath("/api/data/v9.2/contacts(emailaddress1='a%2Bb%40x.com')")).toBe(
      "/api/data/v9.2/contacts(emailaddress1='a+b@x.com')",
    );
    expect(httpApiRawPath('/a%20b/%22q%22/%2F/%3F/%23/%27')).toBe('/a b/"q"///?/#/\'');
    expect(httpApiRawPath('/M%C3%BCller')).toBe('/Müller');
  });

  it('decodes only once (%25 becomes a literal %), and leaves escapes that are not UTF-8 as they are', () => {
    expect(httpApiRawPath('/50%25%20off/%252e')).toBe('/50% off/%2e');
    expect(httpApiRawPath('/a%zz/%FF/%')).toBe('/a%zz/%FF/%');
    expect(httpApiRawPath('/%C3%BC%FF%C3%A9')).toBe('/ü%FFé');
  });
});

describe('the proxy rebuilds an encoded Dataverse path from the decoded rawPath', () => {
  it("encodes a plus in an alternate key as %2B (OASIS ODATA-1539: a bare '+' may be read as a space)", () => {
    expect(upstreamPath(`${API}/contacts(emailaddress1='a+b@x.com')`)).toBe(
      `${API}/contacts(emailaddress1='a%2Bb@x.com')`,
    );
  });

  it('encodes spaces and non-ASCII letters as UTF-8 escapes and keeps the OData delimiters', () => {
    expect(upstreamPath(`${API}/accounts(name='Müller & Söhne')`)).toBe(
      `${API}/accounts(name='M%C3%BCller%20&%20S%C3%B6hne')`,
    );
    expect(upstreamPath(`${API}/contacts(firstname='Joe',emailaddress1='abc@example.com')/fullname`)).toBe(
      `${API}/contacts(firstname='Joe',emailaddress1='abc@example.com')/fullname`,
    );
  });

  it("keeps a doubled single quote inside an OData string literal ('O''Brien')", () => {
    expect(upstreamPath(`${API}/accounts(name='O''Brien')`)).toBe(`${API}/accounts(name='O''Brien')`);
  });

  it('encodes a literal % again (from %25) instead of reading it as an escape', () => {
    expect(upstreamPath(`${API}/accounts(name='50% off')`)).toBe(`${API}/accounts(name='50%25%20off')`);
    expect(upstreamPath(`${API}/accounts(name='%41')`)).toBe(`${API}/accounts(name='%2541')`);
  });

  it('encodes a decoded ?, #, double quote and the other characters a path cannot hold literally', () => {
    expect(upstreamPath(`${API}/accounts(name='a?b#c"d<e>f{g}h|i^j\`k[l]')`)).toBe(
      `${API}/accounts(name='a%3Fb%23c%22d%3Ce%3Ef%7Bg%7Dh%7Ci%5Ej%60k%5Bl%5D')`,
    );
  });

  it('leaves plain paths, functions and $batch unchanged', () => {
    for (const path of [
      `${API}/accounts`,
      `${API}/WhoAmI()`,
      `${API}/$batch`,
      `${API}/accounts(00000000-0000-0000-0000-000000000001)/entityimage/$value`,
    ]) {
      expect(upstreamPath(path)).toBe(path);
    }
  });

  it('refuses a quoted value cut by a decoded %2F, naming what to use instead', () => {
    expect(refusal(`${API}/accounts(name='a/b')`)).toMatchObject({
      status: 400,
      code: 'invalid_path',
      message: expect.stringMatching(/\$filter.*GUID/),
    });
  });

  it('still refuses dot segments, backslashes, control characters and empty segments, also when spelled with a leftover escape', () => {
    for (const path of [
      `${API}/../x`,
      `${API}/accounts/./x`,
      `${API}/%2e%2e/x`,
      `${API}/.%2E/x`,
      `${API}/accounts%2f..%2fx`,
      `${API}/accounts%5C..`,
      `${API}/accounts\\x`,
      `${API}/accounts\u0000`,
      `${API}/accounts%00`,
      `${API}/accounts\u0085`,
      `${API}//accounts`,
      '/api/data/v8.2/accounts',
      `${API}/accounts(name='\ud800')`,
    ]) {
      expect(refusal(path), JSON.stringify(path)).toMatchObject({ status: 400, code: 'invalid_path' });
    }
  });

  it('keeps the request on the Dataverse origin whatever the path holds', () => {
    for (const path of [
      `${API}/@evil.example/x`,
      `${API}//evil.example`,
      `${API}/http://evil.example/`,
      `${API}/a?@evil.example`,
    ]) {
      const result = refusal(path) ?? buildDataverseUrl(dyn, path, '');
      if (result instanceof URL) expect(result.origin).toBe(dyn.origin);
      else expect(result.status).toBe(400);
    }
  });

  it('encodes one segment per RFC 3986 pchar', () => {
    expect(encodePathSegment("a+b c%'()=,:@$!*;&~._-é")).toBe("a%2Bb%20c%25'()=,:@$!*;&~._-%C3%A9");
  });
});

/**
 * A client generated from the OpenAPI document calls proxied paths: openapi-typescript generates the
 * types (programmatic API), the TypeScript compiler checks a client written against them, and that
 * client, with openapi-fetch's default path serializer, calls the local server and the Dataverse stand-in.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import createClient from 'openapi-fetch';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import type { CookieJar } from '../support/cookie-jar.ts';
import { signInOverHttp } from '../support/local-session.ts';
import { findOperation, OPENAPI_FILE } from '../support/openapi.ts';

/** Written against the generated `paths`; `@ts-expect-error` lines fail the type check if the types are too loose. */
const CLIENT_SOURCE = `
import type createClient from 'openapi-fetch';
import type { paths } from './schema';

export async function callThroughTheProxy(create: typeof createClient, baseUrl: string, cookie: string, id: string) {
  const client = create<paths>({ baseUrl, headers: { cookie } });
  const version = 'v9.2';
  const list = await client.GET('/api/data/{version}/{entitySet}', { params: { path: { version, entitySet: 'accounts' } } });
  const byId = await client.GET('/api/data/{version}/{entitySet}({id})', { params: { path: { version, entitySet: 'accounts', id } } });
  const byAlternateKey = await client.GET('/api/data/{version}/{entitySet}({id})', {
    params: { path: { version, entitySet: 'contacts', id: "emailaddress1='a+b@x.com'" } },
  });
  const whoAmI = await client.GET('/api/data/{version}/WhoAmI()', { params: { path: { version } } });
  return [list, byId, byAlternateKey, whoAmI].map((r) => ({ status: r.response.status, url: r.response.url, body: r.data as unknown }));
}

/** Never called: calls the generated types must refuse. */
export function refusedByTheTypes(client: ReturnType<typeof createClient<paths>>, id: string) {
  // @ts-expect-error the record key is a required path parameter
  void client.GET('/api/data/{version}/{entitySet}({id})', { params: { path: { version: 'v9.2', entitySet: 'accounts' } } });
  // @ts-expect-error no such path in the document
  void client.GET('/api/data/{version}/{entitySet}/{id}', { params: { path: { version: 'v9.2', entitySet: 'accounts', id } } });
}
`;

const root = fileURLToPath(new URL('../../', import.meta.url));
let stack: LocalStack;
let jar: CookieJar;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'openapi-client-'));
  stack = await startLocalStack({ env: { PORT: '0' } });
  jar = await signInOverHttp(stack);
});
afterAll(async () => {
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a client generated from the OpenAPI document (openapi-typescript + openapi-fetch)', () => {
  it('has concrete templates for proxied paths, each variable one segment', () => {
    expect(findOperation('GET', '/api/data/v9.2/accounts').template).toBe('/api/data/{version}/{entitySet}');
    expect(findOperation('PATCH', "/api/data/v9.2/accounts(name='x')").template).toBe(
      '/api/data/{version}/{entitySet}({id})',
    );
    expect(findOperation('POST', '/api/data/v9.2/$batch').template).toBe('/api/data/{version}/$batch');
    expect(findOperation('GET', '/api/data/v9.2/WhoAmI()').template).toBe('/api/data/{version}/WhoAmI()');
    expect(findOperation('GET', '/api/data/v9.2/accounts(1)/primarycontactid').template).toBe('/api/data/{path}');
  });

  it(
    'type-checks and calls list, get by id, get by alternate key and WhoAmI() through the local server',
    { timeout: 60_000 },
    async () => {
      const schema = astToString(await openapiTS(pathToFileURL(OPENAPI_FILE.pathname)));
      for (const template of [
        '/api/data/{version}/{entitySet}',
        '/api/data/{version}/{entitySet}({id})',
        '/api/data/{version}/$batch',
        '/api/data/{version}/WhoAmI()',
      ]) {
        expect(schema).toContain(`"${template}"`);
      }
      await writeFile(join(dir, 'schema.ts'), schema);
      await writeFile(join(dir, 'client.ts'), CLIENT_SOURCE);

      const program = ts.createProgram([join(dir, 'client.ts')], {
        strict: true,
        noEmit: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
        types: [],
        skipLibCheck: true,
        paths: { 'openapi-fetch': [join(root, 'node_modules/openapi-fetch/dist/index.d.mts')] },
      });
      const problems = ts
        .getPreEmitDiagnostics(program)
        .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      expect(problems).toEqual([]);

      const account = stack.dataverse!.insert('accounts', { name: 'Generated Client Co' });
      // fullname is computed from firstname and lastname, as in Dataverse.
      stack.dataverse!.insert('contacts', { emailaddress1: 'a+b@x.com', firstname: 'A', lastname: 'B' });
      const { callThroughTheProxy } = (await import(pathToFileURL(join(dir, 'client.ts')).href)) as {
        callThroughTheProxy: (
          create: typeof createClient,
          baseUrl: string,
          cookie: string,
          id: string,
        ) => Promise<{ status: number; url: string; body: unknown }[]>;
      };
      const [list, byId, byAlternateKey, whoAmI] = await callThroughTheProxy(
        createClient,
        stack.url,
        jar.header(),
        account.id,
      );

      expect(list).toMatchObject({ status: 200, url: `${stack.url}/api/data/v9.2/accounts` });
      expect((list!.body as { value: { name: string }[] }).value.map((a) => a.name)).toContain('Generated Client Co');
      expect(byId).toMatchObject({ status: 200, body: { accountid: account.id, name: 'Generated Client Co' } });
      // The default serializer encodes the key (= ' + @): decoded by API Gateway, re-encoded by the proxy.
      expect(byAlternateKey!.url).toBe(`${stack.url}/api/data/v9.2/contacts(emailaddress1%3D'a%2Bb%40x.com')`);
      expect(byAlternateKey).toMatchObject({ status: 200, body: { emailaddress1: 'a+b@x.com', fullname: 'A B' } });
      expect(whoAmI).toMatchObject({ status: 200, body: { UserId: expect.any(String) } });
    },
  );
});

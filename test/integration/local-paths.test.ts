/**
 * Paths as deployed: API Gateway HTTP APIs deliver `rawPath` URL-decoded ("API Gateway decodes
 * URL-encoded request parameters before passing them to your backend integration", HTTP API routes
 * docs), and the local server does the same, so alternate keys are tested here as they run in AWS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import type { CookieJar } from '../support/cookie-jar.ts';
import { signInOverHttp } from '../support/local-session.ts';

let stack: LocalStack;
let jar: CookieJar;
beforeAll(async () => {
  stack = await startLocalStack({ env: { PORT: '0' } });
  jar = await signInOverHttp(stack);
});
afterAll(async () => stack?.stop());

/**
 * What a client sends: each key value percent-encoded (encodeURIComponent leaves ' ( ) alone). The
 * columns are the alternate keys the stand-in's environment defines (Dataverse refuses any other).
 */
const byKey = (set: string, column: string, value: string) =>
  `${set}(${column}='${encodeURIComponent(value.replace(/'/g, "''"))}')`;
const get = (path: string) => jar.fetch(`${stack.url}/api/data/v9.2/${path}`);

describe('alternate keys through the local server, decoded as an HTTP API delivers them', () => {
  it.each([
    ['contacts', 'emailaddress1', 'a+b@x.com', "contacts(emailaddress1='a%2Bb@x.com')"],
    ['accounts', 'accountnumber', 'Müller & Söhne', "accounts(accountnumber='M%C3%BCller%20&%20S%C3%B6hne')"],
    ['accounts', 'accountnumber', "O'Brien", "accounts(accountnumber='O''Brien')"],
    ['accounts', 'accountnumber', '50% off', "accounts(accountnumber='50%25%20off')"],
    [
      'accounts',
      'accountnumber',
      'Ärger "quoted" @home',
      "accounts(accountnumber='%C3%84rger%20%22quoted%22%20@home')",
    ],
  ])('%s by %s = %s reaches Dataverse with the right key value', async (set, column, value, upstream) => {
    const record = stack.dataverse!.insert(set, { [column]: value });
    const answer = await get(byKey(set, column, value));
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({
      [column]: value,
      [set === 'accounts' ? 'accountid' : 'contactid']: record.id,
    });
    expect(stack.dataverse!.requests.at(-1)!.path).toBe(`/api/data/v9.2/${upstream}`);
  });

  it('sends a literal + as %2B too, so Dataverse never reads it as a space', async () => {
    stack.dataverse!.insert('contacts', { emailaddress1: 'c+d@x.com' });
    const answer = await get("contacts(emailaddress1='c+d@x.com')");
    expect(answer.status).toBe(200);
    expect(stack.dataverse!.requests.at(-1)!.path).toBe("/api/data/v9.2/contacts(emailaddress1='c%2Bd@x.com')");
  });

  it('answers 400 invalid_path, before any upstream call, for a key holding an encoded slash (an HTTP API cannot carry it)', async () => {
    stack.dataverse!.insert('accounts', { accountnumber: 'a/b' });
    const before = stack.dataverse!.requests.length;
    const answer = await get(byKey('accounts', 'accountnumber', 'a/b'));
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({
      error: { code: 'invalid_path', message: expect.stringContaining('$filter') },
    });
    expect(stack.dataverse!.requests.length).toBe(before);
  });

  it('refuses a double-encoded dot segment that would climb out of the Web API', async () => {
    const before = stack.dataverse!.requests.length;
    const answer = await get('%252e%252e/%252e%252e/admin');
    expect(answer.status).toBe(400);
    expect(stack.dataverse!.requests.length).toBe(before);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchXmlQuery } from '../support/dataverse.ts';
import { jsonBody, signIn, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
let auth: Record<string, string>;
beforeAll(async () => {
  stack = await startTestStack();
  auth = { authorization: `Bearer ${(await signIn(stack)).sessionToken}` };
});
afterAll(async () => stack?.stop());

const API = '/api/data/v9.2';
const text = (r: { body?: string; isBase64Encoded?: boolean }) =>
  r.isBase64Encoded ? Buffer.from(r.body ?? '', 'base64').toString('utf8') : (r.body ?? '');

describe('proxy to the Dataverse stand-in: queries', () => {
  it('passes /$count through as plain text', async () => {
    const answer = await stack.routes().proxy({ path: `${API}/accounts/$count`, headers: auth });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-type']).toBe('text/plain');
    expect(text(answer)).toBe('3');
  });

  it('passes a FetchXML query and its paging annotations through', async () => {
    const query = fetchXmlQuery(
      '<fetch count="2" page="1"><entity name="account"><attribute name="name"/><order attribute="name"/></entity></fetch>',
    );
    const answer = await stack.routes().proxy({ path: `${API}/accounts`, query, headers: auth });
    expect(answer.statusCode).toBe(200);
    const body = jsonBody(answer);
    expect((body.value as { name: string }[]).map((r) => r.name)).toEqual(['Adventure Works', 'Contoso Ltd']);
    expect(body['@Microsoft.Dynamics.CRM.morerecords']).toBe(true);
    expect(body['@Microsoft.Dynamics.CRM.fetchxmlpagingcookie']).toMatch(/^<cookie pagenumber="2" /);
  });

  it('passes $filter with quotes and $count=true through, and a stand-in 400 for a bad filter', async () => {
    const ok = await stack.routes().proxy({
      path: `${API}/accounts`,
      query: `$select=name&$count=true&$filter=${encodeURIComponent("contains(name,'o') and revenue ge 2000")}`,
      headers: auth,
    });
    expect(jsonBody(ok)).toMatchObject({ '@odata.count': 1, value: [{ name: 'Adventure Works' }] });
    const bad = await stack
      .routes()
      .proxy({ path: `${API}/accounts`, query: `$filter=${encodeURIComponent('nosuch eq 1')}`, headers: auth });
    expect(bad.statusCode).toBe(400);
    expect(jsonBody(bad)).toMatchObject({ error: { code: '0x80060888' } });
  });
});

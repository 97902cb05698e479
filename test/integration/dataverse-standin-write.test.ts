import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandIn, type StandInHarness } from '../support/dataverse.ts';

let h: StandInHarness;
beforeAll(async () => {
  h = await startStandIn();
});
afterAll(async () => h?.stop());

const json = { 'content-type': 'application/json' };
const idOf = (entityId: string | null) => /\(([0-9a-f-]{36})\)$/.exec(entityId ?? '')![1]!;

describe('Dataverse stand-in: create, update, delete', () => {
  it('creates with 204 and an OData-EntityId absolute at its own origin', async () => {
    const created = await h.call('POST', 'accounts', { headers: json, body: '{"name":"Created","revenue":12.5}' });
    expect(created.status).toBe(204);
    const entityId = created.headers.get('odata-entityid')!;
    expect(entityId).toMatch(new RegExp(`^${h.root.replace(/[.$]/g, '\\$&')}accounts\\([0-9a-f-]{36}\\)$`));
    expect((await h.call('GET', `accounts(${idOf(entityId)})?$select=name,revenue`)).json()).toMatchObject({
      name: 'Created',
      revenue: 12.5,
    });
  });

  it('creates with 201 and the record when Prefer: return=representation', async () => {
    const created = await h.call('POST', 'accounts?$select=name', {
      headers: { ...json, prefer: 'return=representation' },
      body: '{"name":"Shown"}',
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('preference-applied')).toBe('return=representation');
    const body = created.json();
    expect(body['@odata.context']).toBe(`${h.root}$metadata#accounts(name)/$entity`);
    expect(body).toMatchObject({ name: 'Shown', accountid: idOf(created.headers.get('odata-entityid')) });
  });

  it('refuses unknown properties, wrong types, read-only columns and bad JSON with 400, creating nothing', async () => {
    const before = (await h.call('GET', 'accounts/$count')).text;
    for (const body of [
      '{"name":"x","nosuch":1}',
      '{"name":5}',
      '{"numberofemployees":1.5}',
      '{"_primarycontactid_value":"00000000-0000-0000-0000-000000000001"}',
      '{"createdon":"2020-01-01T00:00:00Z"}',
      '{"name":',
      '[1]',
    ]) {
      const answer = await h.call('POST', 'accounts', { headers: json, body });
      expect(answer.status, body).toBe(400);
      expect(answer.json(), body).toMatchObject({ error: { code: '0x80048d19', message: expect.any(String) } });
    }
    expect((await h.call('GET', 'accounts/$count')).text).toBe(before);
  });

  it('updates with PATCH and If-Match: *, bumping the ETag; a stale If-Match gets 412', async () => {
    const id = idOf(
      (await h.call('POST', 'accounts', { headers: json, body: '{"name":"Before"}' })).headers.get('odata-entityid'),
    );
    const etag = (await h.call('GET', `accounts(${id})`)).headers.get('etag')!;
    const patched = await h.call('PATCH', `accounts(${id})`, {
      headers: { ...json, 'if-match': '*' },
      body: '{"name":"After"}',
    });
    expect(patched.status).toBe(204);
    const read = await h.call('GET', `accounts(${id})`);
    expect(read.json().name).toBe('After');
    expect(read.headers.get('etag')).not.toBe(etag);
    const stale = await h.call('PATCH', `accounts(${id})`, {
      headers: { ...json, 'if-match': etag },
      body: '{"name":"Lost"}',
    });
    expect(stale.status).toBe(412);
    expect((await h.call('GET', `accounts(${id})`)).json().name).toBe('After');
  });

  it('deletes, then answers 404 with Dataverse’s not-found code', async () => {
    const id = idOf(
      (await h.call('POST', 'accounts', { headers: json, body: '{"name":"Doomed"}' })).headers.get('odata-entityid'),
    );
    expect((await h.call('DELETE', `accounts(${id})`)).status).toBe(204);
    const gone = await h.call('GET', `accounts(${id})`);
    expect(gone.status).toBe(404);
    expect(gone.json()).toMatchObject({ error: { code: '0x80040217' } });
    expect((await h.call('DELETE', `accounts(${id})`)).status).toBe(404);
  });
});

describe('Dataverse stand-in: upsert', () => {
  it('PATCH on a missing id creates the record with that id', async () => {
    const id = randomUUID();
    const answer = await h.call('PATCH', `accounts(${id})`, { headers: json, body: '{"name":"Upserted"}' });
    expect(answer.status).toBe(204);
    expect(answer.headers.get('odata-entityid')).toBe(`${h.root}accounts(${id})`);
    expect((await h.call('GET', `accounts(${id})`)).json().name).toBe('Upserted');
  });

  it('PATCH with If-Match: * on a missing record answers 404 and creates nothing', async () => {
    const id = randomUUID();
    const answer = await h.call('PATCH', `accounts(${id})`, {
      headers: { ...json, 'if-match': '*' },
      body: '{"name":"Never"}',
    });
    expect(answer.status).toBe(404);
    expect((await h.call('GET', `accounts(${id})`)).status).toBe(404);
  });

  it('PATCH with If-None-Match: * creates a missing record but answers 412 for an existing one, changing nothing', async () => {
    const id = randomUUID();
    expect(
      (
        await h.call('PATCH', `accounts(${id})`, {
          headers: { ...json, 'if-none-match': '*' },
          body: '{"name":"First"}',
        })
      ).status,
    ).toBe(204);
    const again = await h.call('PATCH', `accounts(${id})`, {
      headers: { ...json, 'if-none-match': '*' },
      body: '{"name":"Second"}',
    });
    expect(again.status).toBe(412);
    expect(again.json()).toMatchObject({ error: { code: '0x80040237' } });
    expect((await h.call('GET', `accounts(${id})`)).json().name).toBe('First');
  });

  it('upserts and reads by alternate key, with quotes, spaces, + and @ in the key value', async () => {
    const key = `accountnumber='${encodeURIComponent("O''Neil + Co @ HQ")}'`;
    expect((await h.call('PATCH', `accounts(${key})`, { headers: json, body: '{"name":"Keyed"}' })).status).toBe(204);
    const read = (await h.call('GET', `accounts(${key})?$select=name,accountnumber`)).json();
    expect(read).toMatchObject({ name: 'Keyed', accountnumber: "O'Neil + Co @ HQ" });
    expect((await h.call('GET', `accounts(name='Keyed')`)).status).toBe(400);
  });
});

describe('Dataverse stand-in: @odata.bind', () => {
  let contactId: string;
  beforeAll(async () => {
    contactId = idOf(
      (
        await h.call('POST', 'contacts', { headers: json, body: '{"firstname":"Bound","lastname":"Contact"}' })
      ).headers.get('odata-entityid'),
    );
  });

  it('accepts an absolute URL at its own origin and a relative one', async () => {
    for (const url of [`${h.root}contacts(${contactId})`, `/contacts(${contactId})`, `contacts(${contactId})`]) {
      const created = await h.call('POST', 'accounts?$select=_primarycontactid_value', {
        headers: { ...json, prefer: 'return=representation' },
        body: JSON.stringify({ name: 'With contact', 'primarycontactid@odata.bind': url }),
      });
      expect(created.status, url).toBe(201);
      expect(created.json()._primarycontactid_value).toBe(contactId);
    }
  });

  it('refuses a bind URL at another origin with 400, creating nothing', async () => {
    const before = (await h.call('GET', 'accounts/$count')).text;
    for (const url of [
      `http://localhost:3000/api/data/v9.2/contacts(${contactId})`,
      `https://contoso.crm.dynamics.com/api/data/v9.2/contacts(${contactId})`,
    ]) {
      const answer = await h.call('POST', 'accounts', {
        headers: json,
        body: JSON.stringify({ name: 'Elsewhere', 'primarycontactid@odata.bind': url }),
      });
      expect(answer.status, url).toBe(400);
      expect(answer.json().error).toMatchObject({
        code: '0x80048d19',
        message: expect.stringContaining('is not valid because it is not based on'),
      });
    }
    expect((await h.call('GET', 'accounts/$count')).text).toBe(before);
  });

  it('refuses a bind to a missing record (404) or to the wrong table (400)', async () => {
    const missing = await h.call('POST', 'accounts', {
      headers: json,
      body: JSON.stringify({ name: 'x', 'primarycontactid@odata.bind': `/contacts(${randomUUID()})` }),
    });
    expect(missing.status).toBe(404);
    const account = idOf(
      (await h.call('POST', 'accounts', { headers: json, body: '{"name":"Parent"}' })).headers.get('odata-entityid'),
    );
    const wrong = await h.call('POST', 'accounts', {
      headers: json,
      body: JSON.stringify({ name: 'x', 'primarycontactid@odata.bind': `/accounts(${account})` }),
    });
    expect(wrong.status).toBe(400);
  });

  it('binds on update, and collection binds and related creates set the back-reference', async () => {
    const account = idOf(
      (await h.call('POST', 'accounts', { headers: json, body: '{"name":"Hub"}' })).headers.get('odata-entityid'),
    );
    expect(
      (
        await h.call('PATCH', `accounts(${account})`, {
          headers: { ...json, 'if-match': '*' },
          body: JSON.stringify({ 'primarycontactid@odata.bind': `/contacts(${contactId})` }),
        })
      ).status,
    ).toBe(204);
    const related = await h.call('POST', `accounts(${account})/contact_customer_accounts`, {
      headers: json,
      body: '{"lastname":"Child"}',
    });
    expect(related.status).toBe(204);
    const other = idOf(
      (
        await h.call('POST', 'accounts', {
          headers: json,
          body: JSON.stringify({ name: 'Holder', 'contact_customer_accounts@odata.bind': [`/contacts(${contactId})`] }),
        })
      ).headers.get('odata-entityid'),
    );
    const hub = (
      await h.call(
        'GET',
        `accounts(${account})?$select=name&$expand=primarycontactid($select=fullname),contact_customer_accounts($select=lastname)`,
      )
    ).json();
    expect(hub.primarycontactid).toMatchObject({ fullname: 'Bound Contact' });
    expect(hub.contact_customer_accounts).toEqual([expect.objectContaining({ lastname: 'Child' })]);
    const holder = (await h.call('GET', `accounts(${other})/contact_customer_accounts?$select=fullname`)).json();
    expect(holder.value).toEqual([expect.objectContaining({ fullname: 'Bound Contact' })]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchXmlQuery, startStandIn, type StandInHarness } from '../support/dataverse.ts';

let h: StandInHarness;
const ids: Record<string, string> = {};
beforeAll(async () => {
  h = await startStandIn();
  const add = (name: string, data: Record<string, unknown>) =>
    (ids[name] = h.dataverse.insert('accounts', { name, ...data }).id);
  add("O'Brien & Sons", { revenue: 500, accountnumber: 'A-1', donotemail: true });
  add('Zeta Corp', { revenue: 9000, accountnumber: 'A-2', donotemail: false });
  add('alpha partners', { revenue: 2500, numberofemployees: 12 });
  const contact = h.dataverse.insert('contacts', {
    firstname: 'Ada',
    lastname: 'Lovelace',
    emailaddress1: 'ada@contoso.example',
    _parentcustomerid_value: ids['Zeta Corp'],
  });
  h.dataverse.insert('contacts', { firstname: 'Alan', lastname: 'Turing', _parentcustomerid_value: ids['Zeta Corp'] });
  h.dataverse.insert('contacts', { firstname: 'Grace', lastname: 'Hopper' });
  await h.call('PATCH', `accounts(${ids['Zeta Corp']})`, {
    headers: { 'content-type': 'application/json', 'if-match': '*' },
    body: JSON.stringify({ 'primarycontactid@odata.bind': `/contacts(${contact.id})` }),
  });
});
afterAll(async () => h?.stop());

type Row = Record<string, unknown>;
const names = async (query: string) =>
  ((await h.call('GET', `accounts?${query}`)).json().value as Row[]).map((r) => r.name);
const filter = (expression: string) => names(`$select=name&$filter=${encodeURIComponent(expression)}&$orderby=name`);

describe('Dataverse stand-in: $filter', () => {
  it('compares with eq, ne, gt, ge, lt, le on numbers', async () => {
    expect(await filter('revenue gt 2500')).toEqual(['Adventure Works', 'Zeta Corp']);
    expect(await filter('revenue ge 2500')).toEqual(['Adventure Works', 'alpha partners', 'Zeta Corp']);
    expect(await filter('revenue lt 1000')).toEqual(["O'Brien & Sons"]);
    expect(await filter('revenue le 1000')).toEqual(['Contoso Ltd', "O'Brien & Sons"]);
    expect(await filter('revenue eq 3000')).toEqual(['Adventure Works']);
    expect(await filter('numberofemployees ne null')).toEqual(['alpha partners']);
  });

  it('compares text case-insensitively, with doubled quotes inside string literals', async () => {
    expect(await filter("name eq 'o''brien & sons'")).toEqual(["O'Brien & Sons"]);
    expect(await filter("name ne 'ZETA CORP' and revenue gt 2000")).toEqual(['Adventure Works', 'alpha partners']);
  });

  it('supports contains, startswith and endswith', async () => {
    expect(await filter("contains(name,'VENT')")).toEqual(['Adventure Works']);
    expect(await filter("startswith(name,'a')")).toEqual(['Adventure Works', 'alpha partners']);
    expect(await filter("endswith(name,'corp')")).toEqual(['Zeta Corp']);
  });

  it('combines with and, or, not and parentheses', async () => {
    expect(await filter("(startswith(name,'a') or revenue gt 5000) and not contains(name,'works')")).toEqual([
      'alpha partners',
      'Zeta Corp',
    ]);
    expect(await filter('not (revenue ge 1000)')).toEqual(["O'Brien & Sons"]);
  });

  it('matches null, booleans and GUIDs', async () => {
    expect(await filter('accountnumber eq null and revenue lt 2000')).toEqual(['Contoso Ltd']);
    expect(await filter('donotemail eq true')).toEqual(["O'Brien & Sons"]);
    expect(await filter(`accountid eq ${ids['Zeta Corp']!.toUpperCase()}`)).toEqual(['Zeta Corp']);
    expect(await filter(`_primarycontactid_value ne null`)).toEqual(['Zeta Corp']);
  });

  it('refuses unknown properties, incompatible operand types and syntax errors with 400 and Dataverse’s error code', async () => {
    for (const expression of [
      'nosuchcolumn eq 1',
      "revenue eq 'x'",
      "accountid eq 'not-a-guid'",
      "name eq 'unterminated",
      'name eq',
      "contains(revenue,'1')",
    ]) {
      const answer = await h.call('GET', `accounts?$filter=${encodeURIComponent(expression)}`);
      expect(answer.status, expression).toBe(400);
      expect(answer.json(), expression).toMatchObject({ error: { code: '0x80060888', message: expect.any(String) } });
    }
  });

  it('answers 501, not a silent success, for functions the stand-in does not implement', async () => {
    const answer = await h.call('GET', `accounts?$filter=${encodeURIComponent("tolower(name) eq 'x'")}`);
    expect(answer.status).toBe(501);
    expect(answer.json()).toMatchObject({ error: { message: expect.stringContaining('tolower') } });
  });
});

describe('Dataverse stand-in: $select, $orderby, $top, $count', () => {
  it('returns only the selected columns plus the key and ETag, with an absolute @odata.context', async () => {
    const body = (await h.call('GET', 'accounts?$select=name,revenue&$top=1')).json();
    expect(body['@odata.context']).toBe(`${h.root}$metadata#accounts(name,revenue)`);
    expect(Object.keys((body.value as Row[])[0]!).sort()).toEqual(['@odata.etag', 'accountid', 'name', 'revenue']);
  });

  it('refuses an unknown column in $select', async () => {
    expect((await h.call('GET', 'accounts?$select=name,bogus')).status).toBe(400);
  });

  it('orders by several keys, ascending and descending', async () => {
    const rows = (await h.call('GET', 'accounts?$select=name,donotemail&$orderby=donotemail desc,name asc')).json()
      .value as Row[];
    expect(rows.map((r) => r.name)).toEqual([
      "O'Brien & Sons",
      'Zeta Corp',
      'Adventure Works',
      'alpha partners',
      'Contoso Ltd',
      'Fabrikam Inc',
    ]);
    expect(await names('$select=name&$orderby=revenue desc&$top=2')).toEqual(['Zeta Corp', 'Adventure Works']);
  });

  it('counts all matches with $count=true, independent of $top', async () => {
    const body = (
      await h.call('GET', `accounts?$select=name&$top=1&$count=true&$filter=${encodeURIComponent('revenue gt 1000')}`)
    ).json();
    expect(body['@odata.count']).toBe(4);
    expect(body.value).toHaveLength(1);
  });

  it('answers /$count as plain text', async () => {
    const all = await h.call('GET', 'accounts/$count');
    expect(all.headers.get('content-type')).toBe('text/plain');
    expect(all.text).toBe('6');
    expect((await h.call('GET', `accounts/$count?$filter=${encodeURIComponent("startswith(name,'a')")}`)).text).toBe(
      '2',
    );
  });

  it('refuses query options Dataverse does not support ($skip) and bad $top values', async () => {
    expect((await h.call('GET', 'accounts?$skip=1')).status).toBe(400);
    expect((await h.call('GET', 'accounts?$top=-1')).status).toBe(400);
  });
});

describe('Dataverse stand-in: paging', () => {
  it('pages with Prefer: odata.maxpagesize, an absolute nextLink at its own origin with $skiptoken, and Preference-Applied', async () => {
    const seen: unknown[] = [];
    let next: string | undefined = `${h.root}accounts?$select=name&$orderby=name`;
    let pages = 0;
    while (next && pages < 10) {
      const answer = await h.call('GET', next, { headers: { prefer: 'odata.maxpagesize=2' } });
      expect(answer.headers.get('preference-applied')).toBe('odata.maxpagesize=2');
      const body = answer.json();
      seen.push(...(body.value as Row[]).map((r) => r.name));
      next = body['@odata.nextLink'] as string | undefined;
      if (next) {
        expect(new URL(next).origin).toBe(h.dataverse.url);
        expect(new URL(next).searchParams.get('$skiptoken')).toMatch(/^\d+$/);
        expect(new URL(next).searchParams.get('$select')).toBe('name');
      }
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([
      'Adventure Works',
      'alpha partners',
      'Contoso Ltd',
      'Fabrikam Inc',
      "O'Brien & Sons",
      'Zeta Corp',
    ]);
  });
});

describe('Dataverse stand-in: $expand (one level)', () => {
  it('expands a single-valued navigation property with a nested $select', async () => {
    const body = (
      await h.call(
        'GET',
        `accounts(${ids['Zeta Corp']})?$select=name&$expand=primarycontactid($select=fullname,emailaddress1)`,
      )
    ).json();
    expect(body['@odata.context']).toBe(
      `${h.root}$metadata#accounts(name,primarycontactid(fullname,emailaddress1))/$entity`,
    );
    expect(body.primarycontactid).toEqual({
      '@odata.etag': expect.any(String),
      fullname: 'Ada Lovelace',
      emailaddress1: 'ada@contoso.example',
      contactid: expect.any(String),
    });
  });

  it('expands a collection-valued navigation property, null for an empty lookup', async () => {
    const rows = (
      await h.call(
        'GET',
        `accounts?$select=name&$filter=${encodeURIComponent("startswith(name,'z') or startswith(name,'c')")}&$orderby=name&$expand=contact_customer_accounts($select=firstname;$orderby=firstname desc),primarycontactid($select=fullname)`,
      )
    ).json().value as Row[];
    expect(
      rows.map((r) => [
        r.name,
        (r.contact_customer_accounts as Row[]).map((c) => c.firstname),
        r.primarycontactid && (r.primarycontactid as Row).fullname,
      ]),
    ).toEqual([
      ['Contoso Ltd', [], null],
      ['Zeta Corp', ['Alan', 'Ada'], 'Ada Lovelace'],
    ]);
  });

  it('refuses an unknown navigation property and a second level of $expand', async () => {
    expect((await h.call('GET', 'accounts?$expand=nosuchnav')).status).toBe(400);
    expect((await h.call('GET', 'accounts?$expand=primarycontactid($expand=parentcustomerid_account)')).status).toBe(
      501,
    );
  });
});

describe('Dataverse stand-in: FetchXML', () => {
  const fetch = (xml: string, headers: Record<string, string> = {}) =>
    h.call('GET', `accounts?${fetchXmlQuery(xml)}`, { headers });

  it('returns the requested attributes without null values, filtered and ordered', async () => {
    const answer = await fetch(`<fetch>
      <entity name="account">
        <attribute name="name"/><attribute name="accountnumber"/>
        <filter type="or">
          <condition attribute="name" operator="like" value="%corp%"/>
          <filter type="and">
            <condition attribute="revenue" operator="gt" value="1500"/>
            <condition attribute="revenue" operator="lt" value="3000"/>
          </filter>
        </filter>
        <order attribute="name" descending="true"/>
      </entity></fetch>`);
    expect(answer.status).toBe(200);
    const body = answer.json();
    expect(body['@odata.context']).toBe(`${h.root}$metadata#accounts(name,accountnumber)`);
    expect(body.value).toEqual([
      { '@odata.etag': expect.any(String), accountid: ids['Zeta Corp'], name: 'Zeta Corp', accountnumber: 'A-2' },
      { '@odata.etag': expect.any(String), accountid: expect.any(String), name: 'Fabrikam Inc' },
      { '@odata.etag': expect.any(String), accountid: ids['alpha partners'], name: 'alpha partners' },
    ]);
  });

  it('supports eq, ne, null, not-null and in conditions, and lookups by their logical name', async () => {
    const run = async (condition: string) =>
      (
        (
          await fetch(
            `<fetch><entity name='account'><attribute name='name'/><filter>${condition}</filter><order attribute='name'/></entity></fetch>`,
          )
        ).json().value as Row[]
      ).map((r) => r.name);
    expect(await run(`<condition attribute='accountnumber' operator='eq' value='a-1'/>`)).toEqual(["O'Brien & Sons"]);
    expect(
      await run(
        `<condition attribute='accountnumber' operator='not-null'/><condition attribute='name' operator='ne' value='Zeta Corp'/>`,
      ),
    ).toEqual(["O'Brien & Sons"]);
    expect(
      await run(
        `<condition attribute='numberofemployees' operator='null'/><condition attribute='revenue' operator='in'><value>1000</value><value>2000</value></condition>`,
      ),
    ).toEqual(['Contoso Ltd', 'Fabrikam Inc']);
    expect(await run(`<condition attribute='primarycontactid' operator='not-null'/>`)).toEqual(['Zeta Corp']);
  });

  it('pages with count and page: morerecords and a paging cookie until the last page', async () => {
    const seen: unknown[] = [];
    for (let page = 1; page <= 3; page++) {
      const body = (
        await fetch(
          `<fetch count="2" page="${page}"><entity name="account"><attribute name="name"/><order attribute="name"/></entity></fetch>`,
        )
      ).json();
      seen.push(...(body.value as Row[]).map((r) => r.name));
      expect(body['@Microsoft.Dynamics.CRM.morerecords']).toBe(page < 3);
      if (page < 3) {
        const cookie = body['@Microsoft.Dynamics.CRM.fetchxmlpagingcookie'] as string;
        expect(cookie).toMatch(new RegExp(`^<cookie pagenumber="${page + 1}" pagingcookie="%253ccookie`));
        expect(decodeURIComponent(decodeURIComponent(/pagingcookie="([^"]+)"/.exec(cookie)![1]!))).toMatch(
          /^<cookie page="\d+"><accountid last="\{[0-9A-F-]{36}\}" first="\{[0-9A-F-]{36}\}" \/><\/cookie>$/,
        );
      } else {
        expect(body['@Microsoft.Dynamics.CRM.fetchxmlpagingcookie']).toBeUndefined();
      }
    }
    expect(seen).toEqual([
      'Adventure Works',
      'alpha partners',
      'Contoso Ltd',
      'Fabrikam Inc',
      "O'Brien & Sons",
      'Zeta Corp',
    ]);
  });

  it('limits with top', async () => {
    const body = (
      await fetch(
        `<fetch top="2"><entity name="account"><attribute name="name"/><order attribute="revenue" descending="true"/></entity></fetch>`,
      )
    ).json();
    expect((body.value as Row[]).map((r) => r.name)).toEqual(['Zeta Corp', 'Adventure Works']);
  });

  it('refuses malformed XML, another entity, unknown attributes, top with paging and OData options alongside', async () => {
    const cases = [
      '<fetch><entity name="account"><attribute name="name"></entity></fetch>',
      '<fetch><entity name="contact"><attribute name="fullname"/></entity></fetch>',
      '<fetch><entity name="account"><attribute name="bogus"/></entity></fetch>',
      '<fetch top="2" count="2"><entity name="account"/></fetch>',
      '<fetch><entity name="account"><filter type="xor"/></entity></fetch>',
      '<fetch count="0"><entity name="account"/></fetch>',
    ];
    for (const xml of cases) {
      const answer = await fetch(xml);
      expect(answer.status, xml).toBe(400);
      expect(answer.json(), xml).toMatchObject({ error: { code: expect.stringMatching(/^0x8004/) } });
    }
    expect(
      (await h.call('GET', `accounts?${fetchXmlQuery('<fetch><entity name="account"/></fetch>')}&$top=1`)).status,
    ).toBe(400);
    expect(
      (
        await h.call(
          'GET',
          `accounts(${ids['Zeta Corp']})/contact_customer_accounts?${fetchXmlQuery('<fetch><entity name="contact"/></fetch>')}`,
        )
      ).status,
    ).toBe(400);
    const dtd = await fetch('<!DOCTYPE fetch [<!ENTITY x "y">]><fetch><entity name="account"/></fetch>');
    expect(dtd.status).toBe(400);
    expect(
      (await fetch('<fetch><entity name="account"><attribute name="name" alias="n"/></entity></fetch>')).status,
    ).toBe(501);
  });
});

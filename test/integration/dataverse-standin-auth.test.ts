import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceOf } from '../../local/idp.ts';
import { AVERY, CASEY, DANA, startStandIn, type StandInHarness } from '../support/dataverse.ts';

let h: StandInHarness;
beforeAll(async () => {
  h = await startStandIn();
});
afterAll(async () => h?.stop());

describe('Dataverse stand-in: tokens', () => {
  it('accepts a token issued for its own URL', async () => {
    const who = await h.call('GET', 'WhoAmI');
    expect(who.status).toBe(200);
  });

  it('refuses a token issued for another environment with 401 and Dataverse’s error body', async () => {
    for (const aud of ['https://contoso.crm.dynamics.com', `${h.dataverse.url}/`, 'api://local-dev-client']) {
      const answer = await h.call('GET', 'WhoAmI', { token: await h.token({ aud }) });
      expect(answer.status).toBe(401);
      expect(answer.json()).toMatchObject({
        error: { code: '0x80072182', message: expect.stringContaining('another environment') },
      });
      expect(answer.headers.get('www-authenticate')).toContain(`resource_id="${h.dataverse.url}"`);
    }
  });

  it('refuses a request without a bearer token', async () => {
    const answer = await fetch(`${h.root}WhoAmI`);
    expect(answer.status).toBe(401);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('0x80072182');
  });

  it('the dev IdP issues access tokens whose aud is the resource of the requested scope (code and refresh grants)', async () => {
    const scope = `${h.dataverse.url}/user_impersonation offline_access openid profile`;
    const authorize = new URL(`${h.idp.issuer}/authorize`);
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: 'c',
      redirect_uri: 'http://localhost/cb',
      scope,
      state: 's',
    }))
      authorize.searchParams.set(k, v);
    const redirect = await fetch(authorize, { redirect: 'manual' });
    const code = new URL(redirect.headers.get('location')!).searchParams.get('code')!;
    const tokenAt = async (body: Record<string, string>) =>
      (await (
        await fetch(`${h.idp.issuer}/token`, { method: 'POST', body: new URLSearchParams({ client_id: 'c', ...body }) })
      ).json()) as Record<string, string>;
    const issued = await tokenAt({ grant_type: 'authorization_code', code, redirect_uri: 'http://localhost/cb' });
    expect(decodeJwt(issued.access_token!).aud).toBe(h.dataverse.url);
    expect((await h.call('GET', 'WhoAmI', { token: issued.access_token })).status).toBe(200);
    const refreshed = await tokenAt({ grant_type: 'refresh_token', refresh_token: issued.refresh_token!, scope });
    expect(decodeJwt(refreshed.access_token!).aud).toBe(h.dataverse.url);
    const other = await tokenAt({
      grant_type: 'refresh_token',
      refresh_token: issued.refresh_token!,
      scope: 'https://other.crm.dynamics.com/user_impersonation',
    });
    expect(decodeJwt(other.access_token!).aud).toBe('https://other.crm.dynamics.com');
    expect((await h.call('GET', 'WhoAmI', { token: other.access_token })).status).toBe(401);
  });

  it('resourceOf takes the resource from the first URL scope', () => {
    expect(resourceOf('openid https://org.crm.dynamics.com/user_impersonation offline_access')).toBe(
      'https://org.crm.dynamics.com',
    );
    expect(resourceOf('http://127.0.0.1:1234/user_impersonation')).toBe('http://127.0.0.1:1234');
    expect(resourceOf('openid profile offline_access')).toBeUndefined();
  });
});

describe('Dataverse stand-in: WhoAmI and impersonation', () => {
  it('answers WhoAmI and WhoAmI() with the caller’s systemuserid and an absolute @odata.context', async () => {
    for (const path of ['WhoAmI', 'WhoAmI()']) {
      const who = (await h.call('GET', path)).json();
      expect(who).toEqual({
        '@odata.context': `${h.root}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse`,
        BusinessUnitId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        UserId: DANA.systemuserid,
        OrganizationId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      });
    }
  });

  it('runs as the user named by MSCRMCallerID or CallerObjectId when the caller may impersonate', async () => {
    const byUserId = await h.call('GET', 'WhoAmI()', { headers: { MSCRMCallerID: AVERY.systemuserid } });
    expect(byUserId.json().UserId).toBe(AVERY.systemuserid);
    const byObjectId = await h.call('GET', 'WhoAmI()', {
      headers: { CallerObjectId: CASEY.azureactivedirectoryobjectid },
    });
    expect(byObjectId.json().UserId).toBe(CASEY.systemuserid);
  });

  it('records created while impersonating are created by the impersonated user', async () => {
    const created = await h.call('POST', 'accounts', {
      headers: {
        'content-type': 'application/json',
        prefer: 'return=representation',
        mscrmcallerid: AVERY.systemuserid,
      },
      body: JSON.stringify({ name: 'On behalf' }),
    });
    expect(created.json()._createdby_value).toBe(AVERY.systemuserid);
  });

  it('answers 403 when the caller lacks prvActOnBehalfOfAnotherUser, and changes nothing', async () => {
    const token = await h.token({ oid: CASEY.azureactivedirectoryobjectid });
    const before = (await h.call('GET', 'accounts/$count')).text;
    const impersonations: Record<string, string>[] = [
      { MSCRMCallerID: DANA.systemuserid },
      { CallerObjectId: DANA.azureactivedirectoryobjectid },
    ];
    for (const headers of impersonations) {
      const answer = await h.call('POST', 'accounts', {
        token,
        headers: { ...headers, 'content-type': 'application/json' },
        body: '{"name":"Nope"}',
      });
      expect(answer.status).toBe(403);
      expect(answer.json()).toMatchObject({
        error: { code: '0x80040220', message: expect.stringContaining('prvActOnBehalfOfAnotherUser') },
      });
    }
    expect((await h.call('GET', 'accounts/$count')).text).toBe(before);
    expect((await h.call('GET', 'WhoAmI', { token })).json().UserId).toBe(CASEY.systemuserid);
  });

  it('answers 404 for an unknown user and 400 for a malformed id', async () => {
    expect(
      (await h.call('GET', 'WhoAmI', { headers: { MSCRMCallerID: '00000000-0000-4000-8000-000000000999' } })).status,
    ).toBe(404);
    expect((await h.call('GET', 'WhoAmI', { headers: { MSCRMCallerID: 'not-a-guid' } })).status).toBe(400);
  });
});

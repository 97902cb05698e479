import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscoveryStandIn } from '../../local/discovery.ts';
import { startLocalEnvironments, type LocalEnvironment, type LocalEnvironments } from '../../local/environments.ts';
import {
  DEV_USER,
  DEV_USER_OTHER_TENANT,
  startDevIdentityProvider,
  type DevIdentityProvider,
} from '../../local/idp.ts';

let idp: DevIdentityProvider;
let local: LocalEnvironments;
let contoso: LocalEnvironment;
let sandbox: LocalEnvironment;
let fabrikam: LocalEnvironment;

beforeAll(async () => {
  idp = await startDevIdentityProvider();
  local = await startLocalEnvironments(idp.issuer);
  [contoso, sandbox, fabrikam] = local.environments as [LocalEnvironment, LocalEnvironment, LocalEnvironment];
});
afterAll(async () => {
  await local?.stop();
  await idp?.stop();
});

const REDIRECT = 'http://localhost/cb';
const scopeFor = (resource: string) => `${resource}/user_impersonation offline_access openid profile`;

async function tokenRequest(body: Record<string, string>): Promise<Record<string, string>> {
  const answer = await fetch(`${idp.issuer}/token`, {
    method: 'POST',
    body: new URLSearchParams({ client_id: 'c', ...body }),
  });
  expect(answer.status).toBe(200);
  return (await answer.json()) as Record<string, string>;
}

/** Signs in at the dev IdP (code flow) as the user a login_hint names, for one resource. */
async function signIn(resource: string, loginHint?: string, cookie?: string): Promise<Record<string, string>> {
  const authorize = new URL(`${idp.issuer}/authorize`);
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: 'c',
    redirect_uri: REDIRECT,
    scope: scopeFor(resource),
    state: 's',
  };
  if (loginHint) params.login_hint = loginHint;
  for (const [k, v] of Object.entries(params)) authorize.searchParams.set(k, v);
  const redirect = await fetch(authorize, { redirect: 'manual', headers: cookie ? { cookie } : {} });
  const code = new URL(redirect.headers.get('location')!).searchParams.get('code')!;
  return tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT });
}

/** An access token for `resource`, redeemed with the refresh token of a sign-in. */
async function tokenFor(signedIn: Record<string, string>, resource: string): Promise<string> {
  return (
    await tokenRequest({
      grant_type: 'refresh_token',
      refresh_token: signedIn.refresh_token!,
      scope: scopeFor(resource),
    })
  ).access_token!;
}

async function get(
  url: string,
  token?: string,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const answer = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: answer.status, body: (await answer.json()) as Record<string, unknown>, headers: answer.headers };
}

const instancesUrl = () => `${local.discovery.url}/api/discovery/v2.0/Instances`;
const whoAmI = (origin: string) => `${origin}/api/data/v9.2/WhoAmI`;
const accountNames = async (origin: string, token: string) =>
  ((await get(`${origin}/api/data/v9.2/accounts?$select=name`, token)).body.value as { name: string }[])
    .map((a) => a.name)
    .sort();

describe('dev IdP: users of two tenants, tokens per resource', () => {
  it('signs in Dana by default, the user a login_hint names (any case), and Dana for an unknown hint', async () => {
    expect(decodeJwt((await signIn(contoso.dataverse.url)).access_token!)).toMatchObject({
      oid: DEV_USER.oid,
      tid: DEV_USER.tid,
    });
    const bo = decodeJwt((await signIn(fabrikam.dataverse.url, 'BO@Fabrikam.example')).access_token!);
    expect(bo).toMatchObject({
      oid: DEV_USER_OTHER_TENANT.oid,
      tid: DEV_USER_OTHER_TENANT.tid,
      aud: fabrikam.dataverse.url,
    });
    const unknown = decodeJwt((await signIn(contoso.dataverse.url, 'someone.else@contoso.example')).access_token!);
    expect(unknown.oid).toBe(DEV_USER.oid);
  });

  it('signs in the account chosen at /select-account in this browser (its own cookie); a login_hint still wins', async () => {
    const page = await fetch(`${idp.issuer}/select-account`);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain('signs in as Dana Developer');
    expect(html).toContain('/select-account?user=bo%40fabrikam.example');
    const chose = await fetch(`${idp.issuer}/select-account?user=bo%40fabrikam.example`);
    expect(await chose.text()).toContain('signs in as Bo Builder');
    const cookie = chose.headers.get('set-cookie')!.split(';')[0]!;
    expect(chose.headers.get('set-cookie')).toContain('HttpOnly');
    expect(decodeJwt((await signIn(fabrikam.dataverse.url, undefined, cookie)).access_token!).oid).toBe(
      DEV_USER_OTHER_TENANT.oid,
    );
    expect(
      decodeJwt((await signIn(contoso.dataverse.url, DEV_USER.preferred_username, cookie)).access_token!).oid,
    ).toBe(DEV_USER.oid);
    const unknown = await fetch(`${idp.issuer}/select-account?user=mallory%40evil.example`);
    expect(unknown.headers.get('set-cookie')).toBeNull();
    expect((await fetch(`${idp.issuer}/.well-known/openid-configuration`)).status).toBe(200);
  });

  it('a refresh token redeems tokens for its own user and for the resource each refresh names, and keeps doing so after rotation', async () => {
    const signedIn = await signIn(local.discovery.url, DEV_USER_OTHER_TENANT.preferred_username);
    expect(decodeJwt(signedIn.access_token!).aud).toBe(local.discovery.url);
    const forFabrikam = await tokenRequest({
      grant_type: 'refresh_token',
      refresh_token: signedIn.refresh_token!,
      scope: scopeFor(fabrikam.dataverse.url),
    });
    expect(decodeJwt(forFabrikam.access_token!)).toMatchObject({
      aud: fabrikam.dataverse.url,
      oid: DEV_USER_OTHER_TENANT.oid,
    });
    expect(decodeJwt(forFabrikam.id_token!).oid).toBe(DEV_USER_OTHER_TENANT.oid);
    const rotated = await tokenFor(forFabrikam, contoso.dataverse.url);
    expect(decodeJwt(rotated)).toMatchObject({
      aud: contoso.dataverse.url,
      oid: DEV_USER_OTHER_TENANT.oid,
      tid: DEV_USER_OTHER_TENANT.tid,
    });
  });
});

describe('Global Discovery stand-in', () => {
  it('lists only the signed-in user’s environments, in Global Discovery’s Instance shape', async () => {
    const dana = await signIn(local.discovery.url);
    const listed = await get(instancesUrl(), dana.access_token);
    expect(listed.status).toBe(200);
    expect(listed.body['@odata.context']).toBe(`${local.discovery.url}/api/discovery/v2.0/$metadata#Instances`);
    const value = listed.body.value as Record<string, unknown>[];
    expect(value.map((i) => i.UniqueName)).toEqual(['contoso', 'contoso-sandbox']);
    expect(value[0]).toEqual({
      Id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      UniqueName: 'contoso',
      UrlName: 'contoso',
      FriendlyName: 'Contoso',
      State: 0,
      Version: expect.stringMatching(/^9\.2\./),
      Url: contoso.dataverse.url,
      ApiUrl: contoso.dataverse.apiUrl,
      LastUpdated: expect.any(String),
      Region: 'NA',
      TenantId: DEV_USER.tid,
      EnvironmentId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      DatacenterId: expect.any(String),
      Purpose: '',
      TrialExpirationDate: null,
      IsUserSysAdmin: false,
      OrganizationType: 0,
      OrganizationId: value[0]!.Id,
    });
    expect(value[0]!.ApiUrl).not.toBe(value[0]!.Url);
    expect(value[1]).toMatchObject({
      Url: sandbox.dataverse.url,
      ApiUrl: sandbox.dataverse.url,
      TenantId: DEV_USER.tid,
    });

    const bo = await signIn(local.discovery.url, DEV_USER_OTHER_TENANT.preferred_username);
    const hers = (await get(instancesUrl(), bo.access_token)).body.value as Record<string, unknown>[];
    expect(hers.map((i) => [i.UniqueName, i.Url, i.TenantId])).toEqual([
      ['fabrikam', fabrikam.dataverse.url, DEV_USER_OTHER_TENANT.tid],
    ]);
  });

  it('answers Instances(UniqueName=…) for the user’s own environment and 404 for another tenant’s', async () => {
    const dana = await signIn(local.discovery.url);
    const one = await get(`${instancesUrl()}(UniqueName='contoso-sandbox')`, dana.access_token);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ UniqueName: 'contoso-sandbox', Url: sandbox.dataverse.url });
    expect((await get(`${instancesUrl()}(UniqueName='fabrikam')`, dana.access_token)).status).toBe(404);
  });

  it('refuses with 401 a request without a token and a token issued for another resource (an environment)', async () => {
    const dana = await signIn(contoso.dataverse.url);
    for (const token of [undefined, dana.access_token, await tokenFor(dana, `${local.discovery.url}/other`)]) {
      const answer = await get(instancesUrl(), token);
      expect(answer.status).toBe(401);
      expect(answer.headers.get('www-authenticate')).toContain(`resource_id="${local.discovery.url}"`);
      expect(answer.body).not.toHaveProperty('value');
    }
    expect((await get(instancesUrl(), await tokenFor(dana, local.discovery.url))).status).toBe(200);
  });

  it('refuses a token signed by another key than the dev IdP’s', async () => {
    const otherIdp = await startDevIdentityProvider();
    try {
      const forged = await otherIdp.server.issuer.buildToken({
        scopesOrTransform: (_h: unknown, payload: Record<string, unknown>) =>
          Object.assign(payload, { ...DEV_USER, iss: idp.issuer, aud: local.discovery.url }),
      });
      expect((await get(instancesUrl(), forged)).status).toBe(401);
    } finally {
      await otherIdp.stop();
    }
  });

  it('lists an environment that names its members only to those members', async () => {
    const discovery = new DiscoveryStandIn({
      issuer: idp.issuer,
      environments: [
        {
          url: 'https://restricted.crm.dynamics.com',
          uniqueName: 'restricted',
          friendlyName: 'Restricted',
          tenantId: DEV_USER.tid,
          members: ['00000000-0000-4000-8000-000000000009'],
        },
      ],
    });
    await discovery.start();
    try {
      const dana = await signIn(discovery.url);
      expect((await get(`${discovery.url}/api/discovery/v2.0/Instances`, dana.access_token)).body.value).toEqual([]);
      expect(discovery.environmentsOf(DEV_USER.tid, '00000000-0000-4000-8000-000000000009')).toHaveLength(1);
    } finally {
      await discovery.stop();
    }
  });
});

describe('Dataverse environments on distinct origins', () => {
  it('each environment answers its own token with its own records and refuses the other’s with 401', async () => {
    const dana = await signIn(contoso.dataverse.url);
    const forContoso = dana.access_token!;
    const forSandbox = await tokenFor(dana, sandbox.dataverse.url);
    expect(new URL(contoso.dataverse.url).origin).not.toBe(new URL(sandbox.dataverse.url).origin);
    expect((await get(whoAmI(contoso.dataverse.url), forContoso)).status).toBe(200);
    expect((await get(whoAmI(sandbox.dataverse.url), forSandbox)).status).toBe(200);
    expect((await get(whoAmI(sandbox.dataverse.url), forContoso)).status).toBe(401);
    expect((await get(whoAmI(contoso.dataverse.url), forSandbox)).status).toBe(401);
    expect(await accountNames(contoso.dataverse.url, forContoso)).toEqual([
      'Adventure Works',
      'Contoso Ltd',
      'Fabrikam Inc',
    ]);
    expect(await accountNames(sandbox.dataverse.url, forSandbox)).toEqual(['Contoso Ltd']);
  });

  it('refuses a user of another tenant with 401 even with a token for the environment, and serves her own', async () => {
    const bo = await signIn(fabrikam.dataverse.url, DEV_USER_OTHER_TENANT.preferred_username);
    const forContoso = await tokenFor(bo, contoso.dataverse.url);
    expect(decodeJwt(forContoso).aud).toBe(contoso.dataverse.url);
    const refused = await get(whoAmI(contoso.dataverse.url), forContoso);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ error: { code: '0x80072182' } });
    expect(await accountNames(fabrikam.dataverse.url, bo.access_token!)).toEqual([
      'Fabrikam Fiber',
      'Fabrikam Residences',
    ]);
    const dana = await signIn(fabrikam.dataverse.url);
    expect((await get(whoAmI(fabrikam.dataverse.url), dana.access_token)).status).toBe(401);
  });

  it('serves contoso on its Web API origin too, with tokens for the environment URL only, answering with that origin', async () => {
    const dana = await signIn(contoso.dataverse.url);
    expect(contoso.dataverse.apiUrl).not.toBe(contoso.dataverse.url);
    const viaApi = await get(`${contoso.dataverse.apiUrl}/api/data/v9.2/accounts?$select=name`, dana.access_token);
    expect(viaApi.status).toBe(200);
    expect(viaApi.body['@odata.context']).toBe(`${contoso.dataverse.apiUrl}/api/data/v9.2/$metadata#accounts(name)`);
    expect((viaApi.body.value as unknown[]).length).toBe(3);
    const forApiOrigin = await tokenFor(dana, contoso.dataverse.apiUrl);
    expect((await get(whoAmI(contoso.dataverse.apiUrl), forApiOrigin)).status).toBe(401);
    expect((await get(whoAmI(contoso.dataverse.apiUrl), await tokenFor(dana, sandbox.dataverse.url))).status).toBe(401);
  });
});

import { describe, expect, it } from 'vitest';
import { CLOUDS } from '../../shared/config/clouds.ts';
import { ConfigError, environmentHostAllowed, loadConfig } from '../../shared/config/config.ts';
import { hostAllowed } from '../../shared/config/dataverse-hosts.ts';
import { expectedDiscoveryIssuer, isEntraHost } from '../../shared/oauth/issuer.ts';

const BASE = {
  CLIENT_ID: 'client',
  PUBLIC_BASE_URL: 'https://auth.example.com',
  ALLOWED_RETURN_URLS: 'https://app.example.com',
};

describe('ENTRA_CLOUD picks the sign-in host, the discovery URL and the environment hosts', () => {
  it.each([
    [
      'commercial',
      'login.microsoftonline.com',
      'https://globaldisco.crm.dynamics.com',
      'contoso.crm4.dynamics.com',
      'contoso.crm9.dynamics.com',
    ],
    [
      'gcc',
      'login.microsoftonline.com',
      'https://globaldisco.crm9.dynamics.com',
      'contoso.crm9.dynamics.com',
      'contoso.crm.dynamics.com',
    ],
    [
      'usg',
      'login.microsoftonline.us',
      'https://globaldisco.crm.microsoftdynamics.us',
      'contoso.crm.microsoftdynamics.us',
      'contoso.crm.appsplatform.us',
    ],
    [
      'dod',
      'login.microsoftonline.us',
      'https://globaldisco.crm.appsplatform.us',
      'contoso.crm.appsplatform.us',
      'contoso.crm.microsoftdynamics.us',
    ],
    [
      'china',
      'login.partner.microsoftonline.cn',
      'https://globaldisco.crm.dynamics.cn',
      'contoso.crm.dynamics.cn',
      'contoso.crm.dynamics.com',
    ],
  ])('%s', (cloud, loginHost, discovery, allowed, refused) => {
    const config = loadConfig({ ...BASE, ENTRA_CLOUD: cloud });
    expect(config.entraCloud).toBe(cloud);
    expect(config.entraAuthority.href).toBe(`https://${loginHost}/organizations/v2.0`);
    expect(config.discoveryUrl.origin).toBe(discovery);
    expect(environmentHostAllowed(config, allowed)).toBe(true);
    expect(environmentHostAllowed(config, refused)).toBe(false);
    expect(config.dynamicsUrl).toBeUndefined();
  });

  it('defaults to commercial and lets explicit settings override the cloud', () => {
    expect(loadConfig(BASE).entraCloud).toBe('commercial');
    const config = loadConfig({
      ...BASE,
      ENTRA_CLOUD: 'usg',
      ENTRA_AUTHORITY: 'https://login.microsoftonline.us/contoso.onmicrosoft.us/v2.0',
      DISCOVERY_URL: 'https://disco.example.us',
      DATAVERSE_HOSTS: 'crm.contoso.us,*.dynamics.contoso.us',
    });
    expect(config.entraAuthority.href).toBe('https://login.microsoftonline.us/contoso.onmicrosoft.us/v2.0');
    expect(config.discoveryUrl.origin).toBe('https://disco.example.us');
    expect(config.dataverseHosts).toEqual(['crm.contoso.us', '*.dynamics.contoso.us']);
    expect(environmentHostAllowed(config, 'contoso.crm.microsoftdynamics.us')).toBe(false);
  });

  it('DYNAMICS_URL’s own host is always allowed (the operator configured it)', () => {
    const config = loadConfig({
      ...BASE,
      DYNAMICS_URL: 'https://contoso.crm.dynamics.com',
      DATAVERSE_HOSTS: '*.crm4.dynamics.com',
    });
    expect(environmentHostAllowed(config, 'contoso.crm.dynamics.com')).toBe(true);
    expect(environmentHostAllowed(config, 'fabrikam.crm.dynamics.com')).toBe(false);
  });

  it.each([
    ['ENTRA_CLOUD', { ENTRA_CLOUD: 'germany' }, /ENTRA_CLOUD must be one of/],
    ['a port', { DATAVERSE_HOSTS: 'contoso.crm.dynamics.com:8443' }, /DATAVERSE_HOSTS/],
    ['a scheme', { DATAVERSE_HOSTS: 'https://contoso.crm.dynamics.com' }, /DATAVERSE_HOSTS/],
    ['an IP literal', { DATAVERSE_HOSTS: '10.0.0.1' }, /DATAVERSE_HOSTS/],
    ['upper case', { DATAVERSE_HOSTS: '*.CRM.dynamics.com' }, /lower case/],
    ['a wildcard over a top-level domain', { DATAVERSE_HOSTS: '*.com' }, /DATAVERSE_HOSTS/],
    ['a wildcard inside a label', { DATAVERSE_HOSTS: 'crm*.dynamics.com' }, /DATAVERSE_HOSTS/],
    ['loopback outside local mode', { DATAVERSE_HOSTS: '127.0.0.1:8080' }, /loopback/],
    [
      'a DISCOVERY_URL with a path',
      { DISCOVERY_URL: 'https://globaldisco.crm.dynamics.com/api' },
      /DISCOVERY_URL must be an origin/,
    ],
    [
      'a plain-http DISCOVERY_URL',
      { DISCOVERY_URL: 'http://globaldisco.crm.dynamics.com' },
      /DISCOVERY_URL must use https/,
    ],
  ])('refuses %s', (_name, env, message) => {
    expect(() => loadConfig({ ...BASE, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...BASE, ...env })).toThrow(message);
  });

  it('allows loopback stand-ins with ports where plain-http loopback is allowed', () => {
    const config = loadConfig({ ...BASE, PUBLIC_BASE_URL: 'http://localhost:3000', DATAVERSE_HOSTS: '127.0.0.1:8080' });
    expect(environmentHostAllowed(config, '127.0.0.1:8080')).toBe(true);
    expect(environmentHostAllowed(config, '127.0.0.1:8081')).toBe(false);
  });
});

describe('host patterns: `*` is exactly one DNS label', () => {
  const patterns = ['*.crm.dynamics.com', 'exact.example.com'];
  it.each([
    ['contoso.crm.dynamics.com', true],
    ['exact.example.com', true],
    ['a.b.crm.dynamics.com', false],
    ['crm.dynamics.com', false],
    ['contoso.crm.dynamics.com.evil.example', false],
    ['contoso.crm.dynamics.com:443', false],
    ['Contoso.crm.dynamics.com', false],
    ['-bad.crm.dynamics.com', false],
    ['contoso.crm.dynamics.com.', false],
    ['127.0.0.1:8080', false],
    ['1.2.3.4', false],
    ['[::1]', false],
    ['', false],
  ])('%s → %s', (host, expected) => {
    expect(hostAllowed(host, patterns, false)).toBe(expected);
  });
});

describe('Entra issuer rules per cloud', () => {
  it.each(Object.entries(CLOUDS))(
    '%s: the multi-tenant authority expects the template issuer on its own sign-in host',
    (_name, cloud) => {
      for (const alias of ['organizations', 'common']) {
        expect(expectedDiscoveryIssuer(new URL(`https://${cloud.loginHost}/${alias}/v2.0`)).href).toBe(
          `https://${cloud.loginHost}/%7Btenantid%7D/v2.0`,
        );
      }
    },
  );

  it('China’s older sign-in host expects the issuer its discovery document publishes (the partner host)', () => {
    expect(expectedDiscoveryIssuer(new URL('https://login.chinacloudapi.cn/organizations/v2.0')).href).toBe(
      'https://login.partner.microsoftonline.cn/%7Btenantid%7D/v2.0',
    );
  });

  it('a single-tenant authority and any other host must name themselves', () => {
    const tenant = new URL('https://login.microsoftonline.us/0b1c2d3e-0000-4000-8000-000000000000/v2.0');
    expect(expectedDiscoveryIssuer(tenant)).toBe(tenant);
    const other = new URL('https://login.example.com/organizations/v2.0');
    expect(expectedDiscoveryIssuer(other)).toBe(other);
  });

  it.each(Object.entries(CLOUDS))('%s: its sign-in hosts are Entra hosts, any case', (_name, cloud) => {
    for (const host of [cloud.loginHost, ...cloud.issuerHosts]) {
      expect(isEntraHost(new URL(`https://${host.toUpperCase()}/organizations/v2.0`))).toBe(true);
    }
  });

  it('another provider is not an Entra host', () => {
    expect(isEntraHost(new URL('https://login.example.com/organizations/v2.0'))).toBe(false);
    expect(isEntraHost(new URL('http://127.0.0.1:4000/tenant/v2.0'))).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/config.ts';
import { toEnvironments } from '../../shared/dataverse/discovery.ts';
import { ServiceError } from '../../shared/errors/service-error.ts';
import type { Services } from '../../shared/runtime.ts';

const services = {
  config: loadConfig({
    CLIENT_ID: 'c',
    PUBLIC_BASE_URL: 'https://auth.example.com',
    ALLOWED_RETURN_URLS: 'https://app.example.com',
  }),
} as Services;

const instance = (over: Record<string, unknown>) => ({
  Url: 'https://contoso.crm.dynamics.com',
  ApiUrl: 'https://contoso.api.crm.dynamics.com',
  FriendlyName: 'Contoso',
  UniqueName: 'unqcontoso',
  UrlName: 'contoso',
  EnvironmentId: 'e1',
  TenantId: 't1',
  Region: 'NA',
  Version: '9.2.1',
  State: 0,
  ...over,
});

describe('Global Discovery answers', () => {
  it('maps an instance to the listed fields', () => {
    expect(toEnvironments(services, { value: [instance({})] })).toEqual([
      {
        url: 'https://contoso.crm.dynamics.com',
        apiUrl: 'https://contoso.api.crm.dynamics.com',
        friendlyName: 'Contoso',
        uniqueName: 'unqcontoso',
        urlName: 'contoso',
        environmentId: 'e1',
        tenantId: 't1',
        region: 'NA',
        version: '9.2.1',
        state: '0',
      },
    ]);
  });

  it('drops environments outside DATAVERSE_HOSTS and keeps only the environment’s own API host', () => {
    const listed = toEnvironments(services, {
      value: [
        instance({}),
        instance({ Url: 'https://evil.example.com' }),
        instance({ Url: 'http://contoso.crm.dynamics.com' }),
        instance({ Url: 'https://contoso.crm.dynamics.com/path' }),
        instance({ Url: 'https://fabrikam.crm4.dynamics.com', ApiUrl: 'https://evil.example.com' }),
        instance({ Url: 'https://northwind.crm.dynamics.com', ApiUrl: 'https://contoso.api.crm.dynamics.com' }),
      ],
    });
    expect(listed.map((e) => [e.url, e.apiUrl])).toEqual([
      ['https://contoso.crm.dynamics.com', 'https://contoso.api.crm.dynamics.com'],
      ['https://fabrikam.crm4.dynamics.com', undefined],
      ['https://northwind.crm.dynamics.com', undefined],
    ]);
  });

  it.each([[{}], [{ value: 'x' }], [{ value: [{ FriendlyName: 'no url' }] }], [null]])(
    'refuses an answer of another shape (%j) with 502',
    (body) => {
      expect(() => toEnvironments(services, body)).toThrow(ServiceError);
      try {
        toEnvironments(services, body);
      } catch (err) {
        expect((err as ServiceError).status).toBe(502);
        expect((err as ServiceError).code).toBe('discovery_error');
      }
    },
  );
});

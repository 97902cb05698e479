/**
 * Multi-environment deployments: `entraCloud`, `discoveryUrl` and `dataverseHosts` in context and
 * props; `dynamicsUrl` optional (DYNAMICS_URL is passed only when set).
 */
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DynamicsAuthServiceProps } from '../../infra/construct.ts';
import { readSettings, SettingsError } from '../../infra/settings.ts';
import { DynamicsAuthStack } from '../../infra/stack.ts';
import { nagFindings, newApp, NO_BUNDLING, resourcesOf } from './support.ts';

const BASE = { clientId: '11111111-2222-3333-4444-555555555555', allowedReturnUrls: ['https://app.example.com'] };

/** Every function's environment variables. */
function environments(stack: DynamicsAuthStack): Record<string, string>[] {
  const fns = resourcesOf(Template.fromStack(stack), 'AWS::Lambda::Function');
  return Object.values(fns).map((f) => (f.Properties.Environment as { Variables: Record<string, string> }).Variables);
}

let multi: DynamicsAuthStack;
let single: DynamicsAuthStack;
beforeAll(() => {
  const app = newApp(NO_BUNDLING);
  const multiProps: DynamicsAuthServiceProps = {
    ...BASE,
    entraCloud: 'usg',
    discoveryUrl: 'https://globaldisco.crm.microsoftdynamics.us',
    dataverseHosts: ['*.crm.microsoftdynamics.us'],
  };
  multi = new DynamicsAuthStack(app, 'MultiEnvironment', { service: multiProps });
  single = new DynamicsAuthStack(app, 'SingleEnvironment', {
    service: { ...BASE, dynamicsUrl: 'https://org.crm.dynamics.com/' },
  });
  app.synth();
});

describe('multi-environment settings (CDK)', () => {
  it('passes ENTRA_CLOUD, DISCOVERY_URL and DATAVERSE_HOSTS, and neither DYNAMICS_URL nor a commercial ENTRA_AUTHORITY, when dynamicsUrl is unset', () => {
    const all = environments(multi);
    // 15 route functions and the two webhook delivery functions.
    expect(all.length).toBe(17);
    for (const env of all) {
      expect(env).toMatchObject({
        ENTRA_CLOUD: 'usg',
        DISCOVERY_URL: 'https://globaldisco.crm.microsoftdynamics.us',
        DATAVERSE_HOSTS: '*.crm.microsoftdynamics.us',
      });
      expect(env).not.toHaveProperty('DYNAMICS_URL');
      // The runtime takes the cloud's own authority (login.microsoftonline.us).
      expect(env).not.toHaveProperty('ENTRA_AUTHORITY');
    }
  });

  it('a single-environment deployment keeps DYNAMICS_URL and ENTRA_AUTHORITY and gets none of the new variables', () => {
    for (const env of environments(single)) {
      expect(env.DYNAMICS_URL).toBe('https://org.crm.dynamics.com');
      expect(env.ENTRA_AUTHORITY).toBe('https://login.microsoftonline.com/organizations/v2.0');
      for (const name of ['ENTRA_CLOUD', 'DISCOVERY_URL', 'DATAVERSE_HOSTS']) expect(env).not.toHaveProperty(name);
    }
  });

  it('is cdk-nag clean', () => {
    expect(nagFindings(multi)).toEqual([]);
  });

  it('refuses an unknown cloud and host patterns with ports or IP literals in the props, naming the setting', () => {
    const app = newApp(NO_BUNDLING);
    expect(() => new DynamicsAuthStack(app, 'BadCloud', { service: { ...BASE, entraCloud: 'mars' as never } })).toThrow(
      /entraCloud/,
    );
    expect(
      () =>
        new DynamicsAuthStack(app, 'BadHosts', { service: { ...BASE, dataverseHosts: ['org.crm.dynamics.com:8443'] } }),
    ).toThrow(/dataverseHosts/);
    expect(() => new DynamicsAuthStack(app, 'BadIp', { service: { ...BASE, dataverseHosts: ['10.0.0.1'] } })).toThrow(
      /dataverseHosts/,
    );
  });
});

describe('multi-environment settings (context)', () => {
  const read = (values: Record<string, string>) => (name: string) => values[name];

  it('reads entraCloud, discoveryUrl and dataverseHosts; dynamicsUrl is then optional and no placeholder', () => {
    const settings = readSettings(
      read({
        entraCloud: 'GCC',
        dataverseHosts: '*.crm9.dynamics.com, contoso.crm9.dynamics.com',
        discoveryUrl: 'https://globaldisco.crm9.dynamics.com',
      }),
    );
    expect(settings.serviceProps).toMatchObject({
      entraCloud: 'gcc',
      dataverseHosts: ['*.crm9.dynamics.com', 'contoso.crm9.dynamics.com'],
      discoveryUrl: 'https://globaldisco.crm9.dynamics.com',
    });
    expect(settings.serviceProps).not.toHaveProperty('dynamicsUrl');
    expect(settings.serviceProps).not.toHaveProperty('entraAuthority');
    expect(settings.placeholders).not.toContain('dynamicsUrl');
  });

  it('keeps dynamicsUrl (and its placeholder) when none of the new settings is given', () => {
    const settings = readSettings(read({}));
    expect(settings.serviceProps.dynamicsUrl).toBe('https://contoso.crm.dynamics.com');
    expect(settings.placeholders).toContain('dynamicsUrl');
  });

  it.each([
    ['entraCloud', 'mars'],
    ['dataverseHosts', 'org.crm.dynamics.com:443'],
    ['dataverseHosts', '10.0.0.1'],
    ['discoveryUrl', 'http://globaldisco.crm.dynamics.com'],
  ])('refuses %s=%j with an error naming it', (name, value) => {
    expect(() => readSettings(read({ [name]: value }))).toThrow(SettingsError);
    expect(() => readSettings(read({ [name]: value }))).toThrow(new RegExp(`^Invalid setting "${name}"`));
  });
});

import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { type DynamicsAuthServiceProps } from '../../infra/construct.ts';
import { DynamicsAuthStack } from '../../infra/stack.ts';
import { newApp, NO_BUNDLING, resourcesOf } from './support.ts';

const BASE: DynamicsAuthServiceProps = {
  clientId: '11111111-2222-3333-4444-555555555555',
  dynamicsUrl: 'https://crm.contoso.com',
  allowedReturnUrls: ['https://app.example.com'],
  entraAuthority: 'https://adfs.contoso.com/adfs',
};

describe('identity-provider profile settings', () => {
  it('passes IDP_PROFILE, RESOURCE_INDICATOR and POST_LOGOUT_REDIRECT_URI to every function when set', () => {
    const stack = new DynamicsAuthStack(newApp(NO_BUNDLING), 'StandardProvider', {
      service: {
        ...BASE,
        idpProfile: 'standard',
        resourceIndicator: 'https://crm.contoso.com/',
        postLogoutRedirectUri: 'https://app.example.com/signed-out',
      },
    });
    const functions = Object.values(resourcesOf(Template.fromStack(stack), 'AWS::Lambda::Function'));
    expect(functions.length).toBeGreaterThan(0);
    for (const fn of functions) {
      expect(fn.Properties.Environment.Variables).toMatchObject({
        IDP_PROFILE: 'standard',
        RESOURCE_INDICATOR: 'https://crm.contoso.com/',
        POST_LOGOUT_REDIRECT_URI: 'https://app.example.com/signed-out',
      });
    }
  });

  it('leaves them unset by default (Entra profile)', () => {
    const stack = new DynamicsAuthStack(newApp(NO_BUNDLING), 'EntraDefault', {
      service: { ...BASE, entraAuthority: undefined },
    });
    for (const fn of Object.values(resourcesOf(Template.fromStack(stack), 'AWS::Lambda::Function'))) {
      const env = fn.Properties.Environment.Variables as Record<string, unknown>;
      expect(Object.keys(env)).not.toContain('IDP_PROFILE');
      expect(Object.keys(env)).not.toContain('RESOURCE_INDICATOR');
      expect(Object.keys(env)).not.toContain('POST_LOGOUT_REDIRECT_URI');
    }
  });

  it('refuses an unknown profile at synth', () => {
    expect(
      () =>
        new DynamicsAuthStack(newApp(NO_BUNDLING), 'Bad', { service: { ...BASE, idpProfile: 'adfs' as 'standard' } }),
    ).toThrow(/idpProfile/);
  });
});

import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/config.ts';
import { classifyTokenError, promptFor, refreshParameters, resourceParameters } from '../../shared/oauth/profile.ts';

const env = {
  CLIENT_ID: 'cid',
  DYNAMICS_URL: 'https://contoso.crm.dynamics.com',
  PUBLIC_BASE_URL: 'https://auth.example.com',
  ALLOWED_RETURN_URLS: 'https://app.example.com',
};
const entra = loadConfig(env);
const standard = loadConfig({
  ...env,
  IDP_PROFILE: 'standard',
  RESOURCE_INDICATOR: 'https://contoso.crm.dynamics.com/',
});
const SCOPE = 'https://contoso.crm.dynamics.com/user_impersonation offline_access openid profile';

describe('identity-provider profile', () => {
  it('adds prompt=consent only for the standard profile, next to a requested prompt', () => {
    expect(promptFor(entra, undefined)).toBeUndefined();
    expect(promptFor(entra, 'select_account')).toBe('select_account');
    expect(promptFor(standard, undefined)).toBe('consent');
    expect(promptFor(standard, 'select_account')).toBe('select_account consent');
  });

  it('sends the scope on refresh for Entra only, and the resource when configured', () => {
    expect(refreshParameters(entra, SCOPE)).toEqual({ scope: SCOPE });
    expect(refreshParameters(standard, SCOPE)).toEqual({ resource: 'https://contoso.crm.dynamics.com/' });
    expect(resourceParameters(entra)).toEqual({});
  });

  it('sorts token-endpoint errors into grant ended, client rejected and other (RFC 6749 §5.2)', () => {
    for (const code of [
      'invalid_grant',
      'invalid_scope',
      'interaction_required',
      'consent_required',
      'login_required',
    ]) {
      expect(classifyTokenError(code)).toBe('grant_ended');
    }
    for (const code of ['invalid_client', 'unauthorized_client', 'unsupported_grant_type']) {
      expect(classifyTokenError(code)).toBe('client_rejected');
    }
    for (const code of ['invalid_request', 'server_error', 'temporarily_unavailable', 'whatever']) {
      expect(classifyTokenError(code)).toBe('other');
    }
  });
});

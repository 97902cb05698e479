import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config/config.ts';

const base = {
  CLIENT_ID: 'cid',
  DYNAMICS_URL: 'https://contoso.crm.dynamics.com',
  PUBLIC_BASE_URL: 'https://auth.example.com/',
  ALLOWED_RETURN_URLS: 'https://app.example.com, https://portal.example.com/crm',
};

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(base);
    expect(config.entraAuthority.href).toBe('https://login.microsoftonline.com/organizations/v2.0');
    expect(config.redirectUri).toBe('https://auth.example.com/auth/callback');
    expect([...config.allowedOrigins]).toEqual(['https://app.example.com', 'https://portal.example.com']);
    expect(config.pendingLoginTtlSeconds).toBe(600);
    expect(config.refreshSkewSeconds).toBe(120);
    expect(config.dataverseRejectionCooldownSeconds).toBe(600);
    expect(config.allowInsecureLoopback).toBe(false);
    expect(config.webhookSecretOverlapSeconds).toBe(24 * 3600);
    expect(config.webhookMaxEndpointsPerKey).toBe(10);
  });

  it.each([
    [{ CLIENT_ID: undefined }, /CLIENT_ID is required/],
    [{ DYNAMICS_URL: 'contoso' }, /DYNAMICS_URL must be an absolute URL/],
    [{ DYNAMICS_URL: 'http://contoso.crm.dynamics.com' }, /DYNAMICS_URL must use https/],
    [{ PUBLIC_BASE_URL: undefined }, /PUBLIC_BASE_URL is required/],
    [{ ALLOWED_RETURN_URLS: 'https://a.example/?x=1' }, /ALLOWED_RETURN_URLS/],
    [{ ALLOWED_RETURN_URLS: 'http://evil.example' }, /ALLOWED_RETURN_URLS.*https/],
    [{ SESSION_TTL_SECONDS: 'soon' }, /SESSION_TTL_SECONDS/],
    [{ WEBHOOK_MAX_ENDPOINTS_PER_KEY: '0' }, /WEBHOOK_MAX_ENDPOINTS_PER_KEY must be at least 1/],
    [
      { WEBHOOK_SECRET_OVERLAP_SECONDS: String(8 * 24 * 3600) },
      /WEBHOOK_SECRET_OVERLAP_SECONDS must be at most 604800/,
    ],
    [{ CLIENT_SECRET: 's', CLIENT_SECRET_ARN: 'arn' }, /not both/],
    [{ DATAVERSE_REJECTION_COOLDOWN_SECONDS: '30' }, /DATAVERSE_REJECTION_COOLDOWN_SECONDS must be at least 60/],
    [{ IDP_PROFILE: 'adfs' }, /IDP_PROFILE must be entra or standard/],
    [
      { RESOURCE_INDICATOR: 'https://contoso.crm.dynamics.com/?x=1' },
      /RESOURCE_INDICATOR must be an absolute URL without query or fragment/,
    ],
    [{ RESOURCE_INDICATOR: 'http://contoso.crm.dynamics.com' }, /RESOURCE_INDICATOR must use https/],
    [
      { POST_LOGOUT_REDIRECT_URI: 'https://evil.example/signed-out' },
      /POST_LOGOUT_REDIRECT_URI must be an absolute URL under ALLOWED_RETURN_URLS/,
    ],
    [{ POST_LOGOUT_REDIRECT_URI: 'https://portal.example.com/other' }, /POST_LOGOUT_REDIRECT_URI/],
    [{ POST_LOGOUT_REDIRECT_URI: 'https://app.example.com/bye#x' }, /POST_LOGOUT_REDIRECT_URI/],
    [{ POST_LOGOUT_REDIRECT_URI: '/signed-out' }, /POST_LOGOUT_REDIRECT_URI/],
  ])('fails fast naming the bad variable (%o)', (patch, message) => {
    expect(() => loadConfig({ ...base, ...patch })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...patch })).toThrow(message);
  });

  it('reads the identity-provider profile, resource indicator and post-logout redirect', () => {
    expect(loadConfig(base)).toMatchObject({
      idpProfile: 'entra',
      resourceIndicator: undefined,
      postLogoutRedirectUri: undefined,
    });
    const config = loadConfig({
      ...base,
      IDP_PROFILE: ' Standard ',
      RESOURCE_INDICATOR: 'https://contoso.crm.dynamics.com',
      POST_LOGOUT_REDIRECT_URI: 'https://portal.example.com/crm/signed-out',
    });
    expect(config.idpProfile).toBe('standard');
    expect(config.resourceIndicator).toBe('https://contoso.crm.dynamics.com');
    // Sent verbatim: Entra compares it exactly with the registered URI.
    expect(config.postLogoutRedirectUri).toBe('https://portal.example.com/crm/signed-out');
  });

  it('allows plain http only for loopback hosts (local mode)', () => {
    const config = loadConfig({
      ...base,
      ENTRA_AUTHORITY: 'http://127.0.0.1:9000',
      PUBLIC_BASE_URL: 'http://localhost:3000',
    });
    expect(config.allowInsecureLoopback).toBe(true);
  });
});

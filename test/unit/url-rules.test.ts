import { describe, expect, it } from 'vitest';
import { DEFAULT_ENTRA_AUTHORITY } from '../../infra/construct.ts';
import { checkNativeReturnTo } from '../../shared/auth/native.ts';
import { CLOUDS, defaultEntraAuthority, ENTRA_CLOUDS } from '../../shared/config/clouds.ts';
import { loadConfig, publicBase } from '../../shared/config/config.ts';
import { parseHostPatterns } from '../../shared/config/dataverse-hosts.ts';
import { isGuid } from '../../shared/config/guid.ts';
import { isHttpsOrLoopbackHttp, withoutTrailingSlash } from '../../shared/config/urls.ts';
import { bearerCredential } from '../../shared/http/bearer.ts';

const env = {
  CLIENT_ID: 'cid',
  PUBLIC_BASE_URL: 'https://auth.example.com/',
  ALLOWED_RETURN_URLS: 'https://app.example.com',
};

describe('GUIDs', () => {
  it('accepts the hyphenated form in either case and nothing else', () => {
    expect(isGuid('6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b')).toBe(true);
    expect(isGuid('6F1E2D3C-4B5A-4978-8A6B-5C4D3E2F1A0B')).toBe(true);
    for (const bad of [
      '6f1e2d3c4b5a49788a6b5c4d3e2f1a0b',
      '{6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b}',
      '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0g',
      'organizations',
      '',
    ]) {
      expect(isGuid(bad), bad).toBe(false);
    }
  });
});

describe('loopback and https', () => {
  it('allows plain http only to localhost and the loopback IP literals', () => {
    for (const ok of ['https://example.com', 'http://localhost:5173', 'http://127.0.0.1:3000', 'http://[::1]:8080']) {
      expect(isHttpsOrLoopbackHttp(new URL(ok)), ok).toBe(true);
    }
    for (const bad of ['http://example.com', 'http://127.0.0.2', 'http://localhost.example.com', 'ftp://localhost']) {
      expect(isHttpsOrLoopbackHttp(new URL(bad)), bad).toBe(false);
    }
  });

  it('applies the same hosts to service settings and loopback environment hosts', () => {
    expect(loadConfig({ ...env, PUBLIC_BASE_URL: 'http://localhost:3000' }).allowInsecureLoopback).toBe(true);
    expect(() => loadConfig({ ...env, PUBLIC_BASE_URL: 'http://auth.example.com' })).toThrow(
      /PUBLIC_BASE_URL must use https/,
    );
    expect(parseHostPatterns(['localhost:8080', '127.0.0.1:8080', '[::1]:8080'], true)).toHaveLength(3);
    expect(() => parseHostPatterns(['localhost:0'], true)).toThrow();
    expect(() => parseHostPatterns(['[::1]:65536'], true)).toThrow();
    expect(() => parseHostPatterns(['localhost:8080'], false)).toThrow(/loopback/);
  });

  it('lets a native client’s loopback redirect name only IP literals, never localhost (RFC 8252 §8.3)', () => {
    const none = new Set<string>();
    expect(checkNativeReturnTo('http://127.0.0.1:49152/done', none)).toBe('http://127.0.0.1:49152/done');
    expect(checkNativeReturnTo('http://[::1]:49152/done', none)).toBe('http://[::1]:49152/done');
    expect(checkNativeReturnTo('http://localhost:49152/done', none)).toBeUndefined();
  });
});

describe('base URLs', () => {
  it('drop every trailing slash before a path is appended', () => {
    expect(withoutTrailingSlash('https://auth.example.com///')).toBe('https://auth.example.com');
    expect(withoutTrailingSlash('https://auth.example.com/base/')).toBe('https://auth.example.com/base');
    expect(withoutTrailingSlash('/api/data/v9.2')).toBe('/api/data/v9.2');
  });

  it('the public base has no trailing slash, with or without a path', () => {
    expect(publicBase(loadConfig(env))).toBe('https://auth.example.com');
    expect(publicBase(loadConfig({ ...env, PUBLIC_BASE_URL: 'https://example.com/auth//' }))).toBe(
      'https://example.com/auth',
    );
    expect(loadConfig({ ...env, PUBLIC_BASE_URL: 'https://example.com/auth/' }).redirectUri).toBe(
      'https://example.com/auth/auth/callback',
    );
  });
});

describe('default authority', () => {
  it('is the organizations authority of the cloud, in the runtime and in the construct alike', () => {
    expect(DEFAULT_ENTRA_AUTHORITY).toBe('https://login.microsoftonline.com/organizations/v2.0');
    expect(loadConfig(env).entraAuthority.href).toBe(DEFAULT_ENTRA_AUTHORITY);
    for (const cloud of ENTRA_CLOUDS) {
      expect(loadConfig({ ...env, ENTRA_CLOUD: cloud }).entraAuthority.href).toBe(defaultEntraAuthority(cloud));
      expect(defaultEntraAuthority(cloud)).toBe(`https://${CLOUDS[cloud].loginHost}/organizations/v2.0`);
    }
  });
});

describe('bearer credentials', () => {
  it('reads the credential after a case-insensitive Bearer scheme and one space', () => {
    expect(bearerCredential('Bearer abc.def')).toBe('abc.def');
    expect(bearerCredential('bearer abc')).toBe('abc');
    expect(bearerCredential('  BEARER abc  ')).toBe('abc');
  });

  it('reads nothing from other schemes, a missing credential or two of them', () => {
    for (const bad of [undefined, '', 'Basic abc', 'Bearer', 'Bearer ', 'Bearer a b', 'Bearerabc', 'Bearer\tabc']) {
      expect(bearerCredential(bad), String(bad)).toBeUndefined();
    }
  });
});

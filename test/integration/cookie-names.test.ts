import type { AddressInfo } from 'node:net';
import { request, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { createLocalServer } from '../../local/server.ts';
import { randomToken } from '../../shared/crypto/random.ts';
import { CookieJar } from '../support/cookie-jar.ts';
import { UNICODE_WHITESPACE } from '../support/whitespace.ts';

const hex = (ch: string) => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** One GET with `cookie` sent as raw UTF-8 bytes (fetch refuses header values above U+00FF). */
function rawGet(base: string, path: string, cookie: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // node:http writes header strings as latin1: one char per byte, so these are the UTF-8 bytes.
    const req = request(
      `${base}${path}`,
      { headers: { cookie: Buffer.from(cookie, 'utf8').toString('latin1') } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('the local server hands the Cookie header over as API Gateway does', () => {
  let echo: Server;
  let base = '';
  beforeAll(async () => {
    echo = createLocalServer({
      statics: [],
      routes: [
        {
          method: 'GET',
          path: /^\/echo$/,
          name: 'echo',
          timeoutMs: 5_000,
          handler: async (event) => ({ statusCode: 200, body: JSON.stringify(event.cookies ?? null) }),
        },
      ],
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    echo.closeAllConnections();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });

  it('decodes raw UTF-8 bytes as UTF-8 and splits on ";", trimming only spaces', async () => {
    const answer = await rawGet(base, '/echo', 'a=1;\u00a0b=2; c=\u00e9;\tt=1 ;  ;d=\u3000x;\ufeffe=\u{1f600}');
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual([
      'a=1',
      '\u00a0b=2',
      'c=\u00e9',
      '\tt=1',
      'd=\u3000x',
      '\ufeffe=\u{1f600}',
    ]);
  });

  it.each(UNICODE_WHITESPACE.map((ch) => [hex(ch), ch]))('keeps %s at the edge of a cookie pair', async (_name, ch) => {
    const answer = await rawGet(base, '/echo', `${ch}x=1${ch}; y=2`);
    expect(JSON.parse(answer.body)).toEqual([`${ch}x=1${ch}`, 'y=2']);
  });
});

describe('cookie names disguised with Unicode whitespace, through the local server', () => {
  let stack: LocalStack;
  let token = '';
  beforeAll(async () => {
    stack = await startLocalStack({ env: { PORT: '0' } });
    const jar = new CookieJar();
    const login = await jar.fetch(`${stack.url}/auth/login?returnTo=${encodeURIComponent(`${stack.url}/`)}`);
    const authorize = await jar.fetch(login.headers.get('location')!);
    await jar.fetch(authorize.headers.get('location')!);
    token = jar.get('__Host-dyn-session')!;
  });
  afterAll(async () => stack?.stop());

  it('accepts the plain session cookie (the baseline the cases below differ from)', async () => {
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await rawGet(stack.url, '/auth/session', `a=1; __Host-dyn-session=${token}`)).status).toBe(200);
  });

  it.each(UNICODE_WHITESPACE.map((ch) => [hex(ch), ch]))(
    '%s around the name does not make a cookie the session cookie, nor displace the real one',
    async (_name, ch) => {
      // A sibling subdomain's cookie named "<ch>__Host-dyn-session" carrying a session token.
      expect((await rawGet(stack.url, '/auth/session', `${ch}__Host-dyn-session=${token}`)).status).toBe(401);
      expect((await rawGet(stack.url, '/auth/session', `__Host-dyn-session${ch}=${token}`)).status).toBe(401);
      // Sent before the real cookie (a longer Path sorts first), it must not win over it.
      const both = await rawGet(
        stack.url,
        '/auth/session',
        `${ch}__Host-dyn-session=${randomToken()}; __Host-dyn-session=${token}`,
      );
      expect(both.status).toBe(200);
    },
  );

  it('treats a request carrying the session cookie twice as unauthenticated, whatever the order', async () => {
    for (const cookie of [
      `__Host-dyn-session=${token}; __Host-dyn-session=${token}`,
      `__Host-dyn-session=${randomToken()}; __Host-dyn-session=${token}`,
      `__Host-dyn-session=${token}; __Host-dyn-session=${randomToken()}`,
      `__Host-dyn-session=${token}; __Host-dyn-session=`,
    ]) {
      const session = await rawGet(stack.url, '/auth/session', cookie);
      expect(session.status).toBe(401);
      expect(JSON.parse(session.body)).toMatchObject({ error: 'unauthenticated' });
      expect((await rawGet(stack.url, '/api/data/v9.2/WhoAmI', cookie)).status).toBe(401);
    }
  });

  it('fails a callback whose login-binding cookie is sent twice, or only under a disguised name', async () => {
    const attempt = async (cookieFor: (binding: string) => string) => {
      const jar = new CookieJar();
      const login = await jar.fetch(`${stack.url}/auth/login?returnTo=${encodeURIComponent(`${stack.url}/`)}`);
      const binding = jar.get('__Host-dyn-login')!;
      const authorize = await fetch(login.headers.get('location')!, { redirect: 'manual' });
      const callbackPath = new URL(authorize.headers.get('location')!);
      return rawGet(stack.url, `${callbackPath.pathname}${callbackPath.search}`, cookieFor(binding));
    };
    expect((await attempt((b) => `__Host-dyn-login=${b}`)).status).toBe(302);
    for (const cookieFor of [
      (b: string) => `__Host-dyn-login=${b}; __Host-dyn-login=${b}`,
      (b: string) => `__Host-dyn-login=${randomToken()}; __Host-dyn-login=${b}`,
      (b: string) => `__Host-dyn-login=${b}; __Host-dyn-login=${randomToken()}`,
      (b: string) => `\u00a0__Host-dyn-login=${b}`,
      (b: string) => `\u3000__Host-dyn-login=${b}`,
    ]) {
      const callback = await attempt(cookieFor);
      expect(callback.status).toBe(400);
      expect(JSON.parse(callback.body)).toMatchObject({ error: 'invalid_state' });
    }
  });
});

import type { LocalStack } from '../../local/stack.ts';
import { CookieJar } from './cookie-jar.ts';

/** Signs the development IdP's user in through the local server (login → IdP → callback); returns the browser's jar. */
export async function signInOverHttp(stack: LocalStack): Promise<CookieJar> {
  const jar = new CookieJar();
  const login = await jar.fetch(`${stack.url}/auth/login?returnTo=${encodeURIComponent(`${stack.url}/`)}`);
  const authorize = await jar.fetch(login.headers.get('location')!);
  const callback = await jar.fetch(authorize.headers.get('location')!);
  if (callback.status !== 302 || !jar.get('__Host-dyn-session'))
    throw new Error(`sign-in failed: callback answered ${callback.status}`);
  return jar;
}

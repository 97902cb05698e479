import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { signInOverHttp } from '../support/local-session.ts';

let stack: LocalStack;
const env: NodeJS.ProcessEnv = { PORT: '0' };
beforeAll(async () => {
  stack = await startLocalStack({ env });
});
afterAll(async () => stack?.stop());

describe('local stack: several environments and Global Discovery', () => {
  it('starts three environments on distinct origins and the discovery stand-in, and hands their addresses to the service', async () => {
    const environments = stack.environments!;
    expect(environments.map((e) => e.uniqueName)).toEqual(['contoso', 'contoso-sandbox', 'fabrikam']);
    const origins = [...new Set(environments.flatMap((e) => [e.dataverse.url, e.dataverse.apiUrl]))];
    // contoso also has its own Web API origin; the others serve the Web API on their URL.
    expect(origins).toHaveLength(4);
    expect(stack.dataverse).toBe(environments[0]!.dataverse);
    expect(env.DYNAMICS_URL).toBe(environments[0]!.dataverse.url);
    expect(env.DISCOVERY_URL).toBe(stack.discovery!.url);
    expect(env.DATAVERSE_HOSTS!.split(',').sort()).toEqual(origins.map((o) => new URL(o).host).sort());
    for (const origin of [...origins, stack.discovery!.url]) {
      // Each answers (401 without a token): it is listening.
      expect((await fetch(`${origin}/api/data/v9.2/WhoAmI`)).status).toBe(401);
    }
  });

  it('keeps single-environment behaviour: /api/data/… reaches the default environment (contoso)', async () => {
    const others = stack.environments!.slice(1).map((e) => e.dataverse.requests.length);
    const jar = await signInOverHttp(stack);
    const answer = await jar.fetch(`${stack.url}/api/data/v9.2/accounts?$select=name`);
    expect(answer.status).toBe(200);
    const names = ((await answer.json()) as { value: { name: string }[] }).value.map((a) => a.name).sort();
    expect(names).toEqual(['Adventure Works', 'Contoso Ltd', 'Fabrikam Inc']);
    expect(stack.environments![0]!.dataverse.requests.some((r) => r.path === '/api/data/v9.2/accounts')).toBe(true);
    expect(stack.environments!.slice(1).map((e) => e.dataverse.requests.length)).toEqual(others);
  });
});

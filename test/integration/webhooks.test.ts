import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { generateApiKey } from '../../shared/auth/api-keys.ts';
import { getServices } from '../../shared/runtime.ts';
import { createDynamoClient } from '../../shared/stores/dynamodb.ts';
import { webhookEndpointsItemId } from '../../shared/webhooks/endpoint-store.ts';
import { signingSecrets } from '../../shared/webhooks/endpoints.ts';
import { expectMatchesOpenApi } from '../support/openapi.ts';

let stack: LocalStack;
beforeAll(async () => {
  stack = await startLocalStack({ env: { PORT: '0', WEBHOOK_MAX_ENDPOINTS_PER_KEY: '3' } });
});
afterAll(async () => stack?.stop());

/** A backend's API key, stored as `admin keys create` stores it (the local server runs in this process). */
async function createKey(name: string): Promise<{ key: string; keyId: string }> {
  const { key, record } = generateApiKey(name, Date.now());
  await getServices().apiKeys.create(record);
  return { key, keyId: record.keyId };
}

async function call(key: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, headers: Object.fromEntries(response.headers), json: () => JSON.parse(text) };
}

const SECRET = /^whsec_[A-Za-z0-9+/]{43}=$/;

describe('webhook endpoint registration', () => {
  let alpha: { key: string; keyId: string };
  let beta: { key: string; keyId: string };
  beforeAll(async () => {
    alpha = await createKey('alpha backend');
    beta = await createKey('beta backend');
  });

  it('registers an endpoint: the id and the whsec_ secret once; the list never shows a secret', async () => {
    const created = await call(alpha.key, 'POST', '/webhooks', { url: 'https://hooks.example.com/dynamics' });
    expect(created.status, created.text).toBe(201);
    const body = expectMatchesOpenApi('POST', '/webhooks', 201, {
      headers: created.headers,
      body: created.text,
    }) as Record<string, string>;
    expect(created.headers['cache-control']).toContain('no-store');
    expect(body.secret).toMatch(SECRET);
    expect(body).toMatchObject({ url: 'https://hooks.example.com/dynamics', previousSecretExpiresAt: null });

    const listed = await call(alpha.key, 'GET', '/webhooks');
    expect(listed.status).toBe(200);
    expectMatchesOpenApi('GET', '/webhooks', 200, { headers: listed.headers, body: listed.text });
    expect(listed.json().webhooks).toEqual([
      { id: body.id, url: body.url, createdAt: body.createdAt, previousSecretExpiresAt: null },
    ]);
    expect(listed.text).not.toContain('whsec_');
    expect(listed.text).not.toContain(body.secret!.slice(6, 20));

    // Stored sealed (never in plain text), and what delivery opens is the secret shown once.
    const item = await createDynamoClient({ endpoint: stack.dynamodbEndpoint }).send(
      new GetItemCommand({
        TableName: getServices().config.apiKeysTable,
        Key: { id: { S: webhookEndpointsItemId(alpha.keyId) } },
      }),
    );
    expect(JSON.stringify(item.Item)).not.toContain(body.secret!.slice(6, 20));
    const endpoint = (await getServices().webhookEndpoints.get(alpha.keyId, body.id!))!;
    expect(await signingSecrets(endpoint, { keys: getServices().keys() }, Math.floor(Date.now() / 1000))).toEqual([
      body.secret,
    ]);
  });

  it('API key listing still lists only keys (the endpoints item shares the table)', async () => {
    const names = (await getServices().apiKeys.list()).map((k) => k.name);
    expect(names).toEqual(expect.arrayContaining(['alpha backend', 'beta backend']));
    expect(names.every((n) => typeof n === 'string')).toBe(true);
  });

  it('a key sees, rotates and deletes only its own endpoints', async () => {
    const [mine] = (await call(alpha.key, 'GET', '/webhooks')).json().webhooks as { id: string }[];
    expect((await call(beta.key, 'GET', '/webhooks')).json()).toEqual({ webhooks: [] });
    const rotate = await call(beta.key, 'POST', `/webhooks/${mine!.id}/rotate-secret`);
    expect(rotate.status).toBe(404);
    expectMatchesOpenApi('POST', `/webhooks/${mine!.id}/rotate-secret`, 404, {
      headers: rotate.headers,
      body: rotate.text,
    });
    const del = await call(beta.key, 'DELETE', `/webhooks/${mine!.id}`);
    expect(del.status).toBe(404);
    expect(JSON.parse(del.text).error).toBe('webhook_not_found');
    expect((await call(alpha.key, 'GET', '/webhooks')).json().webhooks).toHaveLength(1);
  });

  it('rotates: a new secret shown once; both sign for the overlap window (24 h by default)', async () => {
    const [mine] = (await call(alpha.key, 'GET', '/webhooks')).json().webhooks as { id: string }[];
    const before = await getServices().webhookEndpoints.get(alpha.keyId, mine!.id);
    const nowSec = Math.floor(Date.now() / 1000);
    const [oldSecret] = await signingSecrets(before!, { keys: getServices().keys() }, nowSec);

    const rotated = await call(alpha.key, 'POST', `/webhooks/${mine!.id}/rotate-secret`);
    expect(rotated.status, rotated.text).toBe(200);
    const body = expectMatchesOpenApi('POST', `/webhooks/${mine!.id}/rotate-secret`, 200, {
      headers: rotated.headers,
      body: rotated.text,
    }) as Record<string, string>;
    expect(body.secret).toMatch(SECRET);
    expect(body.secret).not.toBe(oldSecret);
    const overlapEnds = Date.parse(body.previousSecretExpiresAt!) / 1000;
    expect(overlapEnds - nowSec).toBeGreaterThanOrEqual(24 * 3600 - 5);
    expect(overlapEnds - nowSec).toBeLessThanOrEqual(24 * 3600 + 5);

    const after = (await getServices().webhookEndpoints.get(alpha.keyId, mine!.id))!;
    const keys = getServices().keys();
    expect(await signingSecrets(after, { keys }, nowSec + 60)).toEqual([body.secret, oldSecret]);
    expect(await signingSecrets(after, { keys }, overlapEnds)).toEqual([body.secret]);
  });

  it.each([
    ['no body', undefined, 'invalid_request'],
    ['not JSON', '{"url":', 'invalid_request'],
    ['no url', {}, 'invalid_webhook'],
    ['http', { url: 'http://hooks.example.com/in' }, 'invalid_webhook'],
    ['credentials', { url: 'https://user:pw@hooks.example.com/in' }, 'invalid_webhook'],
    ['a fragment', { url: 'https://hooks.example.com/in#x' }, 'invalid_webhook'],
    ['a private IP literal', { url: 'https://10.0.0.1/in' }, 'invalid_webhook'],
    ['the metadata address', { url: 'https://169.254.169.254/latest' }, 'invalid_webhook'],
    ['an IPv4-mapped loopback literal', { url: 'https://[::ffff:127.0.0.1]/in' }, 'invalid_webhook'],
    ['localhost', { url: 'https://localhost/in' }, 'invalid_webhook'],
    ['not a URL', { url: 'hooks' }, 'invalid_webhook'],
    ['a too long URL', { url: `https://hooks.example.com/${'a'.repeat(2100)}` }, 'invalid_webhook'],
    ['unknown members', { url: 'https://hooks.example.com/in', events: ['all'] }, 'invalid_webhook'],
  ])('refuses %s with a 400 JSON error and stores nothing', async (_what, body, code) => {
    const response = await call(beta.key, 'POST', '/webhooks', body);
    expect(response.status, response.text).toBe(400);
    expect(response.json().error).toBe(code);
    expectMatchesOpenApi('POST', '/webhooks', 400, { headers: response.headers, body: response.text });
    expect((await call(beta.key, 'GET', '/webhooks')).json().webhooks).toEqual([]);
  });

  it('caps the endpoints per key (WEBHOOK_MAX_ENDPOINTS_PER_KEY) with 409', async () => {
    for (let i = 0; i < 3; i += 1) {
      expect((await call(beta.key, 'POST', '/webhooks', { url: `https://hooks.example.com/${i}` })).status).toBe(201);
    }
    const refused = await call(beta.key, 'POST', '/webhooks', { url: 'https://hooks.example.com/3' });
    expect(refused.status).toBe(409);
    expect(refused.json().error).toBe('too_many_webhooks');
    expectMatchesOpenApi('POST', '/webhooks', 409, { headers: refused.headers, body: refused.text });
    expect((await call(beta.key, 'GET', '/webhooks')).json().webhooks).toHaveLength(3);
  });

  it('concurrent registrations lose none and never pass the cap', async () => {
    const gamma = await createKey('gamma backend');
    const answers = await Promise.all(
      [0, 1, 2, 3].map((i) => call(gamma.key, 'POST', '/webhooks', { url: `https://hooks.example.com/c${i}` })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([201, 201, 201, 409]);
    const listed = (await call(gamma.key, 'GET', '/webhooks')).json().webhooks as { id: string }[];
    expect(listed.map((w) => w.id).sort()).toEqual(
      answers
        .filter((a) => a.status === 201)
        .map((a) => a.json().id)
        .sort(),
    );
  });

  it('deletes: 204, then gone (404 on a second delete); a malformed id is not found', async () => {
    const [first] = (await call(beta.key, 'GET', '/webhooks')).json().webhooks as { id: string }[];
    const deleted = await call(beta.key, 'DELETE', `/webhooks/${first!.id}`);
    expect(deleted.status).toBe(204);
    expect((await call(beta.key, 'GET', '/webhooks')).json().webhooks.map((w: { id: string }) => w.id)).not.toContain(
      first!.id,
    );
    expect((await call(beta.key, 'DELETE', `/webhooks/${first!.id}`)).status).toBe(404);
    expect((await call(beta.key, 'DELETE', '/webhooks/not-an-id')).status).toBe(404);
  });

  it('needs a valid API key', async () => {
    for (const [method, path] of [
      ['GET', '/webhooks'],
      ['POST', '/webhooks'],
      ['DELETE', '/webhooks/whep_AAAAAAAAAAAAAAAAAAAAAA'],
    ]) {
      const response = await call(
        'dak_nope',
        method!,
        path!,
        method === 'POST' ? { url: 'https://hooks.example.com/x' } : undefined,
      );
      expect(response.status).toBe(401);
      expect(response.json().error).toBe('invalid_api_key');
    }
  });
});

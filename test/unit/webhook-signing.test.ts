import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { webhookEventId, webhookPayload, type WebhookEvent } from '../../shared/webhooks/events.ts';
import { generateWebhookSecret } from '../../shared/webhooks/secrets.ts';
import { signatureHeaders } from '../../shared/webhooks/signature.ts';

const nowSec = () => Math.floor(Date.now() / 1000);
const event: WebhookEvent = {
  id: webhookEventId('row-1', 3, 'connection.failed'),
  type: 'connection.failed',
  timestamp: 1_790_000_000,
  ownerKeyId: 'abcdefghijkl',
  data: {
    connectionId: 'customer-42',
    state: 'failed',
    reason: 'invalid_grant',
    environment: 'https://contoso.crm.dynamics.com',
    version: 3,
  },
};

describe('Standard Webhooks signing (verified with the specification library)', () => {
  it('a secret is whsec_ + base64 of 32 random bytes, different each time', () => {
    const a = generateWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(a.slice(6), 'base64')).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(a);
  });

  it('one secret: Webhook#verify accepts the body and headers and returns the payload', () => {
    const secret = generateWebhookSecret();
    const body = webhookPayload(event);
    const headers = signatureHeaders([secret], event.id, nowSec(), body);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it('two secrets during a rotation: space-separated signatures, each secret verifies on its own', () => {
    const current = generateWebhookSecret();
    const previous = generateWebhookSecret();
    const body = webhookPayload(event);
    const headers = signatureHeaders([current, previous], event.id, nowSec(), body);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(current).verify(body, { ...headers })).toEqual(JSON.parse(body));
    expect(new Webhook(previous).verify(body, { ...headers })).toEqual(JSON.parse(body));
    expect(() => new Webhook(generateWebhookSecret()).verify(body, { ...headers })).toThrow(WebhookVerificationError);
  });

  it('fails for a wrong secret, an altered body, another id and an old timestamp', () => {
    const secret = generateWebhookSecret();
    const body = webhookPayload(event);
    const headers = signatureHeaders([secret], event.id, nowSec(), body);
    expect(() => new Webhook(generateWebhookSecret()).verify(body, { ...headers })).toThrow(WebhookVerificationError);
    expect(() => new Webhook(secret).verify(body.replace('customer-42', 'customer-43'), { ...headers })).toThrow(
      WebhookVerificationError,
    );
    expect(() => new Webhook(secret).verify(body, { ...headers, 'webhook-id': 'evt_other' })).toThrow(
      WebhookVerificationError,
    );
    // The library refuses timestamps more than 5 minutes off (replay protection).
    const old = signatureHeaders([secret], event.id, nowSec() - 10 * 60, body);
    expect(() => new Webhook(secret).verify(body, { ...old })).toThrow(/timestamp/i);
  });

  it('refuses to sign with no secret at all', () => {
    expect(() => signatureHeaders([], event.id, nowSec(), '{}')).toThrow();
  });
});

describe('webhook payload', () => {
  it('carries ids and state in Standard Webhooks shape, never anything else', () => {
    const withExtras = {
      ...event,
      data: { ...event.data, accessToken: 'eyJ.secret', refreshToken: 'rt' },
    } as WebhookEvent;
    const body = JSON.parse(webhookPayload(withExtras));
    expect(body).toEqual({
      id: event.id,
      type: 'connection.failed',
      timestamp: '2026-09-21T14:13:20.000Z',
      data: {
        connectionId: 'customer-42',
        state: 'failed',
        reason: 'invalid_grant',
        environment: 'https://contoso.crm.dynamics.com',
        version: 3,
      },
    });
    expect(webhookPayload(withExtras)).not.toMatch(/secret|"rt"|ownerKeyId/);
  });

  it('event ids are stable per connection row, version and type', () => {
    expect(webhookEventId('row-1', 3, 'connection.failed')).toBe(event.id);
    expect(webhookEventId('row-1', 4, 'connection.failed')).not.toBe(event.id);
    expect(webhookEventId('row-2', 3, 'connection.failed')).not.toBe(event.id);
    expect(event.id).toMatch(/^evt_[A-Za-z0-9_-]{32}$/);
  });
});

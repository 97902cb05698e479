import { createHmac } from 'node:crypto';

/** The three Standard Webhooks headers for one delivery attempt. */
export interface SignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

const SECRET_PREFIX = 'whsec_';

/** `v1,<base64 HMAC-SHA256>` over `${id}.${timestamp}.${body}` with the secret's decoded bytes (Standard Webhooks, "Signature scheme"). */
export function signPayload(secret: string, id: string, timestampSec: number, body: string): string {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`).digest('base64')}`;
}

/** Signs with every secret valid now (two during a rotation), space-separated, so either verifies. */
export function signatureHeaders(
  secrets: readonly string[],
  id: string,
  timestampSec: number,
  body: string,
): SignatureHeaders {
  if (secrets.length === 0) throw new Error('A webhook needs at least one signing secret');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSec),
    'webhook-signature': secrets.map((secret) => signPayload(secret, id, timestampSec, body)).join(' '),
  };
}

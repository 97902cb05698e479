/**
 * Refuses requests that bypass the CloudFront distribution (and its AWS WAF rate-based rules) in
 * front of the API: CloudFront adds a secret header to every request it forwards (an origin custom
 * header), and every handler compares it with the value in Secrets Manager before doing anything.
 */
import { ServiceError } from '../errors/service-error.ts';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { originVerifySecretId } from '../config/config.ts';
import { secretsManagerReader } from '../config/secrets.ts';
import { serviceUnavailable } from './errors.ts';
import { headersOf } from './event.ts';

/** The origin custom header CloudFront adds (API Gateway hands header names to Lambda in lower case). */
export const ORIGIN_VERIFY_HEADER = 'x-origin-verify';

/** A changed secret is re-read after a mismatch, at most this often (rotation without a redeploy). */
export const ORIGIN_SECRET_REREAD_MS = 60_000;

export const originNotVerified = () =>
  new ServiceError('origin_not_verified', 'Requests must come through the service’s CloudFront distribution.');

/** Constant-time comparison: both sides are hashed first, so neither their content nor length leaks. */
export function originHeaderMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined || expected === '') return false;
  const digest = (v: string) => createHash('sha256').update(v, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

export interface OriginSecretSource {
  read: () => Promise<string>;
  forget: () => void;
}

/**
 * The check for one process: `undefined` when no origin secret is configured (no check, no cost).
 * After a mismatch the secret is re-read (at most once per ORIGIN_SECRET_REREAD_MS), so a rotated
 * value is picked up without waiting for instances to recycle.
 */
export function originVerifier(source: OriginSecretSource | undefined, now: () => number = Date.now) {
  if (!source) return undefined;
  let lastReadMs = now();
  const expected = async () => {
    try {
      return await source.read();
    } catch (err) {
      throw serviceUnavailable('The service could not read its origin secret; retry shortly.', err);
    }
  };
  return async (event: APIGatewayProxyEventV2): Promise<void> => {
    const presented = headersOf(event)[ORIGIN_VERIFY_HEADER];
    if (originHeaderMatches(presented, await expected())) return;
    if (presented !== undefined && now() - lastReadMs >= ORIGIN_SECRET_REREAD_MS) {
      source.forget();
      lastReadMs = now();
      if (originHeaderMatches(presented, await expected())) return;
    }
    throw originNotVerified();
  };
}

/** The process-wide check, from ORIGIN_VERIFY_SECRET_ID (set by the construct's `originVerifySecret`). */
export function originVerifierFromEnvironment(env: Record<string, string | undefined> = process.env) {
  const secretId = originVerifySecretId(env);
  return originVerifier(secretId ? secretsManagerReader(secretId) : undefined);
}

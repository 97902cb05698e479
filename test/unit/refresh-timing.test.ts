import { describe, expect, it } from 'vitest';
import { refreshAheadMs, refreshDue } from '../../shared/auth/resource-tokens.ts';

const config = { refreshSkewSeconds: 120 };
const sealed = new Uint8Array([1]);

describe('refresh-ahead rule: the smaller of REFRESH_SKEW_SECONDS and a quarter of the token lifetime', () => {
  it.each([
    [3600, 120_000],
    [600, 120_000],
    [480, 120_000],
    [300, 75_000],
    [120, 30_000],
    [60, 15_000],
  ])('a %i s token is refreshed %i ms ahead', (lifetimeSeconds, aheadMs) => {
    expect(refreshAheadMs({ lifetimeSeconds }, config)).toBe(aheadMs);
  });

  it('keeps the skew alone for tokens stored without a lifetime', () => {
    expect(refreshAheadMs({}, config)).toBe(120_000);
    expect(refreshAheadMs({ lifetimeSeconds: 0 }, config)).toBe(120_000);
  });

  it('a skew of 0 means refresh only at expiry, whatever the lifetime', () => {
    expect(refreshAheadMs({ lifetimeSeconds: 120 }, { refreshSkewSeconds: 0 })).toBe(0);
  });

  it('is due when the token is missing, or expires within the margin', () => {
    const now = 1_000_000;
    expect(refreshDue(undefined, now, config)).toBe(true);
    expect(refreshDue({ expiresAt: now + 100_000 }, now, config)).toBe(true);
    expect(refreshDue({ sealed, expiresAt: now + 31_000, lifetimeSeconds: 120 }, now, config)).toBe(false);
    expect(refreshDue({ sealed, expiresAt: now + 30_000, lifetimeSeconds: 120 }, now, config)).toBe(true);
    expect(refreshDue({ sealed, expiresAt: now + 100_000 }, now, config)).toBe(true);
  });
});

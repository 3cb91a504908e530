import { describe, expect, it } from 'vitest';
import { entitlementsOf, tierForBalance, formatAiDollars, parseAiDollars, type TierSpec } from '../src/index.js';

const tier = (name: string, minBalance: number, models: string[], rpm: number, price = 0): TierSpec => ({
  name,
  minBalance,
  models,
  requestsPerMinute: rpm,
  tokensPerHour: rpm * 1000,
  concurrentCalls: 1,
  concurrentToolRuns: 1,
  pricePerHour: price,
});
// Deliberately out of order: the functions must not rely on config order.
const TIERS = [tier('tier2', 10_000, ['small', 'large'], 120, 500), tier('tier0', 0, ['small'], 6), tier('tier1', 1_000, ['small', 'medium'], 30, 100)];
const now = new Date('2026-05-01T12:00:00Z');

describe('compute tiers', () => {
  it('maps a balance to the highest tier it reaches', () => {
    expect([-5, 0, 999, 1_000, 9_999, 10_000, 1e9].map((b) => tierForBalance(b, TIERS).name)).toEqual(['tier0', 'tier0', 'tier0', 'tier1', 'tier1', 'tier2', 'tier2']);
  });

  it('gives the better of the earned tier and an active purchase, and ignores expired ones', () => {
    const e = (grants: { tier: string; until: string }[], balance = 0) => entitlementsOf({ agent: 'a', balance, frozen: false, grants, tiers: TIERS, now });
    expect(e([])).toMatchObject({ tier: 'tier0', basis: 'balance', until: null, limits: { models: ['small'], requestsPerMinute: 6 } });
    expect(e([{ tier: 'tier1', until: '2026-05-01T13:00:00.000Z' }])).toMatchObject({ tier: 'tier1', basis: 'purchase', until: '2026-05-01T13:00:00.000Z' });
    expect(e([{ tier: 'tier2', until: '2026-05-01T11:59:59.000Z' }])).toMatchObject({ tier: 'tier0', basis: 'balance' });
    expect(e([{ tier: 'tier1', until: '2026-05-01T13:00:00.000Z' }], 20_000)).toMatchObject({ tier: 'tier2', basis: 'balance' });
    expect(e([{ tier: 'gone', until: '2026-06-01T00:00:00.000Z' }])).toMatchObject({ tier: 'tier0' });
    expect(e([{ tier: 'tier1', until: '2026-05-01T13:00:00.000Z' }, { tier: 'tier1', until: '2026-05-01T15:00:00.000Z' }]).until).toBe('2026-05-01T15:00:00.000Z');
  });

  it('frozen compute is tier none with no models and zero limits, whatever the balance or purchases', () => {
    const e = entitlementsOf({ agent: 'a', balance: 1e6, frozen: true, grants: [{ tier: 'tier2', until: '2027-01-01T00:00:00Z' }], tiers: TIERS, now });
    expect(e).toMatchObject({ tier: 'none', basis: 'frozen', frozen: true, limits: { models: [], requestsPerMinute: 0, tokensPerHour: 0, concurrentCalls: 0, concurrentToolRuns: 0 } });
  });
});

describe('aiDollar amounts', () => {
  it('formats and parses cents exactly', () => {
    expect([0, 5, 100, 1234, -5, -1234].map(formatAiDollars)).toEqual(['0.00', '0.05', '1.00', '12.34', '-0.05', '-12.34']);
    expect(['12', '12.5', '0.07', '0.1', ' 3 '].map(parseAiDollars)).toEqual([1200, 1250, 7, 10, 300]);
    for (const bad of ['', '-1', '1.234', '1e3', 'abc', '1,5', '.5']) expect(parseAiDollars(bad), bad).toBeNull();
  });
});

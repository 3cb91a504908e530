import * as z from 'zod';

/**
 * Compute tiers (seed 2 §9 v1) as the API answers them: a balance maps to a tier, a tier to
 * entitlements. Money is integer cents.
 */
export const TierSpec = z.object({
  name: z.string(),
  /** The lowest balance (cents) that earns this tier by balance alone. */
  minBalance: z.number().int(),
  /** Model aliases the gateway lets this tier call. */
  models: z.array(z.string()).readonly(),
  requestsPerMinute: z.number().int(),
  tokensPerHour: z.number().int(),
  concurrentCalls: z.number().int(),
  concurrentToolRuns: z.number().int(),
  /** Price (cents) of one hour of this tier bought with `purchase_compute`; 0 = not for sale. */
  pricePerHour: z.number().int(),
});
export type TierSpec = z.infer<typeof TierSpec>;

/** What a tier entitles to, as the gateway enforces it. */
export const Limits = TierSpec.pick({ requestsPerMinute: true, tokensPerHour: true, concurrentCalls: true, concurrentToolRuns: true }).extend({ models: z.array(z.string()) });
export type Limits = z.infer<typeof Limits>;

export const Entitlements = z.object({
  agent: z.string(),
  /** The tier in force, or `none` when compute is frozen. */
  tier: z.string(),
  /** Why this tier: earned by balance, bought for a period, or frozen by an admin. */
  basis: z.enum(['balance', 'purchase', 'frozen']),
  balance: z.number().int(),
  frozen: z.boolean(),
  /** End of the purchased period in force, when basis is `purchase`. */
  until: z.string().nullable(),
  limits: Limits,
});
export type Entitlements = z.infer<typeof Entitlements>;

/** `GET /v1/economy/tiers`. */
export const TierList = z.object({ unit: z.string(), tiers: z.array(TierSpec) });
export type TierList = z.infer<typeof TierList>;

/** `GET /v1/economy/balance/{agent}`. */
export const BalanceView = z.object({ agent: z.string(), balance: z.number().int(), aiDollars: z.string(), entitlements: Entitlements });
export type BalanceView = z.infer<typeof BalanceView>;

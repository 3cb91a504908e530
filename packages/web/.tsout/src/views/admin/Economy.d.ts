/** Tiers, an agent's ledger and balance, and crediting a deposit (idempotent on the payment id). */
export declare function EconomyAdmin(): import("react").JSX.Element;

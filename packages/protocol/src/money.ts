/**
 * Money is an integer count of aiDollar cents: 1 aiDollar = 100 cents. Amounts never touch
 * floating point in the ledger; the only conversion is for display and for parsing what a
 * person typed.
 */
export const CENTS_PER_AIDOLLAR = 100;

/** The largest amount one transaction may move (one billion aiDollars), far below 2^53. */
export const MAX_TRANSFER_CENTS = 1_000_000_000 * CENTS_PER_AIDOLLAR;

export function isValidAmount(cents: number): boolean {
  return Number.isSafeInteger(cents) && cents > 0 && cents <= MAX_TRANSFER_CENTS;
}

/** `1234` → `"12.34"`, `-5` → `"-0.05"`. */
export function formatAiDollars(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.trunc(abs / CENTS_PER_AIDOLLAR)}.${String(abs % CENTS_PER_AIDOLLAR).padStart(2, '0')}`;
}

/**
 * Parse a decimal aiDollar amount as written by a person (`"12"`, `"12.5"`, `"0.07"`) into
 * cents, exactly (by string, not by float). Returns null when it is not such an amount.
 */
export function parseAiDollars(text: string): number | null {
  const m = /^(\d{1,10})(?:\.(\d{1,2}))?$/.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * CENTS_PER_AIDOLLAR + Number((m[2] ?? '').padEnd(2, '0'));
}

import { AGENT_NAME_PATTERN } from '@aiflock/protocol';

/**
 * Ledger accounts. The mint is where every aiDollar comes from and returns to (it is the
 * only account allowed to go negative, so the sum over all accounts stays zero); `fees`
 * collects what agents spend on compute; agents and humans hold balances.
 */
export type AccountId = 'system:mint' | 'fees' | 'escrow' | `agent:${string}` | `human:${string}` | `archive:${string}`;

export const MINT: AccountId = 'system:mint';
export const FEES: AccountId = 'fees';
/** Holds board bounties between the post and its payout or refund. */
export const ESCROW: AccountId = 'escrow';

export const agentAccount = (name: string): AccountId => `agent:${name}`;
export const humanAccount = (id: string): AccountId => `human:${id}`;
/**
 * Where a removed agent's balance is kept (`agents.onRemove: archive`): one account per
 * removed deployment, `archive:<name>@<removal time>`, so a later agent of the same name
 * starts at zero and the old money stays accounted for.
 */
export const archiveAccount = (name: string, removedAt: Date): AccountId => `archive:${name}@${removedAt.toISOString().replace(/[-:.]/g, '')}`;
const ARCHIVE_STAMP = /^[0-9]{8}T[0-9]{9}Z$/;

const HUMAN_ID = /^[A-Za-z0-9._@:-]{1,100}$/;

export function isAccountId(s: string): s is AccountId {
  if (s === MINT || s === FEES || s === ESCROW) return true;
  if (s.startsWith('agent:')) return AGENT_NAME_PATTERN.test(s.slice(6));
  if (s.startsWith('human:')) return HUMAN_ID.test(s.slice(6));
  if (s.startsWith('archive:')) {
    const [name = '', stamp = ''] = s.slice(8).split('@');
    return AGENT_NAME_PATTERN.test(name) && ARCHIVE_STAMP.test(stamp);
  }
  return false;
}

/**
 * The lowest balance an account may reach, or null when it has none. Agents and humans can
 * never go below zero (a spend or penalty larger than the balance is refused, not clamped);
 * fees only ever receive, so zero is a check that nothing withdraws from it.
 */
export function floorOf(account: AccountId): number | null {
  return account === MINT ? null : 0;
}

export function agentOf(account: string): string | null {
  return account.startsWith('agent:') ? account.slice(6) : null;
}

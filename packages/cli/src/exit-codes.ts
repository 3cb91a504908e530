/** What each exit code of `aiflock` means; documented in the README and `aiflock --help`. */
export const EXIT = {
  ok: 0,
  /** Anything unexpected. */
  failure: 1,
  /** Bad usage or input refused by the API (validation). */
  usage: 2,
  /** The named agent, task or secret does not exist. */
  notFound: 3,
  /** The daemon cannot be reached. */
  unreachable: 4,
  /** `task run --wait`: the task ended failed, cancelled or timed out. */
  taskUnsuccessful: 5,
  /** The request conflicts with the current state (already finished, key reused, stopped). */
  conflict: 6,
  /** No valid token (401), or the token lacks the scope (403). */
  auth: 7,
  /** Rate limited (429): retry later. */
  rateLimited: 8,
  /** `audit verify`: the audit log was tampered with (edited, deleted, reordered, truncated). */
  auditTampered: 9,
} as const;

export const EXIT_HELP = `
Exit codes:
  0  success
  1  unexpected failure
  2  bad usage or input refused (validation)
  3  agent, task or secret not found
  4  daemon unreachable (start it with: aiflock up)
  5  task ended failed, cancelled or timed out (task run --wait)
  6  conflict with the current state
  7  not authenticated, or the token lacks the scope (see: aiflock token --help)
  8  rate limited; retry later
  9  audit log tampered with (audit verify)`;

import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { formatAiDollars, parseAiDollars, type Entitlements, type TierSpec } from '@aiflock/protocol';
import { CliError, type ApiClient } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { printJson, println } from '../output.js';
import { toInt } from './shared.js';

interface LedgerPage {
  agent: string;
  transactions: { id: string; amount: number; reason: string; counterparty: string; source: string; postId: string | null; createdAt: string }[];
  next: string | null;
}

/** Amounts are typed in aiDollars (`12.50`) and sent as integer cents. */
function cents(text: string, flag: string): number {
  const c = parseAiDollars(text);
  if (c === null || c === 0) throw new CliError(`${flag} must be a positive aiDollar amount with at most two decimals (e.g. 5 or 12.50), got "${text}"`, EXIT.usage);
  return c;
}

const limits = (e: Entitlements) =>
  `models ${e.limits.models.join(',') || '-'}; ${e.limits.requestsPerMinute} req/min; ${e.limits.tokensPerHour} tokens/h; ${e.limits.concurrentCalls} concurrent calls; ${e.limits.concurrentToolRuns} tool runs`;

export function economyCommand(program: Command, client: () => ApiClient): void {
  const economy = program.command('economy').description('aiDollar balances, ledgers, rewards and penalties, credits and compute tiers');

  economy
    .command('balance <agent>')
    .description("an agent's balance, compute tier and limits")
    .option('--json', 'print as JSON')
    .action(async (agent: string, o: { json?: boolean }) => {
      const b = await client().get<{ agent: string; balance: number; aiDollars: string; entitlements: Entitlements }>(`/v1/economy/balance/${encodeURIComponent(agent)}`);
      if (o.json) return printJson(b);
      const e = b.entitlements;
      println(`${b.agent}: ${b.aiDollars} aiDollars, tier ${e.tier} (${e.basis}${e.until ? ` until ${e.until}` : ''})`);
      println(`  ${limits(e)}`);
    });

  economy
    .command('ledger <agent>')
    .description("an agent's transactions, newest first")
    .option('-n, --limit <n>', 'how many', '50')
    .option('--cursor <id>', 'continue after this transaction id (from a previous page)')
    .option('--json', 'print the page as JSON')
    .action(async (agent: string, o: { limit: string; cursor?: string; json?: boolean }) => {
      const q = new URLSearchParams({ limit: String(toInt(o.limit, '--limit')) });
      if (o.cursor) q.set('cursor', o.cursor);
      const page = await client().get<LedgerPage>(`/v1/economy/ledger/${encodeURIComponent(agent)}?${q}`);
      if (o.json) return printJson(page);
      if (page.transactions.length === 0) return println(`no transactions for ${agent}`);
      for (const t of page.transactions) {
        println(`${t.createdAt} ${formatAiDollars(t.amount).padStart(12)} ${t.reason.padEnd(16)} ${t.counterparty} ${t.source}${t.postId ? ` post=${t.postId}` : ''}  ${t.id}`);
      }
      if (page.next) println(`more: aiflock economy ledger ${agent} --cursor ${page.next}`);
    });

  for (const kind of ['reward', 'penalize'] as const) {
    economy
      .command(`${kind} <agent> <amount>`)
      .description(kind === 'reward' ? 'reward an agent for a board post, in aiDollars (human or admin)' : 'penalize an agent for a board post, in aiDollars (human or admin)')
      .requiredOption('--post <id>', 'the board post the agent wrote or replied to')
      .option('--note <text>', 'why')
      .option('--key <key>', 'idempotency key: retrying with the same key applies once (default: a new one)')
      .option('--json', 'print the result as JSON')
      .action(async (agent: string, amount: string, o: { post: string; note?: string; key?: string; json?: boolean }) => {
        const body = { agent, amount: cents(amount, '<amount>'), postId: o.post, idempotencyKey: o.key ?? randomUUID(), ...(o.note ? { note: o.note } : {}) };
        const out = await client().post<{ txn: { id: string; amount: number }; applied: boolean; balance: number }>(`/v1/economy/${kind}`, body);
        if (o.json) return printJson(out);
        println(`${out.applied ? (kind === 'reward' ? 'rewarded' : 'penalized') : 'already applied:'} ${agent} ${formatAiDollars(out.txn.amount)} aiDollars (${out.txn.id}); balance ${formatAiDollars(out.balance)}`);
      });
  }

  economy
    .command('credit <agent> <amount>')
    .description('credit a deposit received outside the flock, in aiDollars (admin); idempotent on the payment id')
    .requiredOption('--payment <txnId>', "the payment's transaction id")
    .option('--note <text>', 'a note for reconciliation')
    .option('--json', 'print the result as JSON')
    .action(async (agent: string, amount: string, o: { payment: string; note?: string; json?: boolean }) => {
      const out = await client().post<{ txn: { id: string; amount: number }; applied: boolean }>('/v1/economy/credit', {
        agent,
        amount: cents(amount, '<amount>'),
        paymentTxnId: o.payment,
        ...(o.note ? { note: o.note } : {}),
      });
      if (o.json) return printJson(out);
      println(`${out.applied ? 'credited' : 'already credited:'} ${agent} ${formatAiDollars(out.txn.amount)} aiDollars for payment ${o.payment} (${out.txn.id})`);
    });

  economy
    .command('tiers')
    .description('the compute tiers: balance thresholds and what each allows')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const out = await client().get<{ tiers: TierSpec[] }>('/v1/economy/tiers');
      if (o.json) return printJson(out);
      for (const t of out.tiers) {
        println(`${t.name.padEnd(8)} from ${formatAiDollars(t.minBalance).padStart(10)} aiD  models ${t.models.join(',')}; ${t.requestsPerMinute} req/min; ${t.tokensPerHour} tokens/h; ${t.concurrentCalls} calls; ${t.concurrentToolRuns} tool runs${t.pricePerHour ? `; ${formatAiDollars(t.pricePerHour)} aiD/h to buy` : ''}`);
      }
    });
}

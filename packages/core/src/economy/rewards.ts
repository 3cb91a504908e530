import { FlockError } from '../errors.js';
import type { BoardStore } from '../ports/board.js';
import type { Clock } from '../ports/clock.js';
import type { LedgerCap, LedgerTxn } from '../ports/ledger.js';
import { agentAccount, MINT } from './accounts.js';
import type { Ledger } from './ledger.js';
import { formatAiDollars } from './money.js';

export interface RewardLimits {
  /** Largest single reward or penalty, cents. */
  maxAmount: number;
  /** What one person may give (rewards plus penalties) per UTC day, cents. */
  perPersonDaily: number;
  /** Total rewards one post may receive, cents. */
  perPostCap: number;
}

export interface RewardInput {
  kind: 'reward' | 'penalty';
  /** The acting person (actorOf the request). */
  person: string;
  agent: string;
  amount: number;
  postId: string;
  note?: string | undefined;
  idempotencyKey?: string | undefined;
  requestId?: string | undefined;
}

/**
 * Rewards and penalties from people, tied to a board post the agent wrote or replied on.
 * Anti-gaming rules: nobody rewards themselves or an agent they own, per-person daily
 * limits, a cap per post.
 */
export class RewardService {
  constructor(
    private readonly deps: {
      ledger: Ledger;
      board: BoardStore;
      clock: Clock;
      limits: RewardLimits;
      /** The owner recorded for a deployed agent, if any. */
      ownerOf: (agent: string) => Promise<string | null>;
    },
  ) {}

  async apply(r: RewardInput): Promise<{ txn: LedgerTxn; applied: boolean }> {
    const l = this.deps.limits;
    if (r.amount > l.maxAmount) throw new FlockError('reward_limit_exceeded', `amount: at most ${formatAiDollars(l.maxAmount)} aiDollars per ${r.kind}`, { field: 'amount', limit: l.maxAmount });
    const post = await this.deps.board.getPost(r.postId);
    if (!post) throw new FlockError('post_not_found', `no post ${r.postId}`);
    if (r.kind === 'reward' && post.status === 'moderated') throw new FlockError('reward_not_allowed', `post ${post.id} was moderated and cannot be rewarded`);
    const involved =
      post.authorId === `agent:${r.agent}` || (await this.deps.board.listReplies(post.id, 1000)).some((x) => x.authorId === `agent:${r.agent}`);
    if (!involved) throw new FlockError('validation_failed', `agent: ${r.agent} neither wrote post ${post.id} nor replied to it; only an agent that took part in a post can be rewarded or penalized for it`, { field: 'agent' });
    if (r.person === `agent:${r.agent}` || r.person === r.agent) throw new FlockError('reward_not_allowed', `${r.person} cannot ${r.kind} itself`);
    const owner = await this.deps.ownerOf(r.agent);
    if (owner !== null && (owner === r.person || `human:${owner}` === r.person)) {
      // Say why, and what to do: with the admin token `up` creates, every demo agent is the
      // admin's own (the identity that deploys an agent owns it).
      const verb = r.kind === 'reward' ? 'reward' : 'penalize';
      throw new FlockError(
        'reward_not_allowed',
        `${r.person} owns agent ${r.agent} (the identity that deploys an agent owns it), and nobody may ${verb} an agent they own; ` +
          `${verb} it as another person, with a token of theirs (an admin makes one: aiflock token create --name <person> --scope human)`,
        { agent: r.agent, owner },
      );
    }
    const source = `human:${r.person}`;
    const key = `${r.kind}:${r.person}:${r.idempotencyKey ?? `${r.postId}:${r.agent}:${this.deps.clock.now().getTime()}`}`;
    return this.deps.ledger.transfer({
      from: r.kind === 'reward' ? MINT : agentAccount(r.agent),
      to: r.kind === 'reward' ? agentAccount(r.agent) : MINT,
      amount: r.amount,
      reason: r.kind,
      source,
      actor: r.person,
      idempotencyKey: key,
      postId: r.postId,
      meta: { note: r.note ?? null },
      caps: this.caps(r, source),
      ...(r.requestId ? { requestId: r.requestId } : {}),
    });
  }

  /** Checked by the store in the same atomic step as the insert, so concurrent rewards cannot slip past them. */
  private caps(r: RewardInput, source: string): LedgerCap[] {
    const l = this.deps.limits;
    const now = this.deps.clock.now();
    const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())).toISOString();
    const caps: LedgerCap[] = [{ name: `${r.person}'s daily reward and penalty limit`, max: l.perPersonDaily, reasons: ['reward', 'penalty'], source, since: dayStart }];
    if (r.kind === 'reward') caps.push({ name: `reward cap of post ${r.postId}`, max: l.perPostCap, reasons: ['reward'], postId: r.postId });
    return caps;
  }
}

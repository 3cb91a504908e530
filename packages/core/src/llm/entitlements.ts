import { FlockError } from '../errors.js';
import type { Clock } from '../ports/clock.js';

/** What one agent (or caller) may use of the gateway. Absent limits are unlimited. */
export interface Entitlement {
  /** Registry names this caller may use; absent means all. */
  models?: string[];
  requestsPerMinute?: number;
  tokensPerHour?: number;
  concurrent?: number;
  /** Who holds it, for refusal messages (e.g. `agent scout on tier0`); the caller id otherwise. */
  holder?: string;
  /**
   * A refusal that explains itself better than the generic one (an agent's tier says what
   * the model needs and how to get there); null lets the generic refusal stand.
   */
  refuseModel?(model: string): FlockError | null;
}

export interface Reservation {
  /** Replace the token estimate with what the call really used, and free the concurrency slot. */
  settle(tokensUsed: number): void;
  /** The call did not happen (e.g. failed before reaching a provider): free everything. */
  release(): void;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;

interface CallerState {
  inFlight: number;
  /** Start times of requests in the last minute. */
  requests: number[];
  /** Token charges in the last hour (reserved estimates until settled). */
  tokens: Array<{ at: number; n: number }>;
}

/**
 * Enforces entitlements with reserve-then-settle. `reserve` is synchronous, so in one
 * process no two calls can both see the last free slot: limits hold under any concurrency.
 * A refusal throws `quota_exceeded` with `retryAfterMs` in its details.
 */
export class EntitlementLimiter {
  private readonly callers = new Map<string, CallerState>();

  constructor(
    private readonly clock: Clock,
    private readonly onRefused: (caller: string, limit: string) => void = () => undefined,
  ) {}

  checkModel(caller: string, ent: Entitlement, model: string): void {
    if (ent.models && !ent.models.includes(model)) {
      this.onRefused(caller, 'model');
      throw ent.refuseModel?.(model) ?? new FlockError('model_not_entitled', `${ent.holder ?? caller} may not use model "${model}"; allowed: ${ent.models.join(', ') || '(none)'}`, { caller, model, allowed: ent.models });
    }
  }

  reserve(caller: string, ent: Entitlement, estimatedTokens: number): Reservation {
    const now = this.clock.now().getTime();
    const st = this.state(caller, now);
    const who = ent.holder ?? caller;
    if (ent.concurrent !== undefined && st.inFlight >= ent.concurrent) {
      // No clock tells when a call ends; one second is a fair hint to come back.
      this.refuse(caller, 'concurrent', `${who} already has ${st.inFlight} LLM calls in flight (limit ${ent.concurrent})`, 1000);
    }
    if (ent.requestsPerMinute !== undefined && st.requests.length >= ent.requestsPerMinute) {
      // An empty window with a zero limit (a frozen agent) has no oldest request to wait for.
      this.refuse(caller, 'requests_per_minute', `${who} used ${st.requests.length} requests this minute (limit ${ent.requestsPerMinute})`, st.requests.length > 0 ? st.requests[0]! + MINUTE - now : MINUTE);
    }
    const used = st.tokens.reduce((n, t) => n + t.n, 0);
    if (ent.tokensPerHour !== undefined && used + estimatedTokens > ent.tokensPerHour) {
      const retry = st.tokens.length > 0 ? st.tokens[0]!.at + HOUR - now : HOUR;
      this.refuse(caller, 'tokens_per_hour', `${who} would use ${used + estimatedTokens} tokens this hour (limit ${ent.tokensPerHour})`, retry);
    }
    st.inFlight += 1;
    st.requests.push(now);
    const charge = { at: now, n: estimatedTokens };
    st.tokens.push(charge);
    let done = false;
    return {
      settle: (tokensUsed) => {
        if (done) return;
        done = true;
        st.inFlight -= 1;
        charge.n = tokensUsed;
      },
      release: () => {
        if (done) return;
        done = true;
        st.inFlight -= 1;
        charge.n = 0;
      },
    };
  }

  /**
   * Replay calls made before this process started (from the store's usage records), so a
   * restart does not hand every caller a fresh minute and hour. Calls older than the windows
   * are dropped as usual.
   */
  restore(calls: Iterable<{ caller: string; at: number; tokens: number }>): void {
    const touched = new Set<CallerState>();
    for (const c of calls) {
      let st = this.callers.get(c.caller);
      if (!st) this.callers.set(c.caller, (st = { inFlight: 0, requests: [], tokens: [] }));
      st.requests.push(c.at);
      st.tokens.push({ at: c.at, n: c.tokens });
      touched.add(st);
    }
    // The windows are trimmed from the front, so they must stay in time order.
    for (const st of touched) {
      st.requests.sort((a, b) => a - b);
      st.tokens.sort((a, b) => a.at - b.at);
    }
  }

  /** Current use, for status and tests. */
  usage(caller: string): { inFlight: number; requestsLastMinute: number; tokensLastHour: number } {
    const st = this.state(caller, this.clock.now().getTime());
    return { inFlight: st.inFlight, requestsLastMinute: st.requests.length, tokensLastHour: st.tokens.reduce((n, t) => n + t.n, 0) };
  }

  private refuse(caller: string, limit: string, message: string, retryAfterMs: number): never {
    this.onRefused(caller, limit);
    throw new FlockError('quota_exceeded', message, { caller, limit, retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)) });
  }

  private state(caller: string, now: number): CallerState {
    let st = this.callers.get(caller);
    if (!st) this.callers.set(caller, (st = { inFlight: 0, requests: [], tokens: [] }));
    while (st.requests.length > 0 && st.requests[0]! <= now - MINUTE) st.requests.shift();
    while (st.tokens.length > 0 && st.tokens[0]!.at <= now - HOUR) st.tokens.shift();
    return st;
  }
}

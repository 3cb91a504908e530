import { useEffect, useState } from 'react';
import type { AgentView, LedgerLine, LedgerPage, LogLine, Villager } from '@aiflock/protocol';
import { aiDollars, api, ApiError } from '../api.js';
import { brainOf } from '../village/world-state.js';
import { ChatPanel } from './ChatPanel.js';

const REFRESH_MS = 2_000;

/**
 * One villager: persona, tier, balance, last actions and logs. Refreshed every two seconds
 * while open, so a reward given on the board shows here without a reload.
 */
export function VillagerDetails({ name, world, onClose }: { name: string; world: Villager | null; onClose: () => void }) {
  const [agent, setAgent] = useState<AgentView | null>(null);
  const [ledger, setLedger] = useState<LedgerLine[]>([]);
  const [logs, setLogs] = useState<LogLine[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout>;
    const load = async () => {
      try {
        const enc = encodeURIComponent(name);
        const [a, l, g] = await Promise.all([
          api<AgentView>(`/v1/agents/${enc}`),
          api<Pick<LedgerPage, 'transactions'>>(`/v1/economy/ledger/${enc}?limit=8`).catch(() => ({ transactions: [] })),
          api<{ lines: LogLine[] }>(`/v1/agents/${enc}/logs?tail=30`).catch(() => ({ lines: [] })),
        ]);
        if (stopped) return;
        setAgent(a);
        setLedger(l.transactions);
        setLogs(g.lines);
        setError(null);
      } catch (err) {
        if (!stopped) setError(err instanceof ApiError && err.status === 404 ? `${name} is not a deployed agent` : (err as Error).message);
      }
      if (!stopped) timer = setTimeout(() => void load(), REFRESH_MS);
    };
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [name]);

  const eco = agent?.economy;
  const actions = agent?.world?.recent ?? [];
  return (
    <section className="details" aria-labelledby="details-title" data-testid="villager-details">
      <div className="details-head">
        <h3 id="details-title">{name}</h3>
        <button type="button" onClick={onClose} aria-label={`Close the details of ${name}`}>
          Close
        </button>
      </div>
      {error && <p role="alert" className="error">{error}</p>}
      <dl className="facts">
        <dt>Persona</dt>
        <dd>{agent?.description || '—'}</dd>
        <dt>Agent status</dt>
        <dd data-testid="agent-status">{agent?.status ?? '…'}</dd>
        {world && (
          <>
            <dt>In the village</dt>
            <dd>
              {world.status}, at ({world.x}, {world.y}), {world.activity || 'idle'}
            </dd>
            <dt>Mind</dt>
            <dd>{brainOf(world)}</dd>
          </>
        )}
        <dt>Tier</dt>
        <dd data-testid="agent-tier">{eco ? `${eco.tier}${eco.frozen ? ' (compute frozen)' : ''}` : '…'}</dd>
        <dt>Balance</dt>
        <dd data-testid="agent-balance">{eco ? `${aiDollars(eco.balance)} aiDollars` : '…'}</dd>
        {eco && (
          <>
            <dt>Limits</dt>
            <dd>
              {eco.limits.requestsPerMinute} requests/min, {eco.limits.tokensPerHour} tokens/hour, models: {eco.limits.models.join(', ') || 'none'}
            </dd>
          </>
        )}
      </dl>
      {actions.length > 0 && (
        <>
          <h4>Last actions</h4>
          <ol className="actions">
            {[...actions].reverse().map((a, i) => (
              <li key={`${a.tick}-${i}`}>
                <span className="note">tick {a.tick}</span> {a.what}
              </li>
            ))}
          </ol>
        </>
      )}
      {agent?.handlers.includes('agent') && <ChatPanel agent={name} />}
      <h4>Ledger</h4>
      {ledger.length === 0 ? (
        <p>No transactions yet.</p>
      ) : (
        <ul className="ledger" data-testid="agent-ledger">
          {ledger.map((t) => (
            <li key={t.id}>
              <span className={t.amount < 0 ? 'neg' : 'pos'}>{aiDollars(t.amount)}</span> {t.reason} · {t.counterparty} · {new Date(t.createdAt).toLocaleTimeString()}
            </li>
          ))}
        </ul>
      )}
      <h4>Logs</h4>
      {logs.length === 0 ? (
        <p>No log lines.</p>
      ) : (
        <pre className="logs" tabIndex={0} aria-label={`Recent log lines of ${name}`}>
          {logs.map((l) => `${l.ts.slice(11, 19)} ${l.level.padEnd(5)} ${l.msg}`).join('\n')}
        </pre>
      )}
    </section>
  );
}

import { useState, type FormEvent } from 'react';
import type { AgentView, BalanceView, LedgerPage, TierList } from '@aiflock/protocol';
import { aiDollars, api, parseAiDollars } from '../../api.js';
import { Message, useAction, useLoad } from './use-load.js';
import { AgentSelect } from '../AgentSelect.js';
import { ComputeControls } from './Compute.js';


/** Tiers, compute per agent (freeze, purchase), an agent's ledger and balance, and crediting a deposit (idempotent on the payment id). */
export function EconomyAdmin() {
  const tiers = useLoad(() => api<TierList>('/v1/economy/tiers'));
  const agents = useLoad(() => api<{ agents: AgentView[] }>('/v1/agents'));
  const names = agents.data?.agents.map((a) => a.name) ?? [];
  const [agent, setAgent] = useState('');
  // Bumped by a credit, so the compute table shows the new balance and tier too.
  const [credits, setCredits] = useState(0);
  const chosen = agent || names[0] || '';
  const ledger = useLoad(
    () => (chosen ? api<Pick<LedgerPage, 'transactions'>>(`/v1/economy/ledger/${chosen}?limit=50`) : Promise.resolve({ transactions: [] as LedgerPage['transactions'] })),
    chosen,
  );
  const balance = useLoad(
    () => (chosen ? api<BalanceView>(`/v1/economy/balance/${chosen}`) : Promise.resolve(null)),
    chosen,
  );
  return (
    <section aria-labelledby="economy-title">
      <h2 id="economy-title">Ledger and tiers</h2>
      <h3>Tiers</h3>
      {tiers.error && <p role="alert" className="error">{tiers.error}</p>}
      <table className="grid" aria-label="Tiers">
        <thead>
          <tr>
            <th scope="col">Tier</th>
            <th scope="col">From balance</th>
            <th scope="col">Models</th>
            <th scope="col">Requests/min</th>
            <th scope="col">Tokens/hour</th>
            <th scope="col">Price/hour</th>
          </tr>
        </thead>
        <tbody>
          {tiers.data?.tiers.map((t) => (
            <tr key={t.name}>
              <th scope="row">{t.name}</th>
              <td>{aiDollars(t.minBalance)}</td>
              <td>{t.models.join(', ')}</td>
              <td>{t.requestsPerMinute}</td>
              <td>{t.tokensPerHour}</td>
              <td>{aiDollars(t.pricePerHour)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <ComputeControls
        agents={names}
        refresh={credits}
        tiers={tiers.data?.tiers ?? []}
        onChange={() => {
          ledger.reload();
          balance.reload();
        }}
      />
      <h3>Ledger</h3>
      <label>
        Agent
        <select value={chosen} onChange={(e) => setAgent(e.target.value)} name="ledger-agent">
          {names.map((n) => (
            <option key={n}>{n}</option>
          ))}
        </select>
      </label>
      {balance.data && (
        <p data-testid="ledger-balance">
          Balance {aiDollars(balance.data.balance)} aiDollars, tier {balance.data.entitlements.tier}
        </p>
      )}
      <table className="grid" aria-label={`Ledger of ${chosen}`}>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Amount</th>
            <th scope="col">Reason</th>
            <th scope="col">Counterparty</th>
            <th scope="col">Source</th>
          </tr>
        </thead>
        <tbody>
          {ledger.data?.transactions.map((t) => (
            <tr key={t.id}>
              <td>{new Date(t.createdAt).toLocaleString()}</td>
              <td className={t.amount < 0 ? 'neg' : 'pos'}>{aiDollars(t.amount)}</td>
              <td>{t.reason}</td>
              <td>{t.counterparty}</td>
              <td>{t.source}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <CreditForm
        agents={names}
        onDone={() => {
          ledger.reload();
          balance.reload();
          setCredits((n) => n + 1);
        }}
      />
    </section>
  );
}

function CreditForm({ agents, onDone }: { agents: string[]; onDone: () => void }) {
  const [agent, setAgent] = useState('');
  const [amount, setAmount] = useState('');
  const [txn, setTxn] = useState('');
  const [note, setNote] = useState('');
  const { busy, message, run } = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const parsed = parseAiDollars(amount);
      if ('error' in parsed) throw new Error(parsed.error);
      const out = await api<{ applied: boolean }>('/v1/economy/credit', {
        method: 'POST',
        body: { agent: agent || agents[0], amount: parsed.cents, paymentTxnId: txn.trim(), ...(note.trim() ? { note: note.trim() } : {}) },
      });
      onDone();
      return out.applied ? `credited ${aiDollars(parsed.cents)} aiDollars (payment ${txn})` : `payment ${txn} was already credited; nothing changed`;
    });
  };
  return (
    <form className="inline-form" onSubmit={submit} aria-labelledby="credit-title">
      <h3 id="credit-title">Credit a deposit</h3>
      <AgentSelect agents={agents} value={agent} onChange={setAgent} name="credit-agent" />
      <label>
        Amount (aiDollars)
        <input required value={amount} onChange={(e) => setAmount(e.target.value)} inputMode="decimal" name="credit-amount" />
      </label>
      <label>
        Payment transaction id
        <input required value={txn} onChange={(e) => setTxn(e.target.value)} name="credit-txn" />
      </label>
      <label>
        Note
        <input value={note} onChange={(e) => setNote(e.target.value)} name="credit-note" />
      </label>
      <button type="submit" disabled={busy || agents.length === 0}>
        Credit
      </button>
      <Message message={message} />
    </form>
  );
}

import { useState, type FormEvent } from 'react';
import type { Entitlements, FreezeRequest, PurchaseRequest } from '@aiflock/protocol';
import { aiDollars, api } from '../../api.js';
import { AgentSelect } from '../AgentSelect.js';
import { Message, useAction, useLoad } from './use-load.js';

/** The wire bodies, checked against the protocol's schemas at compile time (no zod in the bundle). */
type Freeze = ReturnType<typeof FreezeRequest.parse>;
type Purchase = ReturnType<typeof PurchaseRequest.parse>;
interface ForSale {
  name: string;
  pricePerHour: number;
}

const newKey = () => `web-${crypto.randomUUID()}`;

/**
 * Compute per agent: the tier in force, its basis, balance and freeze; freezing and
 * unfreezing with a note; buying a tier for some hours out of the agent's balance.
 * `refresh` changes when something else on the page moved money (a credit).
 */
export function ComputeControls({ agents, tiers, refresh, onChange }: { agents: string[]; tiers: ForSale[]; refresh: number; onChange: () => void }) {
  const state = useLoad(
    () => Promise.all(agents.map((a) => api<{ entitlements: Entitlements }>(`/v1/economy/balance/${encodeURIComponent(a)}`).then((r) => r.entitlements))),
    `${agents.join(' ')}#${refresh}`,
  );
  const changed = () => {
    state.reload();
    onChange();
  };
  return (
    <section aria-labelledby="compute-title">
      <h3 id="compute-title">Compute</h3>
      {state.error && <p role="alert" className="error">{state.error}</p>}
      <table className="grid" aria-label="Compute by agent">
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <th scope="col">Tier</th>
            <th scope="col">Basis</th>
            <th scope="col">Balance</th>
            <th scope="col">Frozen</th>
            <th scope="col">Bought until</th>
          </tr>
        </thead>
        <tbody>
          {state.data?.map((e) => (
            <tr key={e.agent} data-compute={e.agent}>
              <th scope="row">{e.agent}</th>
              <td data-testid={`tier-${e.agent}`}>{e.tier}</td>
              <td>{e.basis}</td>
              <td>{aiDollars(e.balance)}</td>
              <td data-testid={`frozen-${e.agent}`}>{e.frozen ? 'frozen' : 'no'}</td>
              <td>{e.until ? new Date(e.until).toLocaleString() : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <FreezeForm agents={agents} onDone={changed} />
      <PurchaseForm agents={agents} tiers={tiers.filter((t) => t.pricePerHour > 0)} onDone={changed} />
    </section>
  );
}

function FreezeForm({ agents, onDone }: { agents: string[]; onDone: () => void }) {
  const [agent, setAgent] = useState('');
  const [note, setNote] = useState('');
  const { busy, message, run } = useAction();
  const send = (frozen: boolean) => {
    const who = agent || agents[0] || '';
    const body: Freeze = { frozen, ...(note.trim() ? { note: note.trim() } : {}) };
    void run(async () => {
      const e = await api<Entitlements>(`/v1/economy/compute/${encodeURIComponent(who)}/freeze`, { method: 'POST', body });
      setNote('');
      onDone();
      return frozen ? `froze ${who}'s compute (tier now ${e.tier})` : `unfroze ${who}'s compute (tier now ${e.tier})`;
    });
  };
  return (
    <form className="inline-form" onSubmit={(e) => e.preventDefault()} aria-labelledby="freeze-title">
      <h4 id="freeze-title">Freeze or unfreeze compute</h4>
      <AgentSelect agents={agents} value={agent} onChange={setAgent} name="freeze-agent" />
      <label>
        Freeze note
        <input value={note} onChange={(e) => setNote(e.target.value)} name="freeze-note" maxLength={500} />
      </label>
      <div className="buttons">
        <button type="button" className="danger" disabled={busy || agents.length === 0} onClick={() => send(true)}>
          Freeze
        </button>
        <button type="button" disabled={busy || agents.length === 0} onClick={() => send(false)}>
          Unfreeze
        </button>
      </div>
      <Message message={message} />
    </form>
  );
}

/**
 * The purchase key is the API's idempotency key: it stays while the choices stay, so sending
 * the same purchase twice (a double click, an answer lost on the way) charges once.
 */
function PurchaseForm({ agents, tiers, onDone }: { agents: string[]; tiers: ForSale[]; onDone: () => void }) {
  const [agent, setAgent] = useState('');
  const [tier, setTier] = useState('');
  const [hours, setHours] = useState('1');
  const [key, setKey] = useState(newKey);
  const { busy, message, run } = useAction();
  const change = (set: (v: string) => void) => (v: string) => {
    set(v);
    setKey(newKey());
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const who = agent || agents[0] || '';
    const spec = tiers.find((t) => t.name === tier) ?? tiers[0];
    void run(async () => {
      if (!spec) throw new Error('no tier is for sale');
      const body: Purchase = { tier: spec.name, hours: Number(hours), idempotencyKey: key.trim() };
      const out = await api<{ applied: boolean; entitlements: Entitlements }>(`/v1/economy/compute/${encodeURIComponent(who)}/purchase`, { method: 'POST', body });
      onDone();
      const now = `${who} is on ${out.entitlements.tier}, balance ${aiDollars(out.entitlements.balance)} aiDollars`;
      return out.applied
        ? `applied: bought ${spec.name} for ${body.hours} h (${aiDollars(spec.pricePerHour * body.hours)} aiDollars); ${now}`
        : `not applied: purchase key ${body.idempotencyKey} was already used for this purchase, nothing changed; ${now}`;
    });
  };
  return (
    <form className="inline-form" onSubmit={submit} aria-labelledby="purchase-title">
      <h4 id="purchase-title">Buy a tier</h4>
      <AgentSelect agents={agents} value={agent} onChange={change(setAgent)} name="purchase-agent" />
      <label>
        Tier
        <select value={tier} onChange={(e) => change(setTier)(e.target.value)} name="purchase-tier">
          {tiers.map((t) => (
            <option key={t.name} value={t.name}>
              {t.name} ({aiDollars(t.pricePerHour)}/h)
            </option>
          ))}
        </select>
      </label>
      <label>
        Hours
        <input type="number" required min={1} max={720} value={hours} onChange={(e) => change(setHours)(e.target.value)} name="purchase-hours" />
      </label>
      <label>
        Purchase key
        <input required value={key} onChange={(e) => setKey(e.target.value)} name="purchase-key" spellCheck={false} />
      </label>
      <button type="submit" disabled={busy || agents.length === 0 || tiers.length === 0}>
        Buy
      </button>
      <Message message={message} />
    </form>
  );
}

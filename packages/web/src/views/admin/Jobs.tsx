import { useEffect, useState, type FormEvent } from 'react';
import { FINAL_STATUSES, TaskStep, type AgentView, type TaskView } from '@aiflock/protocol';
import { api, wsUrl } from '../../api.js';
import { LiveSocket } from '../../live-socket.js';
import { Message, useAction, useLoad } from './use-load.js';
import { AgentSelect } from '../AgentSelect.js';
import { loadSteps } from '../ChatPanel.js';
import { Transcript } from '../Transcript.js';
import { mergeSteps } from '../../transcript.js';

interface StreamMessage {
  id: number;
  type: 'log' | 'status' | 'result' | 'error' | 'heartbeat' | 'step';
  ts: string;
  payload: unknown;
}

/** The protocol's own list: a copy here once said `succeeded`, and every finished job offered a Cancel that answered 409. */
const FINAL = new Set<string>(FINAL_STATUSES);

/** Jobs: create, list, watch one's live stream, cancel. */
export function JobsAdmin() {
  const jobs = useLoad(() => api<{ jobs: TaskView[] }>('/v1/jobs?limit=30'));
  const agents = useLoad(() => api<{ agents: AgentView[] }>('/v1/agents'));
  const [watching, setWatching] = useState<string | null>(null);
  useEffect(() => {
    const t = setInterval(jobs.reload, 3_000);
    return () => clearInterval(t);
  }, [jobs.reload]);
  const cancel = useAction();
  return (
    <section aria-labelledby="jobs-title">
      <h2 id="jobs-title">Jobs</h2>
      <CreateJob agents={agents.data?.agents.map((a) => a.name) ?? []} onCreated={(id) => (setWatching(id), jobs.reload())} />
      {jobs.error && <p role="alert" className="error">{jobs.error}</p>}
      <Message message={cancel.message} />
      <table className="grid" aria-label="Recent jobs">
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Agent</th>
            <th scope="col">Type</th>
            <th scope="col">Status</th>
            <th scope="col">Created</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {jobs.data?.jobs.map((j) => (
            <tr key={j.id} data-job={j.id}>
              <th scope="row">
                <code>{j.id}</code>
              </th>
              <td>{j.agent}</td>
              <td>{j.type}</td>
              <td>{j.status}</td>
              <td>{new Date(j.createdAt).toLocaleTimeString()}</td>
              <td className="row-actions">
                <button type="button" onClick={() => setWatching(j.id)}>
                  Watch
                </button>
                {!FINAL.has(j.status) && (
                  <button
                    type="button"
                    className="danger"
                    disabled={cancel.busy}
                    onClick={() =>
                      void cancel.run(async () => {
                        await api(`/v1/jobs/${j.id}/cancel`, { method: 'POST' });
                        jobs.reload();
                        return `cancelled ${j.id}`;
                      })
                    }
                  >
                    Cancel
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {watching && <JobStream id={watching} onClose={() => setWatching(null)} />}
    </section>
  );
}

function CreateJob({ agents, onCreated }: { agents: string[]; onCreated: (id: string) => void }) {
  const [agent, setAgent] = useState('');
  const [type, setType] = useState('');
  const [input, setInput] = useState('{"hello":"flock"}');
  // For llm jobs: where the gateway may run this one request (its policy override).
  const [provider, setProvider] = useState('');
  const { busy, message, run } = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      let parsed: unknown = input;
      try {
        parsed = JSON.parse(input);
      } catch {
        // Not JSON: sent as a string (what a shell task takes).
      }
      if (type === 'llm' && provider) parsed = typeof parsed === 'object' && parsed !== null ? { ...parsed, policy: provider } : { prompt: String(parsed), policy: provider };
      const out = await api<{ jobId: string }>('/v1/jobs', {
        method: 'POST',
        body: { agent: agent || agents[0], input: parsed, ...(type ? { type } : {}) },
        headers: { 'idempotency-key': `web-${crypto.randomUUID()}` },
      });
      onCreated(out.jobId);
      return `queued ${out.jobId}`;
    });
  };
  return (
    <form className="inline-form" onSubmit={submit} aria-label="Create a job">
      <AgentSelect agents={agents} value={agent} onChange={setAgent} name="agent" />
      <label>
        Type (optional)
        <input value={type} onChange={(e) => setType(e.target.value)} placeholder="echo, shell, llm…" name="type" />
      </label>
      {type === 'llm' && (
        <label>
          LLM provider
          <select value={provider} onChange={(e) => setProvider(e.target.value)} name="provider">
            <option value="">as configured</option>
            <option value="local">local only</option>
            <option value="cloud">cloud only</option>
          </select>
        </label>
      )}
      <label>
        Input (JSON or text)
        <input value={input} onChange={(e) => setInput(e.target.value)} name="input" spellCheck={false} />
      </label>
      <button type="submit" disabled={busy || agents.length === 0}>
        Create job
      </button>
      <Message message={message} />
    </form>
  );
}

/** `WS /v1/stream/{id}`; reconnects resume after the last id seen, so nothing repeats or goes missing. */
function JobStream({ id, onClose }: { id: string; onClose: () => void }) {
  const [messages, setMessages] = useState<StreamMessage[]>([]);
  const [steps, setSteps] = useState<TaskStep[]>([]);
  const [status, setStatus] = useState<string | null>(null);
  const [link, setLink] = useState('connecting');
  useEffect(() => {
    let last = 0;
    setMessages([]);
    setSteps([]);
    void loadSteps(id).then((loaded) => setSteps((s) => mergeSteps(s, loaded)));
    void api<TaskView>(`/v1/jobs/${encodeURIComponent(id)}`).then((t) => setStatus(t.status), () => undefined);
    const socket = new LiveSocket({
      url: () => wsUrl(`/v1/stream/${encodeURIComponent(id)}${last ? `?after=${last}` : ''}`),
      onState: (s) => setLink(s),
      onMessage: (data) => {
        const m = data as StreamMessage;
        if (typeof m?.id !== 'number') return;
        if (m.type !== 'heartbeat') {
          if (m.id <= last) return;
          const step = m.type === 'step' ? TaskStep.safeParse(m.payload) : null;
          if (step?.success) setSteps((s) => mergeSteps(s, [step.data]));
          else setMessages((ms) => [...ms, m].slice(-500));
        }
        last = Math.max(last, m.id);
        // A finished job says nothing more: stop instead of reconnecting to silence.
        const status = (m.payload as { status?: string } | null)?.status;
        if (m.type === 'status' && status) setStatus(status);
        // Every final status is followed by its `result` or `error` message: close on that, so it is shown.
        if (m.type === 'result' || m.type === 'error') {
          socket.close();
          setLink('ended');
        }
      },
    });
    return () => socket.close();
  }, [id]);
  return (
    <section aria-labelledby="stream-title" className="live-logs" data-testid="job-stream">
      <div className="details-head">
        <h3 id="stream-title">
          Stream of <code>{id}</code> <span className="note">({link})</span>
        </h3>
        <button type="button" onClick={onClose}>
          Close stream
        </button>
      </div>
      <Transcript steps={steps} label={`Steps of job ${id}`} />
      {status === 'waiting_for_human' && <AnswerBox id={id} question={[...steps].reverse().find((s) => s.kind === 'question')?.text} onAnswered={() => setStatus('running')} />}
      <pre className="logs" tabIndex={0} aria-live="polite" aria-label={`Live stream of job ${id}`}>
        {messages.map((m) => `${m.ts.slice(11, 19)} ${m.type.padEnd(6)} ${typeof m.payload === 'string' ? m.payload : JSON.stringify(m.payload)}`).join('\n')}
      </pre>
    </section>
  );
}

/** The question a waiting job asks, and a box to answer it (`POST /v1/jobs/{id}/answer`). */
function AnswerBox({ id, question, onAnswered }: { id: string; question: string | undefined; onAnswered: () => void }) {
  const [text, setText] = useState('');
  const { busy, message, run } = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await api(`/v1/jobs/${encodeURIComponent(id)}/answer`, { method: 'POST', body: { text } });
      setText('');
      onAnswered();
      return 'answered; the job runs again';
    });
  };
  return (
    <form className="answer-box" onSubmit={submit} aria-label={`Answer the question of job ${id}`}>
      <p>
        <strong>The agent waits for an answer{question ? ':' : '.'}</strong> {question}
      </p>
      <label>
        Your answer
        <input value={text} onChange={(e) => setText(e.target.value)} name="answer" />
      </label>
      <button type="submit" disabled={busy || !text.trim()}>
        Answer
      </button>
      <Message message={message} />
    </form>
  );
}

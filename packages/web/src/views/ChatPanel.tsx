import { useEffect, useRef, useState, type FormEvent } from 'react';
import { TaskStep, type ChatMessage, type ChatThread, type SentChatMessage } from '@aiflock/protocol';
import { api, ApiError, wsUrl } from '../api.js';
import { LiveSocket } from '../live-socket.js';
import { mergeSteps } from '../transcript.js';
import { Transcript } from './Transcript.js';

interface ChatEvent {
  type: string;
  payload: (ChatMessage & { taskId: string | null }) | { taskId: string; event: { type: string; payload: unknown } };
}

/**
 * Your chat with an agent (its tool loop): the thread, the steps of each answer as they
 * happen, and a box to write in. When the agent asks a question, the next message answers it.
 */
export function ChatPanel({ agent }: { agent: string }) {
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [steps, setSteps] = useState<Record<string, TaskStep[]>>({});
  const [status, setStatus] = useState<Record<string, string>>({});
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const list = useRef<HTMLOListElement>(null);

  useEffect(() => {
    setMessages([]);
    setSteps({});
    const enc = encodeURIComponent(agent);
    const socket = new LiveSocket({
      url: () => wsUrl(`/v1/ws/chat/${enc}`),
      // Each (re)connection starts from the stored thread, so nothing is missed across a gap.
      onOpen: () =>
        void api<ChatThread>(`/v1/agents/${enc}/messages`).then(
          (t) => {
            setMessages((ms) => [...new Map([...t.messages, ...ms].map((m) => [m.id, m])).values()].sort((a, b) => a.id.localeCompare(b.id)));
            // What the agent did for the last few messages, from the stored steps.
            for (const m of t.messages.filter((x) => x.role === 'person' && x.taskId).slice(-5)) {
              void loadSteps(m.taskId!).then((loaded) => setSteps((all) => ({ ...all, [m.taskId!]: mergeSteps(all[m.taskId!] ?? [], loaded) })));
            }
          },
          (e: Error) => setError(e.message),
        ),
      onMessage: (data) => {
        const e = data as ChatEvent;
        if (e.type === 'message') {
          const m = e.payload as ChatMessage;
          setMessages((ms) => (ms.some((x) => x.id === m.id) ? ms : [...ms, m]));
        } else if (e.type === 'task' && 'event' in e.payload) {
          const { taskId, event } = e.payload;
          if (event.type === 'step') {
            const step = TaskStep.safeParse(event.payload);
            if (step.success) setSteps((all) => ({ ...all, [taskId]: mergeSteps(all[taskId] ?? [], [step.data]) }));
          } else if (event.type === 'status') {
            const s = (event.payload as { status?: string }).status;
            if (s) setStatus((all) => ({ ...all, [taskId]: s }));
          }
        }
      },
    });
    return () => socket.close();
  }, [agent]);

  // The newest message in view as the thread grows.
  useEffect(() => {
    if (list.current) list.current.scrollTop = list.current.scrollHeight;
  }, [messages, steps]);

  const last = messages.at(-1);
  // A task's steps go under the message that started it (an answer to its question carries its id too).
  const starters = new Set(messages.filter((m) => m.role === 'person' && m.taskId).map((m) => messages.find((x) => x.taskId === m.taskId && x.role === 'person')!.id));
  const asked = last?.role === 'agent' && last.kind === 'question';
  const send = async (e: FormEvent) => {
    e.preventDefault();
    if (!text.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const out = await api<SentChatMessage>(`/v1/agents/${encodeURIComponent(agent)}/messages`, { method: 'POST', body: { text } });
      setMessages((ms) => (ms.some((x) => x.id === out.message.id) ? ms : [...ms, out.message]));
      setText('');
    } catch (err) {
      setError(err instanceof ApiError && err.code === 'agent_not_conversational' ? `${agent} does not chat: it has no tool loop (handler "agent").` : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="chat" aria-label={`Chat with ${agent}`} data-testid="chat-panel">
      <h4>Chat with {agent}</h4>
      <ol ref={list} className="chat-thread" aria-live="polite" aria-label={`Your messages with ${agent}`}>
        {messages.length === 0 && <li className="note">No messages yet. Ask {agent} something.</li>}
        {messages.map((m) => (
          <li key={m.id} className={`bubble ${m.role} ${m.kind}`} data-kind={m.kind}>
            <span className="who">{m.role === 'person' ? m.person : m.kind === 'question' ? `${agent} asks` : agent}</span>
            <span className="text">{m.text}</span>
            {m.role === 'person' && m.taskId && starters.has(m.id) && <Working steps={steps[m.taskId] ?? []} status={status[m.taskId]} answered={messages.some((x) => x.role === 'agent' && x.taskId === m.taskId && x.kind !== 'question')} agent={agent} />}
          </li>
        ))}
      </ol>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <form className="chat-send" onSubmit={(e) => void send(e)}>
        <label className="sr-only" htmlFor={`chat-${agent}`}>
          Message to {agent}
        </label>
        <textarea
          id={`chat-${agent}`}
          value={text}
          rows={2}
          placeholder={asked ? `Answer ${agent}'s question…` : `Message ${agent}…`}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              e.currentTarget.form?.requestSubmit();
            }
          }}
        />
        <button type="submit" disabled={busy || !text.trim()}>
          {asked ? 'Answer' : 'Send'}
        </button>
      </form>
    </section>
  );
}

/** A task's stored steps (`GET /v1/jobs/{id}/steps`); none when they cannot be read. */
export async function loadSteps(taskId: string): Promise<TaskStep[]> {
  const r = await api<{ steps: unknown[] }>(`/v1/jobs/${encodeURIComponent(taskId)}/steps`).catch(() => ({ steps: [] }));
  return r.steps.flatMap((s) => {
    const p = TaskStep.safeParse(s);
    return p.success ? [p.data] : [];
  });
}

/** What the agent did for one message, live; folded away once it answered. */
function Working({ steps, status, answered, agent }: { steps: TaskStep[]; status: string | undefined; answered: boolean; agent: string }) {
  if (steps.length === 0 && (answered || !status)) return null;
  const body = <Transcript steps={steps} label={`What ${agent} did`} />;
  if (answered) {
    return (
      <details className="working">
        <summary>{steps.length} steps</summary>
        {body}
      </details>
    );
  }
  return (
    <div className="working">
      <span className="note">{status === 'waiting_for_human' ? 'waiting for your answer' : status === 'queued' ? 'queued…' : 'working…'}</span>
      {body}
    </div>
  );
}

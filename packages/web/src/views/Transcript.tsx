import type { TaskStep } from '@aiflock/protocol';
import { argsText, boundedOutput } from '../transcript.js';

/** A task's steps as a transcript a person can read: thoughts, tool calls and results, questions, answers. */
export function Transcript({ steps, label }: { steps: TaskStep[]; label: string }) {
  if (steps.length === 0) return null;
  return (
    <ol className="transcript" aria-label={label}>
      {steps.map((s) => (
        <li key={s.seq} className={`step step-${s.kind}`} data-kind={s.kind}>
          <Step step={s} />
        </li>
      ))}
    </ol>
  );
}

function Step({ step: s }: { step: TaskStep }) {
  switch (s.kind) {
    case 'thought':
      return (
        <>
          <span className="step-tag">thinking</span> {s.text}
        </>
      );
    case 'tool_call':
      return (
        <>
          <span className="step-tag">{s.tool}</span> <code>{argsText(s.args)}</code>
        </>
      );
    case 'tool_result': {
      const r = s.result;
      const out = [r?.stdout, r?.stderr].filter(Boolean).join('\n');
      const { shown, more } = boundedOutput(out);
      return (
        <>
          <span className={`step-tag ${r?.ok === false ? 'bad' : 'good'}`}>
            {s.tool} {r?.exitCode !== undefined && r.exitCode !== null ? `exit ${r.exitCode}` : r?.ok === false ? 'failed' : 'ok'}
          </span>{' '}
          <span className="note">{r ? `${r.durationMs} ms` : ''}</span>
          {r?.error && <p className="error">{r.error}</p>}
          {r?.urls && r.urls.length > 0 && <p className="note">{r.urls.join(' · ')}</p>}
          {out && (
            <pre className="step-output" tabIndex={0}>
              {shown}
              {more > 0 && `\n… ${more} more lines`}
            </pre>
          )}
        </>
      );
    }
    case 'question':
      return (
        <>
          <span className="step-tag ask">asks</span> {s.text}
        </>
      );
    case 'human_answer':
      return (
        <>
          <span className="step-tag">answer given</span> {s.text}
        </>
      );
    case 'answer':
      return (
        <>
          <span className="step-tag good">answer</span> {s.text}
          {s.citations && s.citations.length > 0 && <p className="note">Sources: {s.citations.join(' · ')}</p>}
        </>
      );
  }
}

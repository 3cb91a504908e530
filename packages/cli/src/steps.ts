import type { TaskStep } from '@aiflock/protocol';

const LINES = 12;

/** One step of an agent's work as transcript lines for a terminal (bounded output). */
export function formatStep(s: Pick<TaskStep, 'kind' | 'text' | 'tool' | 'args' | 'result'>): string {
  switch (s.kind) {
    case 'thought':
      return `  · ${s.text ?? ''}`;
    case 'tool_call':
      return `  → ${s.tool ?? 'tool'} ${JSON.stringify(s.args ?? {})}`;
    case 'tool_result': {
      const r = s.result;
      const head = `  ← ${s.tool ?? 'tool'}${r?.exitCode !== undefined && r.exitCode !== null ? ` exit ${r.exitCode}` : ''}${r ? ` (${r.durationMs} ms)` : ''}${r?.ok === false ? ` failed${r.error ? `: ${r.error}` : ''}` : ''}`;
      const out = [r?.stdout, r?.stderr].filter(Boolean).join('\n');
      return out ? `${head}\n${bounded(out)}` : head;
    }
    case 'question':
      return `  ? ${s.text ?? ''}`;
    case 'human_answer':
      return `  ↳ ${s.text ?? ''}`;
    case 'answer':
      return `  ✓ ${s.text ?? ''}`;
  }
}

function bounded(text: string): string {
  const lines = text.replace(/\n$/, '').split('\n');
  const shown = lines.slice(0, LINES).map((l) => `    ${l.slice(0, 200)}`);
  if (lines.length > LINES) shown.push(`    … ${lines.length - LINES} more lines`);
  return shown.join('\n');
}

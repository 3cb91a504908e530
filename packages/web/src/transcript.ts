import type { TaskStep } from '@aiflock/protocol';

/** Lines of a tool's output shown before "… N more lines". */
export const OUTPUT_LINES = 20;

/** Output bounded for the page: the first lines, and how many more there were. */
export function boundedOutput(text: string, max = OUTPUT_LINES): { shown: string; more: number } {
  const lines = text.replace(/\n$/, '').split('\n');
  return { shown: lines.slice(0, max).join('\n'), more: Math.max(0, lines.length - max) };
}

/** A tool call's arguments, compact: `cmd: "ls -la"`, objects as JSON. */
export function argsText(args: Record<string, unknown> | undefined): string {
  return Object.entries(args ?? {})
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v.length > 300 ? `${v.slice(0, 300)}…` : v) : JSON.stringify(v)}`)
    .join(', ');
}

/** Steps of a task in order, each once (live ones may repeat what was loaded). */
export function mergeSteps(known: TaskStep[], more: TaskStep[]): TaskStep[] {
  const seen = new Map(known.map((s) => [s.seq, s]));
  for (const s of more) seen.set(s.seq, s);
  return [...seen.values()].sort((a, b) => a.seq - b.seq);
}

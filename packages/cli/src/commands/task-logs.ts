import type { JobSteps, LogLine, TaskStep } from '@aiflock/protocol';
import type { ApiClient } from '../client.js';
import { println } from '../output.js';
import { printLogLine } from './shared.js';

const STEP_POLL_MS = 500;

/**
 * A task's log lines with its agent-loop steps between them, by time: readable lines, or one
 * JSON object per line with `--json` (steps have `type: "task.step"`). With `follow`, steps
 * are printed as they are recorded while the log stream runs, and the last ones after it ends.
 */
export async function printTaskLogs(api: ApiClient, id: string, o: { follow?: boolean; json?: boolean }): Promise<void> {
  const base = `/v1/tasks/${encodeURIComponent(id)}/logs`;
  const stepsPath = `/v1/jobs/${encodeURIComponent(id)}/steps`;
  let printed = 0;
  const newSteps = async (): Promise<TaskStep[]> => {
    const { steps } = await api.get<JobSteps>(stepsPath);
    const fresh = steps.slice(printed);
    printed = steps.length;
    return fresh;
  };
  if (!o.follow) {
    const [{ lines }, steps] = await Promise.all([api.get<{ lines: LogLine[] }>(base), newSteps()]);
    // Each source keeps its own order (log lines by seq: their clocks are the daemon's and the
    // instance's, so their times need not be sorted); a step goes before the first line later than it.
    let next = 0;
    for (const l of lines) {
      while (next < steps.length && steps[next]!.ts < l.ts) printStep(steps[next++]!, o.json);
      printLogLine(l, o.json, false);
    }
    while (next < steps.length) printStep(steps[next++]!, o.json);
    return;
  }
  const ctl = new AbortController();
  process.once('SIGINT', () => ctl.abort());
  let polling = true;
  const poller = (async () => {
    while (polling && !ctl.signal.aborted) {
      for (const s of await newSteps().catch(() => [])) printStep(s, o.json);
      await new Promise((r) => setTimeout(r, STEP_POLL_MS));
    }
  })();
  try {
    for await (const l of api.stream<LogLine>(`${base}?follow=true`, ctl.signal)) printLogLine(l, o.json, false);
  } catch (err) {
    if (!ctl.signal.aborted) throw err;
  } finally {
    polling = false;
    await poller;
  }
  if (!ctl.signal.aborted) for (const s of await newSteps()) printStep(s, o.json);
}

export function printStep(s: TaskStep, json: boolean | undefined): void {
  if (json) return println(JSON.stringify(s));
  println(`${s.ts} STEP  #${s.seq} ${describeStep(s)}`);
}

/** One readable line (a few for results with output) per step. */
export function describeStep(s: TaskStep): string {
  switch (s.kind) {
    case 'thought':
    case 'question':
    case 'human_answer':
      return `${s.kind}: ${s.text ?? ''}`;
    case 'answer':
      return `answer: ${s.text ?? ''}${s.citations?.length ? `\n  sources: ${s.citations.join(', ')}` : ''}`;
    case 'tool_call':
      return `call ${s.tool ?? s.text ?? '?'} ${JSON.stringify(s.args ?? {})}`;
    case 'tool_result': {
      const r = s.result;
      if (!r) return `result of ${s.tool ?? '?'}`;
      const bits = [r.ok ? 'ok' : 'failed', r.exitCode !== undefined && r.exitCode !== null ? `exit ${r.exitCode}` : null, `${r.durationMs} ms`, r.cwd ? `in ${r.cwd}` : null, r.urls?.length ? r.urls.join(' ') : null].filter(Boolean);
      const out = [r.error ? `  error: ${r.error}` : null, r.stdout?.trim() ? indent(r.stdout.trim()) : null, r.stderr?.trim() ? indent(r.stderr.trim(), 'stderr| ') : null].filter(Boolean);
      return [`result of ${s.tool ?? '?'}: ${bits.join(', ')}`, ...out].join('\n');
    }
  }
}

/** The first lines of an output, indented under its step. */
function indent(text: string, prefix = '  | ', maxLines = 20): string {
  const lines = text.split('\n');
  const shown = lines.slice(0, maxLines).map((l) => prefix + l);
  if (lines.length > maxLines) shown.push(`${prefix}… ${lines.length - maxLines} more lines`);
  return shown.join('\n');
}

import { createHash } from 'node:crypto';
import type { AuditLog, TaskRecord } from '@aiflock/core';

/**
 * Task types that are tool runs: code or commands an agent's sandbox executed (the users asked: "all
 * tool calls are logged"). Plain handlers (echo, llm) are not tools; the gateway's own calls
 * are in the usage log and the ledger.
 */
export const TOOL_TASK_TYPES: ReadonlySet<string> = new Set(['shell', 'browser', 'http', 'files']);

/**
 * Records each finished tool run in the tamper-evident audit log: which instance ran what
 * for which agent, how it ended, and a digest of the input and output, so an edited job row
 * no longer matches its audit entry. The full command and output stay in the job itself
 * (they may be large or hold things the audit log should not copy).
 */
export function toolRunAuditor(audit: AuditLog, log: (level: 'error', msg: string) => void): (task: TaskRecord) => void {
  return (task) => {
    if (!TOOL_TASK_TYPES.has(task.type)) return;
    const output = task.output as { exitCode?: unknown } | null;
    const started = task.startedAt ? Date.parse(task.startedAt) : NaN;
    const finished = task.finishedAt ? Date.parse(task.finishedAt) : NaN;
    void audit
      .record({
        actor: task.instanceId ? `instance:${task.instanceId}` : `agent:${task.agent}`,
        action: 'tool.run',
        resource: `task/${task.id}`,
        outcome: task.status === 'completed' ? 'ok' : 'error',
        correlationId: task.id,
        details: {
          agent: task.agent,
          type: task.type,
          status: task.status,
          attempt: task.attempt,
          exitCode: typeof output?.exitCode === 'number' ? output.exitCode : null,
          durationMs: Number.isFinite(started) && Number.isFinite(finished) ? finished - started : null,
          inputSha256: digest(task.input),
          outputSha256: digest(task.output),
          error: task.error,
        },
      })
      .catch((err) => log('error', `audit of tool run ${task.id} failed: ${String(err)}`));
  };
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value ?? null)).digest('hex');
}

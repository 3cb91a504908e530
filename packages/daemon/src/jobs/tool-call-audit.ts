import type { AuditLog, Store, TaskStepRecord } from '@aiflock/core';

/**
 * Records each tool call of an agent loop in the tamper-evident audit log, when its result
 * arrives: agent, instance, task, tool, arguments, cwd, exit code, duration, the sha256 of
 * stdout and stderr, the URLs fetched and the outcome (the users asked that "all tool calls are logged").
 * The arguments come from the call's own step, read back from the store, so an audit entry
 * is complete after a daemon restart between call and result too.
 */
export function toolCallAuditor(audit: AuditLog, steps: Store['taskSteps'], log: (level: 'error', msg: string) => void): (record: TaskStepRecord) => void {
  return ({ agent, instanceId, step }) => {
    if (step.kind !== 'tool_result' || !step.result) return;
    const result = step.result;
    void (async () => {
      const call = (await steps.list(step.taskId, 10_000)).find((r) => r.instanceId === instanceId && r.step.kind === 'tool_call' && r.step.callId === step.callId && r.step.seq < step.seq);
      await audit.record({
        actor: `instance:${instanceId}`,
        action: 'tool.call',
        resource: `task/${step.taskId}`,
        outcome: result.ok ? 'ok' : 'error',
        correlationId: step.taskId,
        details: {
          agent,
          instance: instanceId,
          task: step.taskId,
          tool: step.tool ?? call?.step.text ?? null,
          callId: step.callId ?? null,
          args: call?.step.args ?? null,
          cwd: result.cwd ?? null,
          exitCode: result.exitCode ?? null,
          durationMs: result.durationMs,
          stdoutSha256: result.stdoutSha256 ?? null,
          stderrSha256: result.stderrSha256 ?? null,
          urls: result.urls ?? [],
          error: result.error ?? null,
        },
      });
    })().catch((err: unknown) => log('error', `audit of tool call ${step.callId ?? '?'} of task ${step.taskId} failed: ${String(err)}`));
  };
}

import { stat } from 'node:fs/promises';
import * as z from 'zod';
import { runInGroup } from '../process-group.js';
import { jsonSchemaOf, parseArgs } from './args.js';
import { boundText } from './bound.js';
import { ToolError, type AgentTool } from './tool.js';
import { insideWorkspace, shown } from './workspace.js';

/** What a command may print into memory; the step carries less (STEP_OUTPUT_MAX), the sha256 all. */
const CAPTURE_LIMIT = 1024 * 1024;
const MAX_TIMEOUT_MS = 3_600_000;

const Args = z
  .object({
    command: z.string().min(1).describe('A /bin/sh command line'),
    cwd: z.string().min(1).optional().describe('Working directory, relative to the workspace (default: the workspace)'),
    stdin: z.string().max(1_000_000).optional().describe('Text written to the command\'s standard input'),
    timeoutMs: z.number().int().min(1).max(MAX_TIMEOUT_MS).optional().describe('Kill the command after this many milliseconds'),
  })
  .strict();

/** `/bin/sh -c` in the workspace, its own process group, output streamed as log lines while it runs. */
export const shellTool: AgentTool = {
  name: 'shell',
  description: 'Run a shell command in the workspace and get its exit code, stdout and stderr. Output is also streamed to the task log while it runs.',
  parameters: jsonSchemaOf(Args),
  async run(raw, ctx) {
    const args = parseArgs('shell', Args, raw);
    const root = await insideWorkspace(ctx.workspace, '.');
    const cwd = await insideWorkspace(ctx.workspace, args.cwd ?? '.');
    if (!(await stat(cwd).then((s) => s.isDirectory(), () => false))) throw new ToolError(`working directory "${args.cwd}" does not exist in the workspace`);
    const out = await runInGroup({
      command: args.command,
      cwd,
      env: process.env,
      signal: ctx.signal,
      timeoutMs: args.timeoutMs,
      stdin: args.stdin,
      limit: CAPTURE_LIMIT,
      onLine: (stream, line) => ctx.log.info(line, { stream, tool: 'shell', callId: ctx.callId }),
    });
    const stdout = boundText(out.stdout.text());
    const stderr = boundText(out.stderr.text());
    const how = out.interrupted
      ? `interrupted (${out.interrupted})`
      : out.timedOut
        ? `killed after its timeout of ${args.timeoutMs} ms`
        : out.exitCode === null
          ? `killed by ${out.signal ?? 'a signal'}`
          : `exit code ${out.exitCode}`;
    return {
      content: `${how}\n--- stdout ---\n${stdout.text}\n--- stderr ---\n${stderr.text}`,
      summary: {
        ok: out.exitCode === 0,
        durationMs: out.durationMs,
        cwd: shown(root, cwd),
        exitCode: out.exitCode,
        stdout: stdout.text,
        stderr: stderr.text,
        stdoutSha256: out.stdoutSha256,
        stderrSha256: out.stderrSha256,
        truncated: stdout.truncated || stderr.truncated || out.stdout.truncated || out.stderr.truncated,
        ...(out.exitCode === 0 ? {} : { error: how }),
      },
    };
  },
};

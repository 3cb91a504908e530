import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';

export interface ExecResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command inside a container as its configured user and collect its output. */
export async function execIn(container: Dockerode.Container, cmd: string[], timeoutMs = 30_000): Promise<ExecResult> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false });
  const stream = await exec.start({ hijack: true, stdin: false });
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d: Buffer) => (stdout += d.toString()));
  err.on('data', (d: Buffer) => (stderr += d.toString()));
  container.modem.demuxStream(stream, out, err);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.destroy();
      reject(new Error(`exec ${cmd.join(' ').slice(0, 80)} timed out after ${timeoutMs} ms; stdout=${stdout} stderr=${stderr}`));
    }, timeoutMs);
    const done = () => (clearTimeout(timer), resolve());
    stream.once('end', done);
    stream.once('close', done);
    stream.once('error', (e) => (clearTimeout(timer), reject(e)));
  });
  // The stream can end a moment before Docker records the exit code.
  let info = await exec.inspect();
  for (let i = 0; info.Running && i < 40; i++) {
    await new Promise((r) => setTimeout(r, 50));
    info = await exec.inspect();
  }
  return { exitCode: info.ExitCode ?? null, stdout, stderr };
}

/** Start a long-running command inside a container and return at once. */
export async function execDetached(container: Dockerode.Container, cmd: string[]): Promise<void> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: false, AttachStderr: false, Tty: false });
  await exec.start({ Detach: true });
}

/** `node -e <script> args...` inside the container; the script prints one JSON line. */
export async function nodeProbe<T>(container: Dockerode.Container, script: string, args: string[] = [], timeoutMs = 30_000): Promise<T> {
  const r = await execIn(container, ['node', '-e', script, ...args], timeoutMs);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`probe printed no JSON (exit ${r.exitCode}): stdout=${r.stdout} stderr=${r.stderr}`);
  }
}

import { PassThrough, type Duplex } from 'node:stream';
import type Dockerode from 'dockerode';
import { FlockError, type ExecRequest, type ExecSession } from '@aiflock/core';

const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number }).statusCode;

/**
 * `docker exec` into a flock container. No `User` is given, so the command runs as the
 * container's own user (uid 1001 for restricted sandboxes, remapped root for operator ones),
 * and it joins the container's cgroup, so its cpu, memory and pids limits hold for it too.
 */
export async function execInContainer(container: Dockerode.Container, modem: Dockerode['modem'], instanceId: string, req: ExecRequest): Promise<ExecSession> {
  const info = await container.inspect().catch((err: unknown) => {
    if (statusOf(err) === 404) return null;
    throw err;
  });
  if (!info || !info.State.Running) throw new FlockError('instance_not_running', `instance ${instanceId} is not running; exec needs a running sandbox`, { instance: instanceId });
  // A frozen (quarantined) sandbox would take the command and never run it.
  if (info.State.Paused) throw new FlockError('agent_quarantined', `instance ${instanceId} is quarantined (frozen); release its agent to exec into it`, { instance: instanceId });
  const exec = await container.exec({
    Cmd: req.command,
    AttachStdin: req.stdin,
    AttachStdout: true,
    AttachStderr: true,
    Tty: req.tty,
    ...(req.tty ? { Env: ['TERM=xterm-256color'] } : {}),
    ...(req.tty && req.cols && req.rows ? { ConsoleSize: [req.rows, req.cols] } : {}),
  });
  const stream = (await exec.start({ hijack: true, stdin: req.stdin, Tty: req.tty })) as Duplex;
  // Engines that ignore ConsoleSize start the terminal at 0x0: size it now, as `docker exec -t` does.
  if (req.tty && req.cols && req.rows) await exec.resize({ w: req.cols, h: req.rows }).catch(() => undefined);
  const out = new PassThrough();
  const err = new PassThrough();
  // Without a tty Docker multiplexes stdout and stderr on one connection, 8-byte framed.
  if (req.tty) stream.pipe(out);
  else modem.demuxStream(stream, out, err);
  const listeners: ((s: 'stdout' | 'stderr', d: Uint8Array) => void)[] = [];
  out.on('data', (d: Buffer) => listeners.forEach((l) => l('stdout', d)));
  err.on('data', (d: Buffer) => listeners.forEach((l) => l('stderr', d)));
  const ended = new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
  let paused = false;
  const exited = (async () => {
    // The connection normally ends when the command does, and Docker then knows its exit code.
    // An engine may keep a hijacked tty connection open after the process is gone, so its
    // state is also asked every half second: the command's end never waits on the socket.
    let streamEnded = false;
    void ended.then(() => (streamEnded = true));
    let checksAfterEnd = 0;
    for (;;) {
      await Promise.race([ended, new Promise((r) => setTimeout(r, streamEnded ? 20 : 500))]);
      const state = await exec.inspect().catch(() => null);
      if (state && !state.Running) {
        // A paused reader still has output on the socket: it is read to its end first.
        while (paused && !streamEnded) await Promise.race([ended, new Promise((r) => setTimeout(r, 50))]);
        // Output written just before the end may still be in flight on the socket: let it drain.
        await Promise.race([ended, new Promise((r) => setTimeout(r, 200))]);
        stream.destroy();
        return state.ExitCode ?? -1;
      }
      // The connection is gone and Docker cannot say how the command ended (its container went).
      if (streamEnded && (!state || ++checksAfterEnd >= 50)) return -1;
    }
  })();
  return {
    onOutput: (l) => void listeners.push(l),
    write: (d) => void stream.write(d),
    // Half-close: the command reads EOF and may still write its output.
    closeStdin: () => void stream.end(),
    resize: async (cols, rows) => {
      if (req.tty) await exec.resize({ w: cols, h: rows }).catch(() => {});
    },
    exited,
    detach: () => stream.destroy(),
    // The engine's connection stops being read: the command blocks once the engine's buffers fill.
    pause: () => {
      paused = true;
      stream.pause();
    },
    resume: () => {
      paused = false;
      stream.resume();
    },
  };
}

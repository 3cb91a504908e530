import { connect } from 'node:net';

/**
 * Docker starts a sandbox's process in a fresh network namespace, and only then can the
 * control plane close Docker's embedded DNS in it (an iptables rule set from outside with
 * nsenter; see docker-runtime.ts). That happens after the first start and after every restart
 * Docker makes on its own (restart policy). So that no code of the agent, nor anything a task
 * runs, ever sees that window, the runtime starts nothing until a connection to the gate's
 * address is refused. It does not give up: a sandbox whose namespace was not closed (the
 * daemon is down) waits for the daemon to come back and close it.
 */
export async function waitForNetworkGate(gate: string, say: (line: string) => void, pollMs = 100): Promise<void> {
  const [host, port] = [gate.slice(0, gate.lastIndexOf(':')), Number(gate.slice(gate.lastIndexOf(':') + 1))];
  let waited = false;
  for (;;) {
    const reached = await new Promise<boolean>((done) => {
      const s = connect({ host, port });
      const end = (v: boolean) => (s.destroy(), done(v));
      s.once('connect', () => end(true));
      s.once('error', () => end(false));
      s.setTimeout(2000, () => end(false));
    });
    if (!reached) break;
    if (!waited) say(`waiting: ${gate} is still reachable in this sandbox; starting once the control plane has closed it`);
    waited = true;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  say(`network gate passed: ${gate} is closed`);
}

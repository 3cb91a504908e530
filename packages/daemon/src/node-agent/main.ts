#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { NodeAgent, type NodeAgentSettings } from './node-agent.js';

/**
 * `aiflock node join` runs this on the joining host, after the join, with the file it wrote
 * (name, bus URL, inbox prefix, heartbeat interval, credentials). Exit codes: 0 stopped by a
 * signal, 1 failed to start, 3 cut off by the control plane (the node was removed).
 */
async function main(): Promise<number> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: node-agent <joined-node.json>');
  const s = JSON.parse(await readFile(file, 'utf8')) as NodeAgentSettings;
  const log = (msg: string) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), node: s.name, msg })}\n`);
  const agent = await NodeAgent.start(s, log);
  process.stdout.write(`node ${s.name} joined; heartbeating to ${s.natsUrl} every ${s.heartbeatMs} ms\n`);
  let stopping = false;
  const stopped = new Promise<number>((resolve) => {
    // Kept, not `once`: a signal usually comes twice, from `aiflock node join` forwarding it and
    // straight to this process in the same group (a terminal's ^C, systemd's stop), and the second
    // would kill this process mid-stop, before its exec sessions are ended and its connection drained.
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.on(sig, () => {
        if (stopping) return;
        stopping = true;
        log(`stopping (${sig})`);
        void agent.stop().then(() => resolve(0));
      });
    }
  });
  const cut = agent.closed().then((err) => {
    // Its own drain closes the connection too: that is the stop, not the control plane's cut.
    if (stopping) return stopped;
    log(`the bus closed the node's connection${err ? `: ${err.message}` : ''}`);
    return 3;
  });
  return Promise.race([stopped, cut]);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`aiflock node: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);

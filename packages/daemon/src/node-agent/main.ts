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
  const stopped = new Promise<number>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void agent.stop().then(() => resolve(0)));
  });
  const cut = agent.closed().then((err) => {
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

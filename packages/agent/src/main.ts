// Only what an idle instance needs is imported here; every handler but echo, and with them
// most of @aiflock/protocol's schemas, is loaded at its first task (lazyHandler, task-path.ts).
// A test (bundle.test.ts) keeps it so.
import { nkeys } from 'nats';
import { AGENT_TASK_TYPE } from '@aiflock/protocol/agent-loop';
import { startBusRelay, startProxyRelay } from './bus-relay.js';
import { parseRuntimeEnv } from './env.js';
import { echo } from './handlers/echo.js';
import { waitForNetworkGate } from './network-gate.js';
import { runAgent } from './runtime.js';
import { defineAgent, lazyHandler } from './sdk.js';
import { waitForClaim } from './warm-claim.js';

/** Exit code for a launcher that got the environment contract wrong: restarting will not help. */
const EXIT_BAD_ENV = 2;

const say = (line: string) => process.stderr.write(`aiflock-agent: ${line}\n`);
// A warm sandbox has no identity yet: it waits here until one is claimed for an instance.
// Whatever does not depend on the identity is done before, off the new instance's path: the
// network gate (the claim keeps the sandbox's network namespace: same process, same rule)
// and the task path's modules, which the first task would otherwise load.
const warmGate = process.env['AIFLOCK_WARM_IDENTITY'] ? process.env['AIFLOCK_NETWORK_GATE'] : undefined;
await waitForClaim(process.env, say, {
  prepare: async () => {
    if (warmGate) await waitForNetworkGate(warmGate, say);
    await import('./task-path.js');
    // The bus handshake signs the server's nonce with the instance's key: the signing code is
    // compiled now, with a throwaway key, not at the claim (under the sandbox's CPU quota).
    const throwaway = nkeys.createUser();
    for (let i = 0; i < 3; i++) throwaway.sign(new Uint8Array(32));
  },
});
const parsed = parseRuntimeEnv(process.env);
if (!parsed.ok) {
  process.stderr.write(`aiflock-agent: ${parsed.error}\n`);
  process.exit(EXIT_BAD_ENV);
}

// Nothing runs before the sandbox's network is as the control plane means it to be.
const gate = parsed.env.AIFLOCK_NETWORK_GATE;
if (gate && gate !== warmGate) await waitForNetworkGate(gate, say);

// The process runtime and operator sandboxes have no network: the bus arrives as a Unix
// socket (see bus-relay.ts), and so does the egress proxy for operator sandboxes that have one.
const busSocket = parsed.env.AIFLOCK_BUS_SOCKET;
if (busSocket) await startBusRelay(busSocket, parsed.env.AIFLOCK_NATS_URL);
const proxySocket = parsed.env.AIFLOCK_PROXY_SOCKET;
const proxyUrl = process.env['HTTP_PROXY'];
if (proxySocket && proxyUrl) await startProxyRelay(proxySocket, proxyUrl);

// The agent loop exists only where the manifest asked for it (the launcher then sets AIFLOCK_AGENT_LOOP).
const loop = parsed.env.AIFLOCK_AGENT_LOOP;
const handlers = {
  echo,
  shell: lazyHandler(async () => (await import('./handlers/shell.js')).shell),
  llm: lazyHandler(async () => (await import('./handlers/llm.js')).llm),
  browser: lazyHandler(async () => (await import('./handlers/browser.js')).browser),
  ...(loop
    ? {
        [AGENT_TASK_TYPE]: lazyHandler(async () => {
          const [{ agentLoop }, { TOOLS }] = await Promise.all([import('./loop/agent-loop.js'), import('./tools/index.js')]);
          return agentLoop(loop, TOOLS);
        }),
      }
    : {}),
};
const agent = runAgent(defineAgent({ handlers }), parsed.env);

let signals = 0;
const onSignal = (sig: NodeJS.Signals): void => {
  // A second signal means the operator is done waiting for the graceful stop.
  if (++signals > 1) process.exit(130);
  process.stderr.write(`aiflock-agent: ${sig} received, stopping\n`);
  void agent.stop();
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

agent.done.then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`aiflock-agent: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);

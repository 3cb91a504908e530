import type { NatsConnection } from 'nats';
import { busClients, type BusClients } from './bus-clients.js';
import { busRpc, callOp } from './bus-rpc.js';
import { LlmClient } from './llm-client.js';
import { TaskRunner, type TaskRunnerOptions } from './task-runner.js';

/** What running tasks (and a villager's loop) needs beyond what an idle instance holds. */
export interface TaskPath {
  llm: LlmClient;
  clients: BusClients;
  runner: TaskRunner;
}

/**
 * The bus clients (the whole op catalogue, `AGENT_OPS`, with the zod schemas of every op),
 * the model client and the task runner. The runtime loads this module with `import()` when
 * the first task arrives, so an idle instance never builds them: they are most of what the
 * protocol's schemas cost in memory (see bench/README.md, "Idle cost").
 */
export function taskPath(nc: NatsConnection, instanceId: string, runner: Omit<TaskRunnerOptions, 'llm' | 'clients' | 'claim'>): TaskPath {
  const llm = new LlmClient(nc, instanceId, (nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
  const rpc = busRpc(nc, instanceId);
  const clients = busClients(rpc);
  return { llm, clients, runner: new TaskRunner({ ...runner, llm, clients, claim: (input) => callOp(rpc, 'tasks.claim', input) }) };
}

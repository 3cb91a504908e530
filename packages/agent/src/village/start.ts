import type { VillageSettings } from '@aiflock/protocol';
import type { BusClients } from '../bus-clients.js';
import type { TaskLogger } from '../sdk.js';
import type { Policy } from './decision.js';
import { LlmPolicy, type LlmPort } from './llm-policy.js';
import { VillageLoop, type LoopClock } from './loop.js';
import { RulesPolicy } from './rules-policy.js';

export interface VillageDeps {
  agent: string;
  settings: VillageSettings;
  clients: BusClients;
  llm: LlmPort;
  log: Pick<TaskLogger, 'info' | 'warn'>;
  clock?: LoopClock;
}

/** The loop for this villager, with the policy its manifest names and `rules` as the fallback. */
export function villageLoop(d: VillageDeps): VillageLoop {
  const rules = new RulesPolicy({ agent: d.agent, persona: d.settings.persona, home: d.settings.home });
  const policy: Policy = d.settings.policy === 'llm' ? new LlmPolicy({ agent: d.agent, persona: d.settings.persona, llm: d.llm, model: d.settings.model }) : rules;
  return new VillageLoop({
    every: d.settings.every,
    decisionTimeout: d.settings.decisionTimeout,
    policy,
    fallback: rules,
    world: d.clients.world,
    board: d.clients.board,
    memory: d.clients.memory,
    log: d.log,
    ...(d.clock ? { clock: d.clock } : {}),
  });
}

/**
 * Several replicas of one villager share its body. Each runs this loop: the world applies
 * their moves in order (the last goal wins), and the perception hands each heard line and
 * each reply to exactly one of them, so nothing is answered twice. Replicas only make the
 * villager decide more often, so villagers' manifests keep `replicas: 1`.
 */
export function runVillage(d: VillageDeps, signal: AbortSignal): { loop: VillageLoop; done: Promise<void> } {
  d.log.info(`village loop: policy ${d.settings.policy}, a turn every ${d.settings.every} ms, decisions abandoned after ${d.settings.decisionTimeout} ms`);
  const loop = villageLoop(d);
  const done = loop.run(signal).then(() => d.log.info('village loop stopped'));
  return { loop, done };
}

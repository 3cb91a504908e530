import type { RpcRouter } from '../rpc/router.js';
import type { HumanQuestions } from './questions.js';

/** `agent.<id>.rpc.human.ask|wait`: the caller is the instance in the subject; its agent must own the task. */
export function mountHumanOps(rpc: RpcRouter, questions: HumanQuestions): void {
  rpc.op('human.ask', (caller, input) => questions.ask(caller, input));
  rpc.op('human.wait', (caller, input) => questions.wait(caller, input));
}

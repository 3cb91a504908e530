import { HUMAN_RPC, HumanAskRpc, HumanWaitRpc } from '@aiflock/protocol';
import type { RpcRouter } from '../rpc/router.js';
import type { HumanQuestions } from './questions.js';

/** `agent.<id>.rpc.human.ask|wait`: the caller is the instance in the subject; its agent must own the task. */
export function mountHumanOps(rpc: RpcRouter, questions: HumanQuestions): void {
  rpc.unary(HUMAN_RPC.service, HUMAN_RPC.ask, HumanAskRpc, (caller, input) => questions.ask(caller, input));
  rpc.unary(HUMAN_RPC.service, HUMAN_RPC.wait, HumanWaitRpc, (caller, input) => questions.wait(caller, input));
}

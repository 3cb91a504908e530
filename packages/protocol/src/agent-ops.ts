import * as z from 'zod';
import { TaskView } from './api.js';
import { Entitlements } from './compute.js';
import { DelegateRpc, DelegationWaitRpc } from './delegation.js';
import { TaskClaim, TaskClaimRpc, TaskPullReply, TaskPullRpc } from './task-claim.js';
import { ContextSearchInput, MemoryAddInput, MemoryRecallInput, MemoryReflectInput, RecalledMemory, SearchResult } from './context.js';
import { GetPost, NewPost, NewReply, PostPage, PostQuery, PostThread, PostView, PurchaseRequest, ReplyView, ResolvePost } from './economy.js';
import { PurchaseOutcome } from './ledger.js';
import { HumanAskReply, HumanAskRpc, HumanWaitReply, HumanWaitRpc } from './people.js';
import { LlmChatResult, LlmChatRpc, LlmStreamChunk } from './rpc.js';
import { Accepted, ActionRequest, DeclarePolicy, MoveRequest, Perception, Tile } from './world.js';

/**
 * Every op an agent may call on the bus (`agent.<instanceId>.rpc.<service>.<op>`, see
 * `subjects.rpc` and `rpc.ts` for the framing), with its input and its result: the one
 * catalogue the control plane mounts its handlers from and the agent's clients parse replies
 * with. A streaming op also names its chunk; its result comes in the end frame.
 */

const NoInput = z.object({}).strict();

const unary = <I extends z.ZodType, O extends z.ZodType>(input: I, output: O) => ({ kind: 'unary' as const, input, output });
const streaming = <I extends z.ZodType, C extends z.ZodType, O extends z.ZodType>(input: I, chunk: C, output: O) => ({ kind: 'streaming' as const, input, chunk, output });

export const MoveOutcome = z.object({ goal: Tile.nullable(), path: z.number().int() });
export type MoveOutcome = z.infer<typeof MoveOutcome>;
export const MemoryAdded = z.object({ id: z.string(), importance: z.number(), reflected: z.number().int(), summarised: z.number().int() });

export const AGENT_OPS = {
  /** Stop a stream this instance started, naming the reply subject it used. */
  'stream.cancel': unary(z.object({ inbox: z.string().min(1) }).strict(), z.object({ cancelled: z.boolean() })),
  /** Without `model`, the agent's manifest model applies, else `default`. */
  'llm.chat': unary(LlmChatRpc, LlmChatResult),
  'llm.stream': streaming(LlmChatRpc, LlmStreamChunk, LlmChatResult),
  /** The models this agent may use. */
  'llm.models': unary(NoInput.optional(), z.object({ models: z.array(z.string()) })),
  'board.post': unary(NewPost, PostView),
  'board.reply': unary(NewReply, ReplyView),
  'board.list': unary(PostQuery, PostPage),
  'board.get': unary(GetPost, PostThread),
  'board.resolve': unary(ResolvePost, PostView),
  /** The agent's own standing: balance (cents), the tier in force and its limits. */
  'economy.status': unary(NoInput, Entitlements),
  /** Buy a tier for some hours with the agent's own money; idempotent on the key. */
  'economy.purchase': unary(PurchaseRequest, PurchaseOutcome),
  /** What the villager sees; the villager is always the caller's agent. */
  'world.perceive': unary(NoInput, Perception),
  /** Path length in tiles to the goal. */
  'world.move': unary(MoveRequest, MoveOutcome),
  'world.act': unary(ActionRequest, Accepted),
  /** The villager says which policy and model it runs. */
  'world.declare': unary(DeclarePolicy, Accepted),
  'memory.add': unary(MemoryAddInput, MemoryAdded),
  'memory.recall': unary(MemoryRecallInput, z.object({ memories: z.array(RecalledMemory) })),
  'memory.reflect': unary(MemoryReflectInput.optional(), z.object({ reflections: z.number().int() })),
  /** Only collections shared with the caller's agent; a missing one and a hidden one answer alike. */
  'context.search': unary(ContextSearchInput, SearchResult),
  /** Idempotent per (task, call). */
  'human.ask': unary(HumanAskRpc, HumanAskReply),
  /** Holds up to `waitMs`; call again until answered. */
  'human.wait': unary(HumanWaitRpc, HumanWaitReply),
  /** Queue a task on another agent for one of the caller's running tasks (the manifest's `delegates`). */
  'tasks.delegate': unary(DelegateRpc, TaskView),
  /** A task the caller's agent delegated: as it stands after up to `waitMs`; call again until it has finished. */
  'tasks.wait': unary(DelegationWaitRpc, TaskView),
  /** Whether a task delivered again may run here (see task-claim.ts). */
  'tasks.claim': unary(TaskClaimRpc, TaskClaim),
  /** Pull tasks of the caller's queue to its `deliveries.<id>.<request>` (see task-claim.ts). */
  'tasks.pull': unary(TaskPullRpc, TaskPullReply),
} as const;

export type AgentOp = keyof typeof AGENT_OPS;
export type AgentOpInput<K extends AgentOp> = z.input<(typeof AGENT_OPS)[K]['input']>;
export type AgentOpOutput<K extends AgentOp> = z.output<(typeof AGENT_OPS)[K]['output']>;

/** `board.post` → `['board', 'post']`: the subject's last two tokens. */
export function opParts(name: AgentOp): [service: string, op: string] {
  const [service, op] = name.split('.') as [string, string];
  return [service, op];
}

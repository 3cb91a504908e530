import type { AgentOpInput, AgentOpOutput, DeclarePolicy, Entitlements, HumanAskReply, HumanAskRpc, HumanWaitReply, HumanWaitRpc, MoveOutcome, MoveRequest, Perception, PostThread, PostView, RecalledMemory, ReplyView } from '@aiflock/protocol';
import { callOp, type RpcCall } from './bus-rpc.js';
import { TasksClient } from './delegate.js';

/**
 * Typed helpers over the agent's bus ops (`AGENT_OPS`). Inputs are checked here with the same
 * schemas the control plane uses, so a handler's mistake fails at the call with the field
 * named instead of as a remote validation error; replies are parsed, not trusted. The agent
 * is always the caller: no op takes an identity.
 */

export type BoardPost = PostView;
export type BoardReply = ReplyView;

export class BoardClient {
  constructor(private readonly call: RpcCall) {}
  post(input: AgentOpInput<'board.post'>): Promise<BoardPost> {
    return callOp(this.call, 'board.post', input);
  }
  reply(input: AgentOpInput<'board.reply'>): Promise<BoardReply> {
    return callOp(this.call, 'board.reply', input);
  }
  list(query: AgentOpInput<'board.list'> = {}): Promise<AgentOpOutput<'board.list'>> {
    return callOp(this.call, 'board.list', query);
  }
  get(postId: string): Promise<PostThread> {
    return callOp(this.call, 'board.get', { postId });
  }
}

/** The agent's own standing: balance (cents), the tier in force and its limits. */
export type EconomyStatus = Entitlements;

export class EconomyClient {
  constructor(private readonly call: RpcCall) {}
  status(): Promise<EconomyStatus> {
    return callOp(this.call, 'economy.status', {});
  }
  /** Buy a tier for some hours with the agent's own money; idempotent on the key. */
  purchase(input: AgentOpInput<'economy.purchase'>): Promise<AgentOpOutput<'economy.purchase'>> {
    return callOp(this.call, 'economy.purchase', input);
  }
}

/** The village, as this agent's villager sees and moves in it. */
export class WorldClient {
  constructor(private readonly call: RpcCall) {}
  perceive(): Promise<Perception> {
    return callOp(this.call, 'world.perceive', {});
  }
  move(req: MoveRequest): Promise<MoveOutcome> {
    return callOp(this.call, 'world.move', req);
  }
  async act(req: AgentOpInput<'world.act'>): Promise<void> {
    await callOp(this.call, 'world.act', req);
  }
  async declare(req: DeclarePolicy): Promise<void> {
    await callOp(this.call, 'world.declare', req);
  }
}

export type MemoryKind = 'observation' | 'action' | 'reply' | 'reflection';

/** The agent's own memory stream (Generative Agents style: recency, importance, relevance). */
export class MemoryClient {
  constructor(private readonly call: RpcCall) {}
  add(input: { kind: MemoryKind; text: string; importance?: number }): Promise<{ id: string; importance: number }> {
    return callOp(this.call, 'memory.add', input);
  }
  async recall(query: string, k = 8): Promise<RecalledMemory[]> {
    return (await callOp(this.call, 'memory.recall', { query, k })).memories;
  }
}

/** Questions to people: asked once per tool call, the answer waited for in long polls. */
export class HumanClient {
  constructor(private readonly call: RpcCall) {}
  ask(input: HumanAskRpc): Promise<HumanAskReply> {
    return callOp(this.call, 'human.ask', input);
  }
  /** Holds up to `waitMs` on the control plane; the request itself may take a little longer. */
  wait(input: HumanWaitRpc): Promise<HumanWaitReply> {
    return callOp(this.call, 'human.wait', input, (input.waitMs ?? 20_000) + 10_000);
  }
}

/** Everything an agent may ask the control plane for over the bus, besides models. */
export interface BusClients {
  board: BoardClient;
  economy: EconomyClient;
  world: WorldClient;
  memory: MemoryClient;
  human: HumanClient;
  tasks: TasksClient;
}

export function busClients(call: RpcCall): BusClients {
  return { board: new BoardClient(call), economy: new EconomyClient(call), world: new WorldClient(call), memory: new MemoryClient(call), human: new HumanClient(call), tasks: new TasksClient(call) };
}

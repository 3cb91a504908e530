import {
  ActionRequest,
  HUMAN_RPC,
  HumanAskReply,
  HumanAskRpc,
  HumanWaitReply,
  HumanWaitRpc,
  DeclarePolicy,
  MoveRequest,
  NewPost,
  NewReply,
  Perception,
  PostQuery,
  WORLD_RPC,
  type PostView,
  type RecalledMemory,
  type ReplyView,
  type Tile,
} from '@aiflock/protocol';
import type { z } from 'zod';
import type { RpcCall } from './bus-rpc.js';

/**
 * Typed helpers over the agent's bus ops. Inputs are checked here with the same schemas the
 * control plane uses, so a handler's mistake fails at the call with the field named instead
 * of as a remote validation error. The agent is always the caller: no op takes an identity.
 */

export type BoardPost = PostView;
export type BoardReply = ReplyView;

export class BoardClient {
  constructor(private readonly call: RpcCall) {}
  post(input: z.input<typeof NewPost>): Promise<BoardPost> {
    return this.call('board', 'post', NewPost.parse(input)) as Promise<BoardPost>;
  }
  reply(input: z.input<typeof NewReply>): Promise<BoardReply> {
    return this.call('board', 'reply', NewReply.parse(input)) as Promise<BoardReply>;
  }
  list(query: z.input<typeof PostQuery> = {}): Promise<{ posts: BoardPost[]; next: string | null }> {
    return this.call('board', 'list', PostQuery.parse(query)) as Promise<{ posts: BoardPost[]; next: string | null }>;
  }
  get(postId: string): Promise<BoardPost & { replies: BoardReply[] }> {
    return this.call('board', 'get', { postId }) as Promise<BoardPost & { replies: BoardReply[] }>;
  }
}

/** The agent's own standing: balance (cents), the tier in force and its limits. */
export interface EconomyStatus {
  agent: string;
  tier: string;
  basis: 'balance' | 'purchase' | 'frozen';
  balance: number;
  frozen: boolean;
  until: string | null;
  limits: Record<string, unknown>;
}

export class EconomyClient {
  constructor(private readonly call: RpcCall) {}
  status(): Promise<EconomyStatus> {
    return this.call('economy', 'status', {}) as Promise<EconomyStatus>;
  }
  /** Buy a tier for some hours with the agent's own money; idempotent on the key. */
  purchase(input: { tier: string; hours: number; idempotencyKey: string }): Promise<unknown> {
    return this.call('economy', 'purchase', input);
  }
}

const [worldService] = WORLD_RPC.perceive.split('.') as [string];
const op = (name: string) => name.split('.')[1]!;

/** The village, as this agent's villager sees and moves in it. */
export class WorldClient {
  constructor(private readonly call: RpcCall) {}
  async perceive(): Promise<Perception> {
    return Perception.parse(await this.call(worldService, op(WORLD_RPC.perceive), {}));
  }
  move(req: MoveRequest): Promise<{ goal: Tile | null; path: number }> {
    return this.call(worldService, op(WORLD_RPC.move), MoveRequest.parse(req)) as Promise<{ goal: Tile | null; path: number }>;
  }
  async act(req: z.input<typeof ActionRequest>): Promise<void> {
    await this.call(worldService, op(WORLD_RPC.act), ActionRequest.parse(req));
  }
  async declare(req: DeclarePolicy): Promise<void> {
    await this.call(worldService, op(WORLD_RPC.declare), DeclarePolicy.parse(req));
  }
}

export type MemoryKind = 'observation' | 'action' | 'reply' | 'reflection';

/** The agent's own memory stream (Generative Agents style: recency, importance, relevance). */
export class MemoryClient {
  constructor(private readonly call: RpcCall) {}
  add(input: { kind: MemoryKind; text: string; importance?: number }): Promise<{ id: string; importance: number }> {
    return this.call('memory', 'add', input) as Promise<{ id: string; importance: number }>;
  }
  async recall(query: string, k = 8): Promise<RecalledMemory[]> {
    const r = (await this.call('memory', 'recall', { query, k })) as { memories: RecalledMemory[] };
    return r.memories;
  }
}

/** Questions to people: asked once per tool call, the answer waited for in long polls. */
export class HumanClient {
  constructor(private readonly call: RpcCall) {}
  async ask(input: HumanAskRpc): Promise<HumanAskReply> {
    return HumanAskReply.parse(await this.call(HUMAN_RPC.service, HUMAN_RPC.ask, HumanAskRpc.parse(input)));
  }
  /** Holds up to `waitMs` on the control plane; the request itself may take a little longer. */
  async wait(input: HumanWaitRpc): Promise<HumanWaitReply> {
    const req = HumanWaitRpc.parse(input);
    return HumanWaitReply.parse(await this.call(HUMAN_RPC.service, HUMAN_RPC.wait, req, req.waitMs + 10_000));
  }
}

/** Everything an agent may ask the control plane for over the bus, besides models. */
export interface BusClients {
  board: BoardClient;
  economy: EconomyClient;
  world: WorldClient;
  memory: MemoryClient;
  human: HumanClient;
}

export function busClients(call: RpcCall): BusClients {
  return { board: new BoardClient(call), economy: new EconomyClient(call), world: new WorldClient(call), memory: new MemoryClient(call), human: new HumanClient(call) };
}

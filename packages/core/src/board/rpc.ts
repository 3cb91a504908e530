import type { RpcCaller, RpcRouter } from '../rpc/router.js';
import type { BoardService } from './board-service.js';

/**
 * The board's bus operations (`agent.<id>.rpc.board.<op>`), mounted from the catalogue
 * (`AGENT_OPS`), which gives each its input and result. The caller's identity is the only
 * author an agent can post as.
 */
export function mountBoardOps(rpc: RpcRouter, board: BoardService): void {
  const as = (c: RpcCaller) => ({ kind: 'agent' as const, name: c.agent });
  rpc.op('board.post', (c, i) => board.createPost(as(c), i));
  rpc.op('board.reply', (c, i) => board.reply(as(c), i));
  rpc.op('board.list', (c, i) => board.list(as(c), i));
  rpc.op('board.get', (c, i) => board.get(as(c), i.postId));
  rpc.op('board.resolve', (c, i) => board.resolve(as(c), i.postId, i.awardTo));
}

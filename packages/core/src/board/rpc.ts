import { GetPost, NewPost, NewReply, PostQuery, ResolvePost } from '@aiflock/protocol';
import type { RpcOp as RpcHandler } from '../rpc-handler.js';
import type { RpcCaller } from '../rpc/router.js';
import type { BoardService } from './board-service.js';

/**
 * The board's bus operations (`agent.<id>.rpc.board.<op>`), as plain functions with their
 * input schemas, so the RPC router registers each in one line. The caller's identity is the
 * only author an agent can post as.
 */
export function boardRpcHandlers(board: BoardService) {
  const as = (c: RpcCaller) => ({ kind: 'agent' as const, name: c.agent });
  const post: RpcHandler<NewPost> = { input: NewPost, handle: (c, i) => board.createPost(as(c), i) };
  const reply: RpcHandler<NewReply> = { input: NewReply, handle: (c, i) => board.reply(as(c), i) };
  const list: RpcHandler<PostQuery> = { input: PostQuery, handle: (c, i) => board.list(as(c), i) };
  const get: RpcHandler<{ postId: string }> = { input: GetPost, handle: (c, i) => board.get(as(c), i.postId) };
  const resolve: RpcHandler<ResolvePost> = { input: ResolvePost, handle: (c, i) => board.resolve(as(c), i.postId, i.awardTo) };
  return { 'board.post': post, 'board.reply': reply, 'board.list': list, 'board.get': get, 'board.resolve': resolve };
}

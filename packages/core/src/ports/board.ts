import type { PostView, ReplyView } from '@aiflock/protocol';

/** What the store keeps is what the board answers: one shape (see the protocol). */
export type PostRecord = PostView;
export type ReplyRecord = ReplyView;

export interface PostFilter {
  status?: PostRecord['status'];
  /** Exclude these statuses (readers who are not admins never list moderated posts). */
  notStatus?: PostRecord['status'][];
  tag?: string;
  authorId?: string;
  /** Only these audiences. */
  audiences?: string[];
  before?: string;
  limit: number;
}

export interface BoardStore {
  insertPost(p: PostRecord): Promise<void>;
  getPost(id: string): Promise<PostRecord | undefined>;
  listPosts(f: PostFilter): Promise<PostRecord[]>;
  setStatus(id: string, status: PostRecord['status'], moderation: PostRecord['moderation'], updatedAt: string): Promise<PostRecord | undefined>;
  insertReply(r: ReplyRecord): Promise<void>;
  listReplies(postId: string, limit: number): Promise<ReplyRecord[]>;
  /** Posts plus replies by this author since `since`, for the per-author rate limit. */
  countByAuthorSince(authorId: string, since: string): Promise<number>;
}

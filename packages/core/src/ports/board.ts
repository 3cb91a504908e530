export interface PostRecord {
  id: string;
  authorType: 'agent' | 'human' | 'system';
  authorId: string;
  audience: string;
  title: string;
  body: string;
  tags: string[];
  status: 'open' | 'closed' | 'resolved' | 'moderated';
  /** Cents escrowed from the author when the post was made; 0 for none. */
  bounty: number;
  /** Why an admin changed the status last (moderation hides, never deletes). */
  moderation: { by: string; action: string; reason: string; at: string } | null;
  createdAt: string;
  updatedAt: string;
}

export interface ReplyRecord {
  id: string;
  postId: string;
  authorType: 'agent' | 'human' | 'system';
  authorId: string;
  body: string;
  createdAt: string;
}

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

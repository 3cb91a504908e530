import { FlockError } from '../errors.js';
import { newSortableId } from '../ids.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../ports/clock.js';
import type { BoardStore, PostRecord, ReplyRecord } from '../ports/board.js';
import type { LedgerStore } from '../ports/ledger.js';
import { agentAccount, humanAccount, isAccountId, ESCROW, type AccountId } from '../economy/accounts.js';
import type { Ledger } from '../economy/ledger.js';

/** Who is reading or writing: an agent (from its bus subject), a person, an admin, the system. */
export type BoardActor = { kind: 'agent'; name: string } | { kind: 'human'; id: string } | { kind: 'admin'; id: string } | { kind: 'system' };

export interface BoardLimits {
  maxTitle: number;
  maxBody: number;
  maxTags: number;
  postsPerMinute: number;
}

export interface PostView extends PostRecord {
  replies: ReplyRecord[];
  /** Rewards and penalties given on this post, in cents (the users' wish: visible on the post). */
  rewards: { total: number; penalties: number; count: number };
  bountyState: { state: 'none' | 'escrowed' | 'paid' | 'refunded'; to: string | null };
}

export type BoardEvent = { type: 'post'; post: PostRecord } | { type: 'reply'; reply: ReplyRecord; audience: string } | { type: 'status'; post: PostRecord };

const authorOf = (a: BoardActor): { authorType: PostRecord['authorType']; authorId: string } =>
  a.kind === 'agent' ? { authorType: 'agent', authorId: `agent:${a.name}` }
  : a.kind === 'system' ? { authorType: 'system', authorId: 'system' }
  : { authorType: 'human', authorId: `human:${a.id}` };

/** The audiences a reader may see. People (and admins) supervise the board, so they see every audience. */
export function audiencesFor(a: BoardActor): string[] | undefined {
  return a.kind === 'agent' ? ['public', 'agents', `agent:${a.name}`] : undefined;
}

const REPLY_PREVIEW_LIMIT = 200;

/**
 * The town bulletin board: posts and replies with audiences, size and rate limits,
 * bounties escrowed from the author's balance, moderation that hides without deleting, and
 * every write audited and pushed to subscribers.
 */
export class BoardService {
  private readonly listeners = new Set<(e: BoardEvent) => void>();

  constructor(
    private readonly deps: { store: BoardStore; ledger: Ledger; ledgerStore: LedgerStore; audit: AuditLog; clock: Clock; limits: BoardLimits },
  ) {}

  /** Subscribe to new posts, replies and status changes; returns the unsubscribe. */
  subscribe(fn: (e: BoardEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: BoardEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e);
      } catch {
        // A broken subscriber must not fail the write that already happened.
      }
    }
  }

  async createPost(actor: BoardActor, input: { title: string; body: string; tags: string[]; audience: string; bounty?: number | undefined }): Promise<PostRecord> {
    this.checkSize(input.title, input.body, input.tags);
    const author = authorOf(actor);
    await this.checkRate(author.authorId);
    const now = this.deps.clock.now();
    const post: PostRecord = {
      id: newSortableId('post', now),
      ...author,
      audience: input.audience,
      title: input.title,
      body: input.body,
      tags: [...new Set(input.tags)],
      status: 'open',
      bounty: input.bounty ?? 0,
      moderation: null,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
    };
    if (post.bounty > 0) {
      if (actor.kind === 'system') throw new FlockError('validation_failed', 'bounty: the system does not post bounties', { field: 'bounty' });
      const from: AccountId = actor.kind === 'agent' ? agentAccount(actor.name) : humanAccount(actor.id);
      // Escrowed before the post exists: a refused escrow (insufficient funds) leaves no post.
      await this.deps.ledger.transfer({
        from,
        to: ESCROW,
        amount: post.bounty,
        reason: 'bounty_escrow',
        source: author.authorId,
        actor: author.authorId,
        idempotencyKey: `bounty:${post.id}`,
        postId: post.id,
      });
    }
    await this.deps.store.insertPost(post);
    await this.deps.audit.record({ actor: author.authorId, action: 'board.post', resource: `post/${post.id}`, outcome: 'ok', details: { title: post.title, audience: post.audience, bounty: post.bounty } });
    this.emit({ type: 'post', post });
    return post;
  }

  async reply(actor: BoardActor, input: { postId: string; body: string }): Promise<ReplyRecord> {
    this.checkSize(null, input.body, []);
    const post = await this.visiblePost(actor, input.postId);
    if (post.status !== 'open') throw new FlockError('validation_failed', `postId: post ${post.id} is ${post.status} and takes no replies`, { field: 'postId', status: post.status });
    const author = authorOf(actor);
    await this.checkRate(author.authorId);
    const reply: ReplyRecord = { id: newSortableId('reply', this.deps.clock.now()), postId: post.id, ...author, body: input.body, createdAt: this.deps.clock.now().toISOString() };
    await this.deps.store.insertReply(reply);
    await this.deps.audit.record({ actor: author.authorId, action: 'board.reply', resource: `post/${post.id}`, outcome: 'ok', details: { reply: reply.id } });
    this.emit({ type: 'reply', reply, audience: post.audience });
    return reply;
  }

  async list(actor: BoardActor, q: { status?: PostRecord['status'] | undefined; tag?: string | undefined; author?: string | undefined; cursor?: string | undefined; limit: number }): Promise<{ posts: PostRecord[]; next: string | null }> {
    const admin = actor.kind === 'admin';
    if (q.status === 'moderated' && !admin) return { posts: [], next: null };
    const audiences = audiencesFor(actor);
    const posts = await this.deps.store.listPosts({
      ...(q.status ? { status: q.status } : {}),
      ...(admin ? {} : { notStatus: ['moderated' as const] }),
      ...(q.tag ? { tag: q.tag } : {}),
      ...(q.author ? { authorId: q.author } : {}),
      ...(audiences ? { audiences } : {}),
      ...(q.cursor ? { before: q.cursor } : {}),
      limit: q.limit,
    });
    return { posts, next: posts.length === q.limit ? posts[posts.length - 1]!.id : null };
  }

  async get(actor: BoardActor, postId: string): Promise<PostView> {
    const post = await this.visiblePost(actor, postId);
    const [replies, txns] = await Promise.all([this.deps.store.listReplies(post.id, REPLY_PREVIEW_LIMIT), this.deps.ledgerStore.list({ postId: post.id, limit: 1000 })]);
    const rewards = { total: 0, penalties: 0, count: 0 };
    for (const t of txns) {
      if (t.reason === 'reward') rewards.total += t.amount;
      else if (t.reason === 'penalty') rewards.penalties += t.amount;
      else continue;
      rewards.count++;
    }
    return { ...post, replies, rewards, bountyState: await this.bountyState(post) };
  }

  /**
   * Admin: hide (moderated), close, resolve or reopen. Hidden posts stay stored, for the
   * audit. Hiding or closing a post returns an unpaid bounty to its author.
   */
  async moderate(admin: { id: string }, postId: string, action: 'hide' | 'close' | 'resolve' | 'reopen', reason: string): Promise<PostRecord> {
    const post = await this.deps.store.getPost(postId);
    if (!post) throw new FlockError('post_not_found', `no post ${postId}`);
    const status = ({ hide: 'moderated', close: 'closed', resolve: 'resolved', reopen: 'open' } as const)[action];
    if ((action === 'hide' || action === 'close') && (await this.bountyState(post)).state === 'escrowed') {
      await this.settle(post, post.authorId as AccountId, 'bounty_refund', admin.id);
    }
    return this.setStatus(post, status, { by: admin.id, action, reason }, admin.id);
  }

  /**
   * The author (or an admin) marks a post resolved, optionally paying its bounty to someone
   * who replied. Without a winner the bounty goes back to the author.
   */
  async resolve(actor: BoardActor, postId: string, awardTo?: string): Promise<PostRecord> {
    const post = await this.visiblePost(actor, postId);
    const who = authorOf(actor).authorId;
    if (actor.kind !== 'admin' && who !== post.authorId) throw new FlockError('validation_failed', `postId: only the author of post ${post.id} or an admin may resolve it`, { field: 'postId' });
    if (post.status !== 'open') throw new FlockError('validation_failed', `postId: post ${post.id} is ${post.status}, not open`, { field: 'postId', status: post.status });
    if (awardTo !== undefined) {
      const repliers = new Set((await this.deps.store.listReplies(post.id, 1000)).map((r) => r.authorId));
      repliers.delete(post.authorId);
      if (!repliers.has(awardTo) || !isAccountId(awardTo)) {
        throw new FlockError('validation_failed', `awardTo: ${awardTo} did not reply to post ${post.id} (repliers: ${[...repliers].join(', ') || 'none'})`, { field: 'awardTo' });
      }
    }
    if ((await this.bountyState(post)).state === 'escrowed') {
      await this.settle(post, (awardTo ?? post.authorId) as AccountId, awardTo ? 'bounty_payout' : 'bounty_refund', who);
    }
    return this.setStatus(post, 'resolved', { by: who, action: 'resolve', reason: awardTo ? `awarded to ${awardTo}` : 'resolved' }, who);
  }

  private async setStatus(post: PostRecord, status: PostRecord['status'], m: { by: string; action: string; reason: string }, actor: string): Promise<PostRecord> {
    const now = this.deps.clock.now().toISOString();
    const updated = await this.deps.store.setStatus(post.id, status, { ...m, at: now }, now);
    await this.deps.audit.record({ actor, action: `board.${m.action}`, resource: `post/${post.id}`, outcome: 'ok', details: { reason: m.reason, from: post.status, to: status } });
    this.emit({ type: 'status', post: updated! });
    return updated!;
  }

  /** Pay out or refund a bounty from escrow; the cap makes it happen at most once per post, whichever way. */
  private async settle(post: PostRecord, to: AccountId, reason: 'bounty_payout' | 'bounty_refund', actor: string): Promise<void> {
    await this.deps.ledger.transfer({
      from: ESCROW,
      to,
      amount: post.bounty,
      reason,
      source: actor,
      actor,
      idempotencyKey: `${reason}:${post.id}`,
      postId: post.id,
      caps: [{ name: `bounty of post ${post.id}`, max: post.bounty, reasons: ['bounty_payout', 'bounty_refund'], postId: post.id }],
    });
  }

  private async bountyState(post: PostRecord): Promise<{ state: 'none' | 'escrowed' | 'paid' | 'refunded'; to: string | null }> {
    if (post.bounty === 0) return { state: 'none', to: null };
    const txns = await this.deps.ledgerStore.list({ postId: post.id, limit: 1000 });
    const settled = txns.find((t) => t.reason === 'bounty_payout' || t.reason === 'bounty_refund');
    if (!settled) return { state: 'escrowed', to: null };
    return { state: settled.reason === 'bounty_payout' ? 'paid' : 'refunded', to: settled.to };
  }

  /** The post if this reader may see it; otherwise not found (its existence is not disclosed). */
  async visiblePost(actor: BoardActor, postId: string): Promise<PostRecord> {
    const post = await this.deps.store.getPost(postId);
    const audiences = audiencesFor(actor);
    const visible = post && (actor.kind === 'admin' || post.status !== 'moderated') && (!audiences || audiences.includes(post.audience));
    if (!post || !visible) throw new FlockError('post_not_found', `no post ${postId}`);
    return post;
  }

  private checkSize(title: string | null, body: string, tags: string[]): void {
    const l = this.deps.limits;
    if (title !== null && title.length > l.maxTitle) throw new FlockError('validation_failed', `title: at most ${l.maxTitle} characters, got ${title.length}`, { field: 'title' });
    if (body.length > l.maxBody) throw new FlockError('payload_too_large', `body: at most ${l.maxBody} characters, got ${body.length}`, { field: 'body', limit: l.maxBody });
    if (tags.length > l.maxTags) throw new FlockError('validation_failed', `tags: at most ${l.maxTags}, got ${tags.length}`, { field: 'tags' });
  }

  private async checkRate(authorId: string): Promise<void> {
    if (authorId === 'system') return;
    const since = new Date(this.deps.clock.now().getTime() - 60_000).toISOString();
    const n = await this.deps.store.countByAuthorSince(authorId, since);
    if (n >= this.deps.limits.postsPerMinute) {
      throw new FlockError('rate_limited', `${authorId} wrote ${n} posts and replies in the last minute (limit ${this.deps.limits.postsPerMinute})`, { limit: this.deps.limits.postsPerMinute, retryAfterSeconds: 60 });
    }
  }
}

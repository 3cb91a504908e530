import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { aiDollars, api, ApiError, parseAiDollars, wsUrl } from '../api.js';
import type { PostView, ReplyView } from '@aiflock/protocol';
import { LiveSocket, type LinkState } from '../live-socket.js';
import { AgentSelect } from './AgentSelect.js';
import { ModerationForm, ModerationNote } from './ModerationForm.js';

type Post = PostView;
type Reply = ReplyView;
type Thread = Post & { replies: Reply[]; rewards: { total: number; penalties: number; count: number } };

interface Filter {
  status: string;
  tag: string;
  author: string;
}

const agentOf = (authorId: string) => (authorId.startsWith('agent:') ? authorId.slice(6) : null);
const matches = (f: Filter, p: Post) => !((f.status && p.status !== f.status) || (f.tag && !p.tags.includes(f.tag)) || (f.author && p.authorId !== f.author));
const newestFirst = (a: Post, b: Post) => b.createdAt.localeCompare(a.createdAt);

/**
 * The bulletin board: browse and filter posts, read a thread, reply, reward or penalize an
 * agent for it; admins also hide and restore posts. Every text is rendered as text (React
 * escapes it), never as HTML.
 */
export function Board({ onLink, admin }: { onLink: (name: string, state: LinkState) => void; admin: boolean }) {
  const [filter, setFilter] = useState<Filter>({ status: '', tag: '', author: '' });
  const [posts, setPosts] = useState<Post[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [openId, setOpenId] = useState<string | null>(() => new URLSearchParams(location.hash.split('?')[1]).get('post'));
  const [thread, setThread] = useState<Thread | null>(null);
  const filterRef = useRef(filter);
  filterRef.current = filter;
  const openRef = useRef(openId);
  openRef.current = openId;
  const [notice, setNotice] = useState<string | null>(null);

  const open = useCallback((id: string | null) => {
    setOpenId(id);
    setNotice(null);
    history.replaceState(null, '', id ? `#/board?post=${id}` : '#/board');
  }, []);

  const loadPosts = useCallback(async (f: Filter) => {
    const q = new URLSearchParams({ limit: '100' });
    if (f.status) q.set('status', f.status);
    if (f.tag) q.set('tag', f.tag.trim());
    if (f.author) q.set('author', f.author.trim());
    try {
      const out = await api<{ posts: Post[] }>(`/v1/board/posts?${q}`);
      setPosts(out.posts);
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, []);

  const loadThread = useCallback(async (id: string) => {
    try {
      setThread(await api<Thread>(`/v1/board/posts/${encodeURIComponent(id)}`));
    } catch (err) {
      setError((err as Error).message);
      setThread(null);
    }
  }, []);

  useEffect(() => void loadPosts(filter), [filter, loadPosts]);
  useEffect(() => {
    if (openId) void loadThread(openId);
    else setThread(null);
  }, [openId, loadThread]);

  // Live: new posts, replies and status changes; on every (re)connect, reload what is shown.
  useEffect(() => {
    const socket = new LiveSocket({
      url: () => wsUrl('/v1/ws/board'),
      onState: (s) => onLink('board', s),
      onOpen: () => {
        void loadPosts(filterRef.current);
        if (openRef.current) void loadThread(openRef.current);
      },
      onMessage: (data) => {
        const m = data as { type: string; payload: Post | Reply | { id: string; status: Post['status'] } };
        if (m.type === 'post') {
          const p = m.payload as Post;
          if (!matches(filterRef.current, p)) return;
          setPosts((ps) => (ps.some((x) => x.id === p.id) ? ps : [p, ...ps]));
        } else if (m.type === 'reply') {
          const r = m.payload as Reply;
          setThread((t) => (t && t.id === r.postId && !t.replies.some((x) => x.id === r.id) ? { ...t, replies: [...t.replies, r] } : t));
        } else if (m.type === 'status') {
          const s = m.payload as Post;
          // A reader who is not an admin is told only that a post was hidden (no text): it leaves the page.
          if (s.status === 'moderated' && !admin) {
            setPosts((ps) => ps.filter((p) => p.id !== s.id));
            if (openRef.current === s.id) {
              open(null);
              setNotice('The post you were reading was hidden by a moderator.');
            }
            return;
          }
          // A restored post comes back in full, also to readers whose list never had it.
          setPosts((ps) => (ps.some((p) => p.id === s.id) ? ps.map((p) => (p.id === s.id ? { ...p, ...s } : p)) : matches(filterRef.current, s) ? [...ps, s].sort(newestFirst) : ps));
          if (openRef.current === s.id) void loadThread(s.id);
        }
      },
    });
    return () => socket.close();
  }, [loadPosts, loadThread, onLink, open, admin]);

  return (
    <div className="board">
      <section aria-labelledby="posts-title" className="posts-panel">
        <h2 id="posts-title">Board</h2>
        <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter posts">
          <label>
            Status
            <select value={filter.status} onChange={(e) => setFilter({ ...filter, status: e.target.value })}>
              <option value="">any</option>
              <option value="open">open</option>
              <option value="resolved">resolved</option>
              <option value="closed">closed</option>
              {admin && <option value="moderated">hidden (moderated)</option>}
            </select>
          </label>
          <label>
            Tag
            <input value={filter.tag} onChange={(e) => setFilter({ ...filter, tag: e.target.value })} placeholder="e.g. help" />
          </label>
          <label>
            Author
            <input value={filter.author} onChange={(e) => setFilter({ ...filter, author: e.target.value })} placeholder="agent:name" />
          </label>
        </form>
        {error && <p role="alert" className="error">{error}</p>}
        {notice && <p role="status">{notice}</p>}
        <ul className="posts" aria-label="Posts">
          {posts.map((p) => (
            <li key={p.id}>
              <button type="button" className={p.status === 'moderated' ? 'post-link hidden-post' : 'post-link'} aria-current={p.id === openId} onClick={() => open(p.id)} data-post={p.id}>
                <span className="p-title">{p.title}</span>
                <span className="p-meta">
                  <span title={p.authorId}>{p.authorName ?? p.authorId}</span> · {p.status === 'moderated' ? 'hidden' : p.status}
                  {p.tags.length > 0 && ` · ${p.tags.join(', ')}`}
                  {p.bounty > 0 && ` · bounty ${aiDollars(p.bounty)}`}
                  {p.status === 'moderated' && p.moderation && ` · ${p.moderation.reason}`}
                </span>
              </button>
            </li>
          ))}
          {posts.length === 0 && !error && <li>No posts match.</li>}
        </ul>
        <NewPostForm onPosted={(p) => open(p.id)} />
      </section>
      {thread ? (
        <ThreadView thread={thread} admin={admin} onClose={() => open(null)} reload={() => void loadThread(thread.id)} />
      ) : (
        // The reading column stays in place with nothing open, so the page does not jump when a post opens.
        <section className="thread thread-empty" aria-label="No post open" data-testid="thread-empty">
          <p className="note">Pick a post to read its thread and reply, or write a new one.</p>
        </section>
      )}
    </div>
  );
}

function NewPostForm({ onPosted }: { onPosted: (p: Post) => void }) {
  const [title, setTitle] = useState('');
  const [body, setBody] = useState('');
  const [tags, setTags] = useState('');
  const [msg, setMsg] = useState<{ error?: string } | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const p = await api<Post>('/v1/board/posts', { method: 'POST', body: { title, body, tags: tags.split(/[\s,]+/).filter(Boolean) } });
      setTitle('');
      setBody('');
      setTags('');
      setMsg(null);
      onPosted(p);
    } catch (err) {
      setMsg({ error: (err as Error).message });
    }
  };
  return (
    <details className="new-post">
      <summary>Write a post</summary>
      <form onSubmit={(e) => void submit(e)}>
        <label>
          Title
          <input required value={title} onChange={(e) => setTitle(e.target.value)} name="title" />
        </label>
        <label htmlFor="new-post-body">Body</label>
        <textarea id="new-post-body" required value={body} onChange={(e) => setBody(e.target.value)} rows={4} name="body" />
        <label>
          Tags (space or comma separated)
          <input value={tags} onChange={(e) => setTags(e.target.value)} name="tags" />
        </label>
        <button type="submit">Post</button>
        {msg?.error && <p role="alert" className="error">{msg.error}</p>}
      </form>
    </details>
  );
}

function ThreadView({ thread, admin, onClose, reload }: { thread: Thread; admin: boolean; onClose: () => void; reload: () => void }) {
  const [reply, setReply] = useState('');
  const [replyError, setReplyError] = useState<string | null>(null);
  const agents = [...new Set([agentOf(thread.authorId), ...thread.replies.map((r) => agentOf(r.authorId))].filter((a): a is string => a !== null))];

  const sendReply = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api(`/v1/board/posts/${thread.id}/replies`, { method: 'POST', body: { body: reply } });
      setReply('');
      setReplyError(null);
      reload();
    } catch (err) {
      setReplyError((err as Error).message);
    }
  };

  return (
    <article className="thread" aria-labelledby="thread-title" data-testid="thread">
      <div className="details-head">
        <h2 id="thread-title">{thread.title}</h2>
        <button type="button" onClick={onClose}>
          Back to the list
        </button>
      </div>
      <p className="p-meta">
        by <span title={thread.authorId}>{thread.authorName ?? thread.authorId}</span> · {thread.status === 'moderated' ? 'hidden' : thread.status} · {new Date(thread.createdAt).toLocaleString()} · rewards {aiDollars(thread.rewards.total)}, penalties {aiDollars(thread.rewards.penalties)}
      </p>
      <ModerationNote post={thread} />
      <div className="post-body" data-testid="post-body">
        {thread.body}
      </div>
      <h3>Replies ({thread.replies.length})</h3>
      <ol className="replies" aria-label="Replies">
        {thread.replies.map((r) => (
          <li key={r.id} className="reply">
            <span className="p-meta">
              <span title={r.authorId}>{r.authorName ?? r.authorId}</span> · {new Date(r.createdAt).toLocaleTimeString()}
            </span>
            <div className="reply-body">{r.body}</div>
          </li>
        ))}
      </ol>
      {thread.status === 'open' && (
        <form onSubmit={(e) => void sendReply(e)} className="reply-form">
          <label htmlFor="reply-body">Your reply</label>
          <textarea id="reply-body" required value={reply} onChange={(e) => setReply(e.target.value)} rows={3} name="reply" />
          <button type="submit">Reply</button>
          {replyError && <p role="alert" className="error">{replyError}</p>}
        </form>
      )}
      {agents.length > 0 && <RewardForm postId={thread.id} agents={agents} onDone={reload} />}
      {admin && <ModerationForm post={thread} onDone={reload} />}
    </article>
  );
}

function RewardForm({ postId, agents, onDone }: { postId: string; agents: string[]; onDone: () => void }) {
  const [agent, setAgent] = useState(agents[0]!);
  const [amount, setAmount] = useState('');
  const [reason, setReason] = useState('');
  const [msg, setMsg] = useState<{ ok?: string; error?: string } | null>(null);
  const submit = async (kind: 'reward' | 'penalize') => {
    const parsed = parseAiDollars(amount);
    if ('error' in parsed) return setMsg({ error: parsed.error });
    if (!reason.trim()) return setMsg({ error: 'say why (the reason is kept with the transaction)' });
    try {
      const out = await api<{ applied: boolean; balance: number }>(`/v1/economy/${kind}`, {
        method: 'POST',
        body: { agent, amount: parsed.cents, postId, note: reason.trim(), idempotencyKey: `web-${crypto.randomUUID()}` },
      });
      setMsg({ ok: `${kind === 'reward' ? 'Rewarded' : 'Penalized'} ${agent} ${aiDollars(parsed.cents)} aiDollars; balance now ${aiDollars(out.balance)}.` });
      setAmount('');
      setReason('');
      onDone();
    } catch (err) {
      setMsg({ error: err instanceof ApiError ? err.message : String(err) });
    }
  };
  return (
    <form className="reward-form" onSubmit={(e) => e.preventDefault()} aria-label="Reward or penalize">
      <h3>Reward or penalize</h3>
      <AgentSelect agents={agents} value={agent} onChange={setAgent} name="agent" />
      <label>
        Amount (aiDollars)
        <input inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} name="amount" placeholder="2.50" />
      </label>
      <label>
        Reason
        <input value={reason} onChange={(e) => setReason(e.target.value)} name="reason" maxLength={500} />
      </label>
      <div className="buttons">
        <button type="button" onClick={() => void submit('reward')}>
          Reward
        </button>
        <button type="button" className="danger" onClick={() => void submit('penalize')}>
          Penalize
        </button>
      </div>
      {msg?.ok && <p role="status">{msg.ok}</p>}
      {msg?.error && <p role="alert" className="error">{msg.error}</p>}
    </form>
  );
}

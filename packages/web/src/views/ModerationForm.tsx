import { useState, type FormEvent } from 'react';
import type { ModerateRequest, PostView } from '@aiflock/protocol';
import { api } from '../api.js';
import { Message, useAction } from './admin/use-load.js';

/** The wire body, checked against the protocol's schema at compile time (no zod in the bundle). */
type Moderate = ReturnType<typeof ModerateRequest.parse>;

/**
 * Admin only: hide a post (stored still, gone for everyone else) or restore it (reopened).
 * The reason is required by the API; a refusal shows the API's own message here.
 */
export function ModerationForm({ post, onDone }: { post: PostView; onDone: () => void }) {
  const [reason, setReason] = useState('');
  const { busy, message, run } = useAction();
  const hidden = post.status === 'moderated';
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: Moderate = { action: hidden ? 'reopen' : 'hide', reason: reason.trim() };
    void run(async () => {
      await api(`/v1/board/posts/${encodeURIComponent(post.id)}/moderate`, { method: 'POST', body });
      setReason('');
      onDone();
      return hidden ? 'Restored: the post is open again and everyone can read it.' : 'Hidden: only admins can see the post now.';
    });
  };
  return (
    <form className="moderation-form" onSubmit={submit} aria-labelledby="moderate-title">
      <h3 id="moderate-title">Moderate</h3>
      <label>
        Moderation reason
        <input value={reason} onChange={(e) => setReason(e.target.value)} name="moderation-reason" maxLength={2000} />
      </label>
      <button type="submit" className={hidden ? undefined : 'danger'} disabled={busy}>
        {hidden ? 'Restore' : 'Hide'}
      </button>
      {hidden && <p className="note">Restoring reopens the post.</p>}
      <Message message={message} />
    </form>
  );
}

/** Why the post's status last changed (a hide, close, reopen or resolve); hidden posts reach admins only. */
export function ModerationNote({ post }: { post: PostView }) {
  const m = post.moderation;
  if (!m) return null;
  const what = post.status === 'moderated' ? 'Hidden from everyone but admins' : `Last status change (${m.action})`;
  return (
    <p className={post.status === 'moderated' ? 'moderation-note hidden-note' : 'moderation-note'} data-testid="moderation-note">
      {what} by {m.by} on {new Date(m.at).toLocaleString()}: {m.reason}
    </p>
  );
}

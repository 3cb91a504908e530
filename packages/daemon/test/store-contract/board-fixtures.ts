import type { PostRecord, ReplyRecord } from '@aiflock/core';

/** Board rows for storage tests: a post by `authorId` and replies to it, at fixed times. */
export const at = (ms: number) => new Date(Date.parse('2026-06-01T00:00:00Z') + ms);
export const post = (id: string, authorId: string): PostRecord => ({
  id,
  authorType: authorId.startsWith('agent:') ? 'agent' : 'human',
  authorId,
  audience: 'public',
  title: 'Where is the mill?',
  body: 'body',
  tags: [],
  status: 'open',
  bounty: 0,
  moderation: null,
  createdAt: at(0).toISOString(),
  updatedAt: at(0).toISOString(),
});
export const reply = (id: string, postId: string, authorId: string, ms = 1): ReplyRecord => ({
  id,
  postId,
  authorType: authorId.startsWith('agent:') ? 'agent' : 'human',
  authorId,
  body: `${authorId} says ${id}`,
  createdAt: at(ms).toISOString(),
});

import { newTaskId, type TaskRecord } from '@aiflock/core';

/** A queued task record; override what the test is about. */
export const task = (over: Partial<TaskRecord> = {}): TaskRecord => ({
  id: newTaskId(new Date()),
  agent: 'echo',
  type: 'echo',
  status: 'queued',
  input: { hello: 'flock', n: [1, 2] },
  result: null,
  output: null,
  error: null,
  attempt: 1,
  maxAttempts: 3,
  instanceId: null,
  idempotencyKey: null,
  requestHash: 'h1',
  createdAt: new Date().toISOString(),
  startedAt: null,
  finishedAt: null,
  deadline: new Date(Date.now() + 60_000).toISOString(),
  queueSeq: null,
  ...over,
});

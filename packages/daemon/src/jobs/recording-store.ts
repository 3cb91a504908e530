import { isTerminal, type JobEventRecord, type Store, type TaskPathWrites, type TaskRecord, type TaskStepRecord } from '@aiflock/core';

type NewEvent = Omit<JobEventRecord, 'seq'>;

/**
 * The store, with every change of a job's status and every log line of a job also appended
 * to that job's event stream. Every path that changes a task (API, ingest of results, sweeper,
 * cancel) goes through `tasks.insert`, `tasks.transition` and `logs.append`, so recording
 * here misses none of them and needs no change in the core's services. `onFinished` sees
 * every task that reaches a final status (the context plane records runs from it);
 * `onStep` every agent-loop step recorded for the first time (tool results are audited).
 */
export function recordingJobEvents(store: Store, now: () => string, onFinished?: (task: TaskRecord) => void, onStep?: (record: TaskStepRecord) => void): Store {
  // A change and its job events are one write (one commit, all or nothing). `onFinished` runs
  // only after that commit; `finished` is reset when a failed group runs the write again alone.
  const together = async <T>(row: string, fn: (w: TaskPathWrites) => Promise<T>): Promise<T> => {
    const finished: TaskRecord[] = [];
    const out = await store.together(row, (w) => {
      finished.length = 0;
      return fn(recording(w, now, finished));
    });
    if (onFinished) for (const t of finished) onFinished(t);
    return out;
  };
  const tasks: Store['tasks'] = {
    ...store.tasks,
    insert: (record) => together(record.id, (w) => w.tasks.insert(record)),
    transition: (id, from, patch) => together(id, (w) => w.tasks.transition(id, from, patch)),
  };
  const logs: Store['logs'] = {
    ...store.logs,
    append: async (lines) => {
      if (lines.length > 0) await together(lines[0]!.taskId ?? '', (w) => w.logs.append(lines));
    },
  };
  const taskSteps: Store['taskSteps'] = {
    list: (taskId, limit) => store.taskSteps.list(taskId, limit),
    // The step and its job event in one write: a reader never sees one without the other.
    append: async (record) => {
      const fresh = await together(record.step.taskId, (w) => w.taskSteps.append(record));
      if (fresh) onStep?.(record);
      return fresh;
    },
  };
  // Everything else is the store's own, getters included (a spread would drop those).
  return Object.assign(Object.create(store) as Store, { tasks, logs, taskSteps, together });
}

/** `w` with each status change, task log line and step also appended to its job's events, in the same transaction. */
function recording(w: TaskPathWrites, now: () => string, finished: TaskRecord[]): TaskPathWrites {
  return {
    jobEvents: w.jobEvents,
    tasks: {
      get: (id) => w.tasks.get(id),
      insert: async (record) => {
        const out = await w.tasks.insert(record);
        if (out.inserted) await w.jobEvents.append([statusEvent(out.task, now())]);
        return out;
      },
      transition: async (id, from, patch) => {
        const out = await w.tasks.transition(id, from, patch);
        if (out && patch.status !== undefined) await w.jobEvents.append(eventsOf(out, now()));
        if (out && patch.status !== undefined && isTerminal(out.status)) finished.push(out);
        return out;
      },
    },
    taskSteps: {
      append: async (record) => {
        const fresh = await w.taskSteps.append(record);
        if (fresh) await w.jobEvents.append([{ jobId: record.step.taskId, type: 'step', ts: record.step.ts, payload: record.step }]);
        return fresh;
      },
    },
    logs: {
      append: async (lines) => {
        await w.logs.append(lines);
        const events: NewEvent[] = lines
          .filter((l) => l.taskId)
          .map((l) => ({ jobId: l.taskId!, type: 'log', ts: l.ts, payload: { level: l.level, msg: l.msg, instanceId: l.instanceId } }));
        await w.jobEvents.append(events);
      },
    },
  };
}

function statusEvent(t: TaskRecord, ts: string): NewEvent {
  return { jobId: t.id, type: 'status', ts, payload: { status: t.status, attempt: t.attempt, instanceId: t.instanceId } };
}

function eventsOf(t: TaskRecord, ts: string): NewEvent[] {
  const events = [statusEvent(t, ts)];
  if (t.status === 'completed') events.push({ jobId: t.id, type: 'result', ts, payload: { result: t.result, output: t.output ?? null } });
  else if (isTerminal(t.status)) events.push({ jobId: t.id, type: 'error', ts, payload: { status: t.status, error: t.error } });
  return events;
}

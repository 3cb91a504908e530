import { isTerminal, type JobEventRecord, type Store, type TaskRecord, type TaskStepRecord } from '@aiflock/core';

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
  const tasks: Store['tasks'] = {
    ...store.tasks,
    insert: async (record) => {
      const out = await store.tasks.insert(record);
      if (out.inserted) await store.jobEvents.append([statusEvent(out.task, now())]);
      return out;
    },
    transition: async (id, from, patch) => {
      const out = await store.tasks.transition(id, from, patch);
      if (out && patch.status !== undefined) await store.jobEvents.append(eventsOf(out, now()));
      if (out && patch.status !== undefined && isTerminal(out.status)) onFinished?.(out);
      return out;
    },
  };
  const logs: Store['logs'] = {
    ...store.logs,
    append: async (lines) => {
      await store.logs.append(lines);
      const events: NewEvent[] = lines
        .filter((l) => l.taskId)
        .map((l) => ({ jobId: l.taskId!, type: 'log', ts: l.ts, payload: { level: l.level, msg: l.msg, instanceId: l.instanceId } }));
      await store.jobEvents.append(events);
    },
  };
  const taskSteps: Store['taskSteps'] = {
    list: (taskId, limit) => store.taskSteps.list(taskId, limit),
    append: async (record) => {
      const fresh = await store.taskSteps.append(record);
      if (!fresh) return false;
      await store.jobEvents.append([{ jobId: record.step.taskId, type: 'step', ts: record.step.ts, payload: record.step }]);
      onStep?.(record);
      return true;
    },
  };
  // Everything else is the store's own, getters included (a spread would drop those).
  return Object.assign(Object.create(store) as Store, { tasks, logs, taskSteps });
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

import { ACTIVE_STATUSES } from '../task/lifecycle.js';
import type { TaskService, TaskServiceDeps } from './tasks.js';

/**
 * Periodic safety nets: tasks past their deadline are timed out even if their instance
 * died silently, and tasks recorded but not yet published (bus was down) are published.
 * A task waiting for a person whose deadline is paused (`ask_human` with `pauseDeadline`)
 * is left alone: its deadline moves by the time waited once the answer comes.
 */
export class TaskSweeper {
  /** Grace after the deadline for the instance to report timed_out itself. */
  static readonly GRACE_MS = 5_000;

  constructor(private readonly deps: TaskServiceDeps & { tasks: TaskService; deadlinePaused?: (taskId: string) => Promise<boolean> }) {}

  async sweep(): Promise<void> {
    const { store, bus, clock } = this.deps;
    const now = clock.now();
    const overdue = await store.tasks.overdue(new Date(now.getTime() - TaskSweeper.GRACE_MS).toISOString(), 100);
    for (const task of overdue) {
      if (task.status === 'waiting_for_human' && (await this.deps.deadlinePaused?.(task.id))) continue;
      if (task.status === 'queued' && task.queueSeq !== null) await bus.withdraw(task.queueSeq).catch(() => false);
      const done = await store.tasks.transition(task.id, ['queued', ...ACTIVE_STATUSES], {
        status: 'timed_out',
        error: `deadline ${task.deadline} passed`,
        finishedAt: now.toISOString(),
      });
      if (done?.instanceId) {
        await bus.control(done.instanceId, { type: 'cancel', taskId: task.id, reason: 'deadline passed' }).catch(() => undefined);
      }
    }
    const unpublished = (await store.tasks.list({ status: ['queued'], limit: 200 })).filter(
      (t) => t.queueSeq === null && now.getTime() - Date.parse(t.createdAt) > 2_000,
    );
    for (const task of unpublished) await this.deps.tasks.enqueue(task);
  }
}

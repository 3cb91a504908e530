/**
 * One job at a time per key, and of the jobs offered meanwhile only the newest runs: what a
 * node's heartbeat says supersedes what its previous one said, so when storing them falls
 * behind (the store busy with a burst of task writes) the older ones are dropped instead of
 * queueing up, and keys do not wait for one another.
 */
export class LatestPerKey {
  private readonly next = new Map<string, () => Promise<void>>();
  private readonly busy = new Set<string>();

  /** Run `job` for `key` once the key's running job ends, unless a newer one is offered first. `job` must not reject. */
  offer(key: string, job: () => Promise<void>): void {
    this.next.set(key, job);
    if (!this.busy.has(key)) void this.drain(key);
  }

  private async drain(key: string): Promise<void> {
    this.busy.add(key);
    try {
      for (let job = this.take(key); job; job = this.take(key)) await job();
    } finally {
      this.busy.delete(key);
    }
  }

  private take(key: string): (() => Promise<void>) | undefined {
    const job = this.next.get(key);
    this.next.delete(key);
    return job;
  }
}

/**
 * Runs jobs concurrently, at most `limit` at once, but one at a time and in arrival order for
 * the same key. The daemon's stream consumers use it so the results of different tasks (and
 * the events of different instances) are stored side by side, and so share the store's
 * group commit, while what one task or one instance said is still applied in order.
 */
export class KeyedLanes {
  private readonly tails = new Map<string, Promise<void>>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /**
   * Queue `job` behind the jobs of its key. Resolves once it was admitted (fewer than `limit`
   * were running), not when it finished: the caller reads the next message meanwhile.
   * `job` must not reject.
   */
  async run(key: string, job: () => Promise<void>): Promise<void> {
    while (this.running >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    const next: Promise<void> = (this.tails.get(key) ?? Promise.resolve()).then(job).finally(() => {
      this.running--;
      if (this.tails.get(key) === next) this.tails.delete(key);
      this.waiting.shift()?.();
    });
    this.tails.set(key, next);
  }

  /** Resolves once every job queued so far has finished. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }
}

/**
 * Runs jobs concurrently, at most `limit` at once, but one at a time and in arrival order for
 * the same key. The daemon's stream consumers use it so the results of different tasks (and
 * the events of different instances) are stored side by side, and so share the store's
 * group commit, while what one task or one instance said is still applied in order.
 *
 * A job may hold several keys (an instance's batch of events about several tasks): it runs
 * after the jobs queued before it on every one of them, and the later jobs of each wait for it.
 */
export class KeyedLanes {
  private readonly tails = new Map<string, Promise<void>>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /**
   * Queue `job` behind the jobs of its key(s). Resolves once it was admitted (fewer than
   * `limit` were running), not when it finished: the caller reads the next message meanwhile.
   * `job` must not reject.
   */
  async run(keys: string | readonly string[], job: () => Promise<void>): Promise<void> {
    const own = typeof keys === 'string' ? [keys] : [...new Set(keys)];
    while (this.running >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    const before = own.map((k) => this.tails.get(k)).filter((p): p is Promise<void> => p !== undefined);
    const after = before.length === 0 ? Promise.resolve() : before.length === 1 ? before[0]! : Promise.all(before).then(() => undefined);
    const next: Promise<void> = after.then(job).finally(() => {
      this.running--;
      for (const k of own) if (this.tails.get(k) === next) this.tails.delete(k);
      this.waiting.shift()?.();
    });
    for (const k of own) this.tails.set(k, next);
  }

  /** Resolves once every job queued so far has finished. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }
}

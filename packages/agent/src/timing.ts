/** Resolves true after `ms`, or false as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Exponential backoff delays: base, 2·base, … capped at `max`. */
export function backoff(attempt: number, base = 250, max = 5_000): number {
  return Math.min(max, base * 2 ** Math.min(attempt, 20));
}

/** setTimeout caps delays at 2^31-1 ms (~24.8 days); longer ones would fire at once. */
const MAX_TIMEOUT = 2 ** 31 - 1;

/** Calls `fn` at `at` (epoch ms), however far away; returns a canceller. */
export function at(when: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const delay = when - Date.now();
    timer = delay > MAX_TIMEOUT ? setTimeout(arm, MAX_TIMEOUT) : setTimeout(fn, Math.max(0, delay));
  };
  arm();
  return () => clearTimeout(timer);
}

/** The promise's value, or null as soon as `signal` aborts (the request left behind just expires). */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T | null> {
  if (signal.aborted) return Promise.resolve(null);
  return new Promise<T | null>((resolve, reject) => {
    const onAbort = () => resolve(null);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

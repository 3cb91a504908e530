import { useCallback, useEffect, useRef, useState } from 'react';

/** Loads on mount, when `key` changes and on `reload()`; keeps the last error's message. */
export function useLoad<T>(load: () => Promise<T>, key = ''): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const latest = useRef(load);
  latest.current = load;
  const reload = useCallback(() => {
    latest.current().then(
      (d) => {
        setData(d);
        setError(null);
      },
      (err: Error) => setError(err.message),
    );
  }, []);
  useEffect(() => reload(), [reload, key]);
  return { data, error, reload };
}

/** Runs an action, reporting success or the API's message. */
export function useAction(): { busy: boolean; message: { ok?: string; error?: string } | null; run: (fn: () => Promise<string>) => Promise<void> } {
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ ok?: string; error?: string } | null>(null);
  const run = async (fn: () => Promise<string>) => {
    setBusy(true);
    try {
      setMessage({ ok: await fn() });
    } catch (err) {
      setMessage({ error: (err as Error).message });
    } finally {
      setBusy(false);
    }
  };
  return { busy, message, run };
}

export function Message({ message }: { message: { ok?: string; error?: string } | null }) {
  if (!message) return null;
  return message.error ? (
    <p role="alert" className="error">
      {message.error}
    </p>
  ) : (
    <p role="status" className="ok">
      {message.ok}
    </p>
  );
}

/**
 * Progress lines for the long chaos and cluster files: each phase's name, when it began since
 * the file started, and how long the phase before it took, on stderr (vitest shows it with
 * the test's output). A file that times out then says how far it got and where its minutes
 * went, which a bare "timed out" does not.
 */
export function phases(file: string): (what: string) => void {
  const began = Date.now();
  let last = began;
  return (what) => {
    const now = Date.now();
    process.stderr.write(`${file}: ${what} at ${((now - began) / 1000).toFixed(1)} s (+${((now - last) / 1000).toFixed(1)} s)\n`);
    last = now;
  };
}

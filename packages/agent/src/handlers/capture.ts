/**
 * Collects a child's output stream up to `limit` bytes (memory stays bounded whatever the
 * command prints) and hands complete lines to `onLine` for live logs while under the limit.
 */
export class BoundedCapture {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private partial = '';
  truncated = false;

  constructor(
    private readonly limit: number,
    private readonly onLine: (line: string) => void,
    private readonly maxLine = 4 * 1024,
  ) {}

  push(chunk: Buffer): void {
    if (this.truncated) return;
    const room = this.limit - this.size;
    const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.chunks.push(kept);
    this.size += kept.length;
    this.lines(kept.toString('utf8'));
    if (kept.length < chunk.length) {
      this.truncated = true;
      this.end();
    }
  }

  /** Flush a last line without newline. */
  end(): void {
    if (this.partial) this.onLine(this.partial);
    this.partial = '';
  }

  text(): string {
    const s = Buffer.concat(this.chunks).toString('utf8');
    return this.truncated ? `${s}\n… [truncated at ${this.limit} bytes]` : s;
  }

  private lines(s: string): void {
    const parts = (this.partial + s).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    // A newline-free flood must not grow the pending line without bound.
    while (this.partial.length > this.maxLine) {
      this.onLine(this.partial.slice(0, this.maxLine));
      this.partial = this.partial.slice(this.maxLine);
    }
  }
}

import { closeSync, fstatSync, openSync, renameSync, writeSync } from 'node:fs';

/**
 * An append-only log file that never grows past `maxBytes`: before a line would cross it,
 * `<path>` becomes `<path>.1` (and `.1` becomes `.2`, up to `keep` old files; the oldest is
 * dropped) and a fresh `<path>` is started. Writes are synchronous so a rotation can never
 * interleave with a write. The directory's own size limit (a volume per instance, see the
 * daemon's volumes.ts) holds even against a sandbox that writes there without this class.
 */
export class RotatingFile {
  private fd: number;
  private size: number;

  constructor(
    private readonly path: string,
    private readonly maxBytes: number,
    private readonly keep: number,
  ) {
    this.fd = openSync(path, 'a', 0o640);
    this.size = fstatSync(this.fd).size;
  }

  write(text: string): void {
    let buf = Buffer.from(text);
    if (buf.length > this.maxBytes) buf = Buffer.concat([buf.subarray(0, this.maxBytes - 1), Buffer.from('\n')]);
    if (this.size > 0 && this.size + buf.length > this.maxBytes) this.rotate();
    writeSync(this.fd, buf);
    this.size += buf.length;
  }

  close(): void {
    closeSync(this.fd);
  }

  private rotate(): void {
    closeSync(this.fd);
    for (let k = this.keep - 1; k >= 1; k--) renameIfThere(`${this.path}.${k}`, `${this.path}.${k + 1}`);
    // keep 0: no old file at all, the current one starts again.
    this.fd = openSync(this.path, this.keep > 0 ? 'a' : 'w', 0o640);
    if (this.keep > 0) {
      closeSync(this.fd);
      renameSync(this.path, `${this.path}.1`);
      this.fd = openSync(this.path, 'a', 0o640);
    }
    this.size = 0;
  }
}

function renameIfThere(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { renameSync, statSync, writeFileSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import type { AuditAnchor, AuditHead } from '@aiflock/core';

/**
 * The audit head kept in the data dir, outside the database: `audit-head.json` with an
 * HMAC-SHA256 under `audit.key` (created on first use, mode 0600). Someone who can edit the
 * audit table but not the data dir (a database administrator, a leaked database URL, SQL
 * injection) cannot make the newest entries disappear unnoticed. See docs/audit.md.
 */
export class HmacFileAnchor implements AuditAnchor {
  private readonly headFile: string;
  private readonly keyFile: string;
  private key: Buffer | null = null;
  /**
   * The head this process wrote last, and the file's identity right after (inode, size,
   * modification time in ns). While the file still has that identity nobody else touched it,
   * so the next advance skips reading and verifying it again: one `stat` instead of an open,
   * read and HMAC on every audit append.
   */
  private written: { head: AuditHead; id: string } | null = null;

  constructor(dataDir: string) {
    this.headFile = join(dataDir, 'audit-head.json');
    this.keyFile = join(dataDir, 'audit.key');
  }

  private async loadKey(create: boolean): Promise<Buffer | null> {
    if (this.key) return this.key;
    try {
      this.key = Buffer.from((await readFile(this.keyFile, 'utf8')).trim(), 'hex');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) return null;
      const fresh = randomBytes(32);
      // `wx`: never overwrite a key another process just created.
      await writeFile(this.keyFile, fresh.toString('hex'), { mode: 0o600, flag: 'wx' }).catch(async (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
      this.key = Buffer.from((await readFile(this.keyFile, 'utf8')).trim(), 'hex');
    }
    return this.key;
  }

  private mac(key: Buffer, head: AuditHead): string {
    return createHmac('sha256', key).update(`aiflock-audit-head\n${head.seq}\n${head.hash}`).digest('hex');
  }

  async read(): Promise<AuditHead | null | 'invalid'> {
    let text: string;
    try {
      text = await readFile(this.headFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const key = await this.loadKey(false);
    let parsed: { seq?: unknown; hash?: unknown; mac?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      return 'invalid';
    }
    if (!key || typeof parsed.seq !== 'number' || typeof parsed.hash !== 'string' || typeof parsed.mac !== 'string') return 'invalid';
    const head = { seq: parsed.seq, hash: parsed.hash };
    const want = Buffer.from(this.mac(key, head), 'hex');
    const got = Buffer.from(parsed.mac, 'hex');
    return got.length === want.length && timingSafeEqual(got, want) ? head : 'invalid';
  }

  async advance(head: AuditHead): Promise<void> {
    const key = await this.loadKey(true);
    const current = await this.current();
    // A head that does not verify is evidence; keep it for the operator instead of
    // papering over it (verify reports anchor_invalid until it is dealt with).
    if (current === 'invalid') throw new Error(`${this.headFile} does not verify against ${this.keyFile}; not overwriting it (see docs/audit.md)`);
    if (current !== null && current.seq >= head.seq) return;
    // Write then rename, so a crash never leaves a half-written head. Synchronous, as the
    // SQLite store beside it is: a file this small is written in microseconds, while each
    // promise-based call is a round trip through libuv's thread pool and back to the event
    // loop. Every audited action advances the head, so on a lone task those round trips (four
    // calls) cost more daemon CPU than the writing: 11.2 -> 8.5 ms per task (bench/README.md,
    // "Task path, session 15"). No fsync: like the store (synchronous = NORMAL), the
    // head survives a crash of the daemon, not necessarily of the machine.
    const tmp = `${this.headFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ ...head, mac: this.mac(key!, head) }), { mode: 0o600 });
    renameSync(tmp, this.headFile);
    this.written = { head, id: fileId(statSync(this.headFile, { bigint: true })) };
  }

  /** The head on disk: the one this process wrote, if the file is untouched since; else read and verified. */
  private async current(): Promise<AuditHead | null | 'invalid'> {
    if (this.written) {
      const now = statSync(this.headFile, { bigint: true, throwIfNoEntry: false }) ?? null;
      if (now && fileId(now) === this.written.id) return this.written.head;
      this.written = null;
    }
    return this.read();
  }
}

const fileId = (s: BigIntStats): string => `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;

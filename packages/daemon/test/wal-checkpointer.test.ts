import { spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Sqlite from 'better-sqlite3';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { BACKSTOP_AUTOCHECKPOINT_PAGES } from '../src/adapters/store-sql/wal-checkpointer.js';
import { testTempDir } from '../../../testkit/temp-dir.js';

/** Rows of `t` in the database file alone, read from a copy without its WAL: what a checkpoint has copied there. */
function rowsInMainFile(dir: string, file: string): number {
  const copy = join(dir, `copy-${Math.random()}.db`);
  copyFileSync(file, copy);
  const db = new Sqlite(copy, { readonly: false });
  try {
    return (db.prepare("select count(*) as n from sqlite_master where name = 't'").get() as { n: number }).n === 0 ? 0 : (db.prepare('select count(*) as n from t').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

async function writeRows(backend: ReturnType<typeof sqliteBackend>, rows: number): Promise<void> {
  await sql`create table t (id integer primary key, body text not null)`.execute(backend.db);
  // About 600 WAL frames: well under SQLite's own autocheckpoint (1,000 pages), so only a checkpointer copies them.
  for (let i = 0; i < rows; i++) await sql`insert into t (body) values (${'x'.repeat(1_500)})`.execute(backend.db);
}

async function eventually(check: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

describe('WAL checkpoints off the daemon thread', () => {
  it('the worker copies committed pages into the database file while the daemon connection only appends', async () => {
    const dir = testTempDir('aiflock-wal-');
    const file = join(dir, 'flock.db');
    const errors: string[] = [];
    const backend = sqliteBackend(file, { checkpointer: { intervalMs: 50, onError: (m) => errors.push(m) } });
    try {
      // The daemon's own connection checkpoints only as a backstop.
      const [{ wal_autocheckpoint }] = (await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(backend.db)).rows as [{ wal_autocheckpoint: number }];
      expect(wal_autocheckpoint).toBe(BACKSTOP_AUTOCHECKPOINT_PAGES);
      await writeRows(backend, 300);
      expect(await eventually(() => rowsInMainFile(dir, file) === 300, 5_000)).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await backend.close();
    }
    // Closed cleanly: the worker's connection is gone and the file opens again.
    const again = new Sqlite(file);
    expect((again.prepare('select count(*) as n from t').get() as { n: number }).n).toBe(300);
    again.close();
  });

  it('without the checkpointer the same writes stay in the WAL (what the test above relies on)', async () => {
    const dir = testTempDir('aiflock-wal-');
    const file = join(dir, 'flock.db');
    const backend = sqliteBackend(file);
    try {
      await writeRows(backend, 300);
      await new Promise((r) => setTimeout(r, 300));
      expect(rowsInMainFile(dir, file)).toBe(0);
    } finally {
      await backend.close();
    }
  });

  it('a stopped store stops its worker: close resolves and twice is harmless', async () => {
    const dir = testTempDir('aiflock-wal-');
    const backend = sqliteBackend(join(dir, 'flock.db'), { checkpointer: { intervalMs: 50 } });
    await backend.close();
    await expect(backend.close()).resolves.toBeUndefined();
  });
});

describe('a process whose last work is closing the store', () => {
  it('lives until the close has resolved (the worker is waited for, not left to end the process early)', () => {
    const dir = testTempDir('aiflock-wal-');
    const here = dirname(fileURLToPath(import.meta.url));
    // Nothing else keeps this process alive: only the close in progress.
    const script = `
      const { sqliteBackend } = await import(${JSON.stringify(join(here, '../src/adapters/store-sql/sqlite.ts'))});
      const backend = sqliteBackend(${JSON.stringify(join(dir, 'flock.db'))}, { checkpointer: { intervalMs: 50 } });
      await new Promise((r) => setTimeout(r, 200));
      await backend.close();
      console.log('closed');
    `;
    const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe('closed');
  });
});

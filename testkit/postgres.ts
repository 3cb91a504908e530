import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.js';
import { waitForPort } from './nats-server.js';

export interface TestPostgres {
  /** URL of the `postgres` database (with the password), for administration. */
  adminUrl: string;
  port: number;
  /** URL of a database on this cluster. */
  urlFor(database: string): string;
  /** A fresh, empty database with a unique name; returns its URL. */
  createDatabase(prefix?: string): Promise<{ name: string; url: string }>;
  dropDatabase(name: string): Promise<void>;
  /** Stop the server (fast shutdown), keeping its data; `start` brings it back on the same port. */
  halt(): Promise<void>;
  start(): Promise<void>;
  /** Stop the server and delete the cluster. */
  stop(): Promise<void>;
}

const execFileAsync = promisify(execFile);
const USER = 'aiflock';
const PASSWORD = 'aiflock-test-password';

/** The newest installed PostgreSQL server binaries (Debian: /usr/lib/postgresql/<major>/bin). */
function binDir(): string {
  const base = '/usr/lib/postgresql';
  const majors = existsSync(base) ? readdirSync(base).filter((d) => existsSync(join(base, d, 'bin', 'initdb'))) : [];
  majors.sort((a, b) => Number(b) - Number(a));
  if (!majors[0]) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql: run `bash scripts/bootstrap.sh --test` (installs postgresql)');
  return join(base, majors[0], 'bin');
}

/** PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/**
 * A throwaway PostgreSQL cluster for one test file: `initdb` in a temporary directory, the
 * server on a random loopback port (no Unix socket outside that directory), password auth.
 * Durability settings are off because the data is thrown away.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  const owner = runAs();
  const dir = await mkdtemp(join(tmpdir(), 'aiflock-pg-'));
  const data = join(dir, 'data');
  const pwfile = join(dir, 'pw');
  await writeFile(pwfile, PASSWORD, { mode: 0o600 });
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
    chownSync(pwfile, owner.uid, owner.gid);
  }
  // Not execFileSync: a test may start the cluster while it waits on something else.
  await execFileAsync(join(bin, 'initdb'), ['-D', data, '-U', USER, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--no-sync', '--locale=C'], { ...owner, cwd: dir });
  const port = await freePort();
  let proc: ChildProcess | null = null;
  let stderr = '';

  const start = async () => {
    stderr = '';
    proc = spawn(
      join(bin, 'postgres'),
      ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
      { ...owner, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const p = proc;
    p.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    // A test process that dies without stop() must not leave a server behind (SIGQUIT:
    // immediate shutdown; the cluster is thrown away anyway).
    const reap = () => void (p.exitCode === null && p.kill('SIGQUIT'));
    process.once('exit', reap);
    p.once('exit', () => process.off('exit', reap));
    await waitForPort('127.0.0.1', port, 30_000, () => (p.exitCode !== null ? `postgres exited ${p.exitCode}: ${stderr}` : null));
    // The port opens before the server accepts sessions; wait for a real one.
    for (let i = 0; ; i++) {
      const c = new pg.Client({ connectionString: adminUrl });
      try {
        await c.connect();
        await c.end();
        return;
      } catch (err) {
        await c.end().catch(() => undefined);
        if (i > 100) throw new Error(`postgres does not accept sessions: ${String(err)}; ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const halt = async () => {
    const p = proc;
    proc = null;
    if (p && p.exitCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGINT'); // fast shutdown: disconnects clients
      await exited;
    }
  };

  const urlFor = (db: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${db}`;
  const adminUrl = urlFor('postgres');
  const admin = async (text: string) => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(text);
    } finally {
      await c.end();
    }
  };
  await start();
  let n = 0;
  return {
    adminUrl,
    port,
    urlFor,
    async createDatabase(prefix = 't') {
      const name = `${prefix}_${process.pid}_${++n}_${Math.random().toString(36).slice(2, 8)}`;
      await admin(`create database "${name}"`);
      return { name, url: urlFor(name) };
    },
    async dropDatabase(name) {
      await admin(`drop database if exists "${name}" with (force)`);
    },
    halt,
    start,
    async stop() {
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Whether the PostgreSQL that startPostgres() runs has the pgvector extension installed. The
 * suite (scripts/test.sh) installs it and sets AIFLOCK_TEST_PGVECTOR=required; then a missing
 * extension throws instead of answering false, so native pgvector tests cannot silently skip.
 */
export function nativePgvector(): boolean {
  const major = binDir().split('/').at(-2)!;
  const installed = existsSync(`/usr/share/postgresql/${major}/extension/vector.control`);
  if (!installed && process.env['AIFLOCK_TEST_PGVECTOR'] === 'required') {
    throw new Error(`the pgvector extension is not installed for PostgreSQL ${major}: run scripts/install-pgvector.sh`);
  }
  return installed;
}

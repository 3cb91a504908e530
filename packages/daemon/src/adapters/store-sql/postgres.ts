import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { SqlBackend } from './dialect.js';
import { postgresVisibilitySeq } from './visibility-seq.js';
import type { Database } from './tables.js';

export interface PostgresOptions {
  url: string;
  poolSize: number;
  /** How long `postgresBackend` keeps retrying the first connection. */
  connectTimeoutMs: number;
  log?: (msg: string) => void;
}

/** The URL with its password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable database URL)';
  }
}

/** Errors worth retrying at open: the server is not up yet or is starting. */
function transient(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(code ?? '') ||
    // 57P03 cannot_connect_now: the cluster is starting up or shutting down.
    code === '57P03'
  );
}

/**
 * The production store: PostgreSQL through a connection pool. Opening waits for the server
 * with exponential backoff, so a daemon started together with its database (compose) comes
 * up once the database does, and fails with the URL (without password) if it never does.
 */
export async function postgresBackend(opts: PostgresOptions): Promise<SqlBackend> {
  const where = redactUrl(opts.url);
  const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize, connectionTimeoutMillis: 5_000 });
  // An idle client losing its connection (the server restarted) must not crash the daemon;
  // the pool drops it and the next query reconnects.
  pool.on('error', (err) => opts.log?.(`postgres pool: ${err.message}`));
  const until = Date.now() + opts.connectTimeoutMs;
  for (let attempt = 1, delay = 100; ; attempt++, delay = Math.min(delay * 2, 2_000)) {
    try {
      const client = await pool.connect();
      client.release();
      break;
    } catch (err) {
      if (!transient(err) || Date.now() + delay > until) {
        await pool.end().catch(() => undefined);
        throw new Error(`cannot connect to PostgreSQL at ${where} after ${attempt} attempt(s): ${(err as Error).message}`);
      }
      opts.log?.(`PostgreSQL at ${where} not reachable yet (${(err as Error).message}); retrying in ${delay} ms`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  // Blocks other writers of the table until commit; plain reads go on.
  const lock = async (trx: Kysely<Database>, table: string): Promise<void> => {
    await sql`lock table ${sql.table(table)} in share row exclusive mode`.execute(trx);
  };
  return {
    kind: 'postgres',
    db,
    identity: { type: 'serial', modify: (c) => c },
    exclusive: (table, fn) =>
      db.transaction().execute(async (trx) => {
        await lock(trx, table);
        return fn(trx);
      }),
    lock,
    // Half the pool commits groups side by side; the rest serves reads.
    writeLanes: Math.max(1, Math.floor(opts.poolSize / 2)),
    addVisibilitySeq: postgresVisibilitySeq,
    widenVarchar: async (m, t) => {
      await m.schema.alterTable(t.table).alterColumn(t.column, (c) => c.setDataType(sql.raw(`varchar(${t.length})`))).execute();
    },
    backupTo: null,
    describe: where,
    close: () => db.destroy(),
  };
}

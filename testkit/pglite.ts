import type { AddressInfo } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface TestPglite {
  /** postgres:// URL of the server; it serves one connection at a time (use poolSize 1). */
  url: string;
  stop(): Promise<void>;
}

/**
 * PostgreSQL with the pgvector extension where the distribution does not package pgvector
 * (Debian 12): PGlite (PostgreSQL compiled to WebAssembly, with pgvector built in the same
 * way) behind its socket server, which speaks the real PostgreSQL wire protocol on a random
 * loopback port. The daemon's own `pg` driver talks to it like to any server. It is the
 * real pgvector code, but not the distribution's native build: the native build is tested
 * too wherever `postgresql-<major>-pgvector` is installed.
 */
export async function startPgliteWithPgvector(): Promise<TestPglite> {
  const db = await PGlite.create({ extensions: { vector } });
  const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1' });
  await server.start();
  const addr = (server as unknown as { server: { address(): AddressInfo } }).server.address();
  return {
    url: `postgres://postgres@127.0.0.1:${addr.port}/postgres`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

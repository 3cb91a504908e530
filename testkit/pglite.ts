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
 * real pgvector code, but not a native build: the native build (scripts/install-pgvector.sh)
 * is tested too.
 */
export async function startPgliteWithPgvector(): Promise<TestPglite> {
  return startPglite({ pgvector: true });
}

/**
 * PGlite with or without pgvector. Without it, it is a real PostgreSQL server on which the
 * extension is not available, whatever the host has installed: the case where a user
 * configures pgvector on a server that lacks it.
 */
export async function startPglite(options: { pgvector: boolean }): Promise<TestPglite> {
  const db = await PGlite.create(options.pgvector ? { extensions: { vector } } : {});
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

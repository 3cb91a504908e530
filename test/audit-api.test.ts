import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, ContextService, HashingEmbedder, InProcessVectorIndex, MemoryService, auditHash, systemClock, type AuditEntry } from '@aiflock/core';
import { NatsBus } from '../packages/daemon/src/adapters/nats/nats-bus.js';
import { fromAudit } from '../packages/daemon/src/adapters/store-sql/audit-repo.js';
import { postgresBackend } from '../packages/daemon/src/adapters/store-sql/postgres.js';
import { sqliteBackend } from '../packages/daemon/src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../packages/daemon/src/adapters/store-sql/sql-store.js';
import { ConfigSchema } from '../packages/daemon/src/config.js';
import { economyServices } from '../packages/daemon/src/economy.js';
import { apiFetch } from '../testkit/api-fetch.js';
import { buildTestApp, coreApiServices, listenOnLoopback, recordRoutes, type RouteRecord } from '../testkit/api-app.js';
import { apiCli, type CliResult } from '../testkit/cli.js';
import { REPO_ROOT } from '../testkit/flock.js';
import { startNatsServer, type TestNatsServer } from '../testkit/nats-server.js';
import { startPostgres, type TestPostgres } from '../testkit/postgres.js';

/**
 * The audit log end to end without sandboxes: the daemon's real HTTP app over a real store
 * (SQLite and PostgreSQL), real NATS and the real built CLI. The agent and task routes are
 * the daemon's own; only the Docker runtime is absent, as none of these routes touches it.
 */
const ECHO = readFileSync(join(REPO_ROOT, 'examples', 'echo.agent.yaml'), 'utf8');

interface Harness {
  store: SqlStore;
  app: FastifyInstance;
  url: string;
  token: string;
  /** The actor every entry made through this harness is recorded under. */
  tokenId: string;
  routes: RouteRecord[];
  cli(args: string[]): Promise<CliResult>;
  close(): Promise<void>;
}

/** `dir` is the data dir holding the audit anchor; it is kept when given. */
async function harness(store: SqlStore, nats: TestNatsServer, anchorDir?: string): Promise<Harness> {
  const dir = anchorDir ?? mkdtempSync(join(tmpdir(), 'aiflock-audit-api-'));
  const log = () => undefined;
  const bus = await NatsBus.connect({ url: nats.url, log });
  await bus.init();
  const core = coreApiServices(store, bus, dir);
  const issued = await core.auth.createToken({ name: 'audit-admin', scopes: ['admin'] });
  const token = issued.token;
  const app = buildTestApp(store, {
    ...core,
    store,
    economy: economyServices(ConfigSchema.parse({ dataDir: dir }).economy, store, core.audit, systemClock),
    context: new ContextService({ store: store.context, tasks: store.tasks, embedder: new HashingEmbedder(), index: new InProcessVectorIndex(store.context), clock: systemClock }),
    memory: new MemoryService({ store: store.context, embedder: new HashingEmbedder(), clock: systemClock }),
    backup: store.backupTo,
    busAdminCredentials: null,
    wsHeartbeatMs: 1_000,
    logLevel: { get: () => 'silent', set: () => undefined },
    readiness: async () => ({ store: await store.ping(), bus: await bus.ping() }),
  });
  const routes = recordRoutes(app);
  const url = await listenOnLoopback(app);
  const cli = apiCli(() => url, { token: () => token });
  return {
    store,
    app,
    url,
    token,
    tokenId: issued.record.id,
    routes,
    cli: (args) => cli.run(args),
    async close() {
      cli.cleanup();
      await app.close();
      await bus.close();
      await store.close();
      if (!anchorDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

const api = async (h: Harness, method: string, path: string, body?: unknown) => {
  const res = await apiFetch(h.url, path, { method, body }, h.token);
  return { status: res.status, requestId: res.headers.get('x-request-id'), body: res.body as unknown };
};

/** Put the table back exactly as exported (the tests tamper with it, one attack at a time). */
async function restore(store: SqlStore, rows: AuditEntry[]): Promise<void> {
  await store.db.deleteFrom('audit_log').execute();
  await store.db
    .insertInto('audit_log')
    .values(
      rows.map(fromAudit),
    )
    .execute();
}

/** `open` makes the backend's store for this file; `reopen` opens the same database again. */
const backends: { name: string; open(): Promise<SqlStore>; reopen(): Promise<SqlStore>; setup?(): Promise<void>; teardown?(): Promise<void> }[] = [];
let pg: TestPostgres;
let pgUrl: string;
let sqliteDir: string;
backends.push({
  name: 'sqlite',
  setup: async () => void (sqliteDir = mkdtempSync(join(tmpdir(), 'aiflock-audit-sqlite-'))),
  open: () => SqlStore.open(sqliteBackend(join(sqliteDir, 'flock.db'))),
  reopen: () => SqlStore.open(sqliteBackend(join(sqliteDir, 'flock.db'))),
  teardown: async () => rmSync(sqliteDir, { recursive: true, force: true }),
});
backends.push({
  name: 'postgres',
  setup: async () => void (pg = await startPostgres()),
  open: async () => SqlStore.open(await postgresBackend({ url: (pgUrl = (await pg.createDatabase('api')).url), poolSize: 5, connectTimeoutMs: 5_000 })),
  reopen: async () => SqlStore.open(await postgresBackend({ url: pgUrl, poolSize: 5, connectTimeoutMs: 5_000 })),
  teardown: async () => pg?.stop(),
});

let nats: TestNatsServer;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

describe.each(backends)('audit through the API and the CLI on $name', (backend) => {
  let h: Harness;
  let taskId: string;
  beforeAll(async () => {
    await backend.setup?.();
    h = await harness(await backend.open(), nats);
  });
  afterAll(async () => {
    await h?.close();
    await backend.teardown?.();
  });

  it('marks every audit and backup route admin-only', () => {
    const admin = h.routes.filter((r) => r.method === 'GET' && (r.url.startsWith('/v1/audit') || r.url === '/v1/system/backup'));
    expect(admin.map((r) => r.url).sort()).toEqual(['/v1/audit', '/v1/audit/export', '/v1/audit/verify', '/v1/system/backup']);
    // HEAD twins included: every method of these paths states the scope.
    for (const r of h.routes.filter((x) => x.url.startsWith('/v1/audit') || x.url === '/v1/system/backup')) expect(r.scope, `${String(r.method)} ${r.url}`).toBe('admin');
  });

  it('records deploy, scale, stop, remove, task create and cancel with actor, outcome and request id', async () => {
    const deploy = await api(h, 'POST', '/v1/agents', { manifest: ECHO, filename: 'echo.agent.yaml' });
    expect(deploy.status).toBe(201);
    expect((await api(h, 'POST', '/v1/agents', { manifest: 'name: Bad Name\n' })).status).toBe(400);
    expect((await api(h, 'POST', '/v1/agents/echo/scale', { replicas: 2 })).status).toBe(200);
    const created = await api(h, 'POST', '/v1/tasks', { agent: 'echo', input: { hi: 1 } });
    expect(created.status).toBe(201);
    taskId = (created.body as { id: string }).id;
    expect((await api(h, 'POST', `/v1/tasks/${taskId}/cancel`)).status).toBe(200);
    expect((await api(h, 'POST', `/v1/tasks/${taskId}/cancel`)).status).toBe(409);
    expect((await api(h, 'POST', '/v1/agents/echo/stop')).status).toBe(200);
    expect((await api(h, 'POST', '/v1/agents/ghost/stop')).status).toBe(404);
    expect((await api(h, 'DELETE', '/v1/agents/echo')).status).toBe(204);

    const page = (await api(h, 'GET', '/v1/audit?limit=100')).body as { entries: AuditEntry[] };
    const seen = page.entries.reverse().map((e) => [e.action, e.resource, e.outcome]);
    expect(seen).toEqual([
      ['agent.deploy', 'agent/echo', 'ok'],
      ['agent.deploy', 'agent', 'error'],
      ['agent.scale', 'agent/echo', 'ok'],
      ['task.create', `task/${taskId}`, 'ok'],
      ['task.cancel', `task/${taskId}`, 'ok'],
      ['task.cancel', `task/${taskId}`, 'error'],
      ['agent.stop', 'agent/echo', 'ok'],
      ['agent.stop', 'agent/ghost', 'error'],
      ['agent.remove', 'agent/echo', 'ok'],
    ]);
    expect(page.entries.every((e) => e.actor === h.tokenId && e.requestId)).toBe(true);
    expect(page.entries[0]!.requestId).toBe(deploy.requestId);
    expect(page.entries[1]!.details).toMatchObject({ code: 'manifest_invalid' });
    expect(page.entries[2]!.details).toEqual({ replicas: 2 });
    expect(page.entries[3]!.correlationId).toBe(taskId);
    expect(page.entries[5]!.details).toMatchObject({ code: 'task_not_cancellable' });
  });

  it('searches, tails and pages through the CLI', async () => {
    const search = await h.cli(['audit', 'search', '--action', 'task.cancel', '--json']);
    expect(search.code, search.stderr).toBe(0);
    expect((JSON.parse(search.stdout) as { entries: AuditEntry[] }).entries.map((e) => e.outcome)).toEqual(['error', 'ok']);
    const byResource = JSON.parse((await h.cli(['audit', 'search', '--resource', 'agent/*', '--since', '1h', '--json'])).stdout) as { entries: AuditEntry[] };
    expect(byResource.entries.map((e) => e.resource)).toEqual(['agent/echo', 'agent/ghost', 'agent/echo', 'agent/echo', 'agent/echo']);
    expect(JSON.parse((await h.cli(['audit', 'search', '--actor', 'mallory', '--json'])).stdout)).toEqual({ entries: [], nextCursor: null });
    const first = JSON.parse((await h.cli(['audit', 'search', '-n', '4', '--json'])).stdout) as { entries: AuditEntry[]; nextCursor: number };
    expect(first.entries.map((e) => e.seq)).toEqual([9, 8, 7, 6]);
    const second = JSON.parse((await h.cli(['audit', 'search', '-n', '4', '--cursor', String(first.nextCursor), '--json'])).stdout) as { entries: AuditEntry[] };
    expect(second.entries.map((e) => e.seq)).toEqual([5, 4, 3, 2]);

    const tail = await h.cli(['audit', 'tail', '-n', '3']);
    expect(tail.code).toBe(0);
    const lines = tail.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^7 \\S+ ok\\s+${h.tokenId} agent\\.stop agent/echo`));
    expect(lines[2]).toContain('agent.remove agent/echo');

    const bad = await h.cli(['audit', 'search', '--since', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--since must be a duration ago');
    const badApi = await api(h, 'GET', '/v1/audit?limit=0&since=noon');
    expect(badApi.status).toBe(400);
    expect(JSON.stringify(badApi.body)).toMatch(/limit[\s\S]*since/);
  });

  it('exports every entry as JSON lines, to stdout and to a file', async () => {
    const out = await h.cli(['audit', 'export']);
    expect(out.code, out.stderr).toBe(0);
    const rows = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
    expect(rows.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const e of rows) expect(auditHash(e)).toBe(e.hash);
    const dir = mkdtempSync(join(tmpdir(), 'aiflock-export-'));
    try {
      expect((await h.cli(['audit', 'export', '-o', join(dir, 'a.jsonl')])).code).toBe(0);
      expect(readFileSync(join(dir, 'a.jsonl'), 'utf8')).toBe(out.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`aiflock audit verify` passes, then names every kind of tampering done with direct SQL', async () => {
    const ok = await h.cli(['audit', 'verify']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('audit log intact: 9 entries');
    const head = /^head: (9:[0-9a-f]{64})$/m.exec(ok.stdout)?.[1];
    expect(head, ok.stdout).toBeDefined();
    expect((await h.cli(['audit', 'verify', '--head', head!])).code).toBe(0);
    const wrongHead = await h.cli(['audit', 'verify', '--head', `5:${'ab'.repeat(32)}`]);
    expect(wrongHead.code).toBe(9);
    expect(wrongHead.stderr).toContain('TAMPERED at seq 5 (edited): entry 5 differs from the recorded head');
    const ahead = await h.cli(['audit', 'verify', '--head', `12:${'ab'.repeat(32)}`]);
    expect(ahead.code).toBe(9);
    expect(ahead.stderr).toContain('TAMPERED at seq 10 (truncated)');
    const badHead = await h.cli(['audit', 'verify', '--head', '9']);
    expect(badHead.code).toBe(2);
    expect(badHead.stderr).toContain('--head must be seq:hash');
    expect((await api(h, 'GET', '/v1/audit/verify?head=9')).status).toBe(400);
    const rows = (await h.cli(['audit', 'export'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
    const attacks: [string, () => Promise<unknown>, number, string][] = [
      ['edit', () => sql`update audit_log set actor = 'someone-else' where seq = 4`.execute(h.store.db), 4, 'edited'],
      ['delete', () => sql`delete from audit_log where seq = 6`.execute(h.store.db), 6, 'deleted'],
      [
        'reorder',
        async () => {
          await sql`update audit_log set seq = 100 where seq = 2`.execute(h.store.db);
          await sql`update audit_log set seq = 2 where seq = 3`.execute(h.store.db);
          await sql`update audit_log set seq = 3 where seq = 100`.execute(h.store.db);
        },
        2,
        'reordered',
      ],
      ['truncate', () => sql`delete from audit_log where seq > 7`.execute(h.store.db), 8, 'truncated'],
    ];
    for (const [what, attack, seq, reason] of attacks) {
      await attack();
      const v = await h.cli(['audit', 'verify']);
      expect(v.code, what).toBe(9);
      expect(v.stderr, what).toContain(`TAMPERED at seq ${seq} (${reason})`);
      const json = await h.cli(['audit', 'verify', '--json']);
      expect(json.code, what).toBe(9);
      expect(JSON.parse(json.stdout), what).toMatchObject({ ok: false, seq, reason });
      await restore(h.store, rows);
      expect((await h.cli(['audit', 'verify'])).code, `${what} undone`).toBe(0);
    }
  });

  it('reports readiness from the store', async () => {
    const ready = await api(h, 'GET', '/readyz');
    expect(ready).toMatchObject({ status: 200, body: { ok: true } });
    if (backend.name !== 'postgres') return;
    await pg.halt();
    try {
      const down = await api(h, 'GET', '/readyz');
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ ok: false, checks: { store: { ok: false }, bus: { ok: true } } });
    } finally {
      await pg.start();
    }
    let back = await api(h, 'GET', '/readyz');
    for (let i = 0; i < 50 && back.status !== 200; i++) back = await new Promise((r) => setTimeout(r, 100)).then(() => api(h, 'GET', '/readyz'));
    expect(back).toMatchObject({ status: 200, body: { ok: true } });
  });

  it('backs up the live store (SQLite) or points to pg_dump (PostgreSQL)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aiflock-backup-test-'));
    try {
      const file = join(dir, 'backup.db');
      const r = await h.cli(['backup', file, '--json']);
      if (backend.name === 'postgres') {
        expect(r.code).toBe(6);
        expect(r.stderr).toContain('pg_dump');
        return;
      }
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ file });
      // A backup is a working store: open it and find the same history, still intact.
      const copy = await SqlStore.open(sqliteBackend(file));
      try {
        const entries = await copy.audit.list({ limit: 100, ascending: true });
        expect(entries).toEqual(await h.store.audit.list({ limit: 100, ascending: true }));
        const verdict = await new AuditLog({ store: copy.audit, anchor: { read: async () => null, advance: async () => undefined }, clock: systemClock }).verify();
        expect(verdict).toMatchObject({ ok: true, entries: 9 });
      } finally {
        await copy.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('restores a backup by the documented procedure (SQLite: aiflock backup; PostgreSQL: pg_dump/pg_restore)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aiflock-restore-test-'));
    const anchorDir = join(dir, 'data');
    mkdirSync(anchorDir);
    try {
      // A flock with its own data dir, so the anchor survives the restart.
      await h.close();
      h = await harness(await backend.reopen(), nats, anchorDir);
      expect((await api(h, 'POST', '/v1/agents', { manifest: ECHO })).status).toBe(201);
      const before = await h.store.audit.list({ limit: 100, ascending: true });

      let restored: () => Promise<SqlStore>;
      if (backend.name === 'sqlite') {
        const file = join(dir, 'backup.db');
        expect((await h.cli(['backup', file])).code).toBe(0);
        await api(h, 'POST', '/v1/agents/echo/scale', { replicas: 3 }); // after the backup: lost by the restore
        await h.close();
        const live = join(sqliteDir, 'flock.db');
        rmSync(`${live}-wal`, { force: true });
        rmSync(`${live}-shm`, { force: true });
        copyFileSync(file, live);
        restored = () => SqlStore.open(sqliteBackend(live));
      } else {
        const dump = join(dir, 'aiflock.dump');
        execFileSync('pg_dump', ['--format=custom', `--file=${dump}`, pgUrl]);
        await api(h, 'POST', '/v1/agents/echo/scale', { replicas: 3 });
        await h.close();
        const target = await pg.createDatabase('restored');
        execFileSync('pg_restore', ['--no-owner', `--dbname=${target.url}`, dump]);
        restored = async () => SqlStore.open(await postgresBackend({ url: target.url, poolSize: 2, connectTimeoutMs: 5_000 }));
      }
      h = await harness(await restored(), nats, anchorDir);
      expect(await h.store.audit.list({ limit: 100, ascending: true })).toEqual(before);
      expect((await api(h, 'GET', '/v1/agents/echo')).body).toMatchObject({ name: 'echo', replicas: { desired: 1 } });
      // The anchor remembers the lost scale entry: verify says so, as docs/operations.md warns.
      const v = await h.cli(['audit', 'verify', '--json']);
      expect(v.code).toBe(9);
      expect(JSON.parse(v.stdout)).toMatchObject({ reason: 'truncated', seq: before.length + 1 });
      renameSync(join(anchorDir, 'audit-head.json'), join(anchorDir, 'audit-head.json.before-restore'));
      expect((await h.cli(['audit', 'verify'])).code).toBe(0);
      expect((await api(h, 'POST', '/v1/agents/echo/scale', { replicas: 2 })).status).toBe(200);
      expect(JSON.parse((await h.cli(['audit', 'verify', '--json'])).stdout)).toMatchObject({ ok: true, anchored: { seq: before.length + 1 } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

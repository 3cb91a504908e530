import type { Kysely, Selectable } from 'kysely';
import type { InstanceRecord, Store } from '@aiflock/core';
import type { InstanceStatus } from '@aiflock/protocol';
import type { Database, InstancesTable } from './tables.js';

/** Running agent instances (sandbox handle, heartbeat, exit), on any Kysely backend. */
export function instanceRepo(db: Kysely<Database>): Store['instances'] {
  return {
    upsert: async (r) => {
      const row = {
        id: r.id,
        agent: r.agent,
        status: r.status,
        handle: r.handle,
        node: r.node,
        started_at: r.startedAt,
        last_heartbeat_at: r.lastHeartbeatAt,
        exit_code: r.exitCode,
        oom_killed: r.oomKilled ? 1 : 0,
      };
      await db
        .insertInto('instances')
        .values(row)
        .onConflict((oc) => oc.column('id').doUpdateSet({ ...row }))
        .execute();
    },
    get: async (id) => {
      const row = await db.selectFrom('instances').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toInstance(row);
    },
    list: async (agent) => {
      let q = db.selectFrom('instances').selectAll().orderBy('id');
      if (agent) q = q.where('agent', '=', agent);
      return (await q.execute()).map(toInstance);
    },
    remove: async (id) => {
      await db.deleteFrom('instances').where('id', '=', id).execute();
    },
  };
}

function toInstance(r: Selectable<InstancesTable>): InstanceRecord {
  return {
    id: r.id,
    agent: r.agent,
    status: r.status as InstanceStatus,
    handle: r.handle,
    node: r.node,
    startedAt: r.started_at,
    lastHeartbeatAt: r.last_heartbeat_at,
    exitCode: r.exit_code,
    oomKilled: r.oom_killed === 1,
  };
}

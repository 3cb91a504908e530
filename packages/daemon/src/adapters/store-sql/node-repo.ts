import type { Kysely, Selectable } from 'kysely';
import type { JoinTokenRecord, NodeCapacityRecord, NodeRecord, NodeStore } from '@aiflock/core';
import { json } from './sql-values.js';
import type { Database, NodeJoinTokensTable, NodesTable } from './tables.js';

/** Nodes and join tokens, on any Kysely backend. */
export function nodeRepo(db: Kysely<Database>): NodeStore {
  const row = (n: NodeRecord) => ({
    labels: json(n.labels),
    cordoned: n.cordoned ? 1 : 0,
    draining: n.draining ? 1 : 0,
    capacity: n.capacity ? json(n.capacity) : null,
    joined_at: n.joinedAt,
    last_heartbeat_at: n.lastHeartbeatAt,
    version: n.version,
    credential_id: n.credentialId,
  });
  return {
    get: async (name) => {
      const r = await db.selectFrom('nodes').selectAll().where('name', '=', name).executeTakeFirst();
      return r && toNode(r);
    },
    list: async () => (await db.selectFrom('nodes').selectAll().orderBy('name').execute()).map(toNode),
    add: async (n) => {
      const r = await db.insertInto('nodes').values({ name: n.name, ...row(n) }).onConflict((oc) => oc.column('name').doNothing()).executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
    },
    update: async (n) => {
      await db.updateTable('nodes').set(row(n)).where('name', '=', n.name).execute();
    },
    remove: async (name) => {
      await db.deleteFrom('nodes').where('name', '=', name).execute();
    },
    addToken: async (t) => {
      await db
        .insertInto('node_join_tokens')
        .values({ id: t.id, hash: t.hash, single_use: t.singleUse ? 1 : 0, expires_at: t.expiresAt, used_at: t.usedAt, used_by: t.usedBy, created_by: t.createdBy, created_at: t.createdAt })
        .execute();
    },
    tokenByHash: async (hash) => {
      const r = await db.selectFrom('node_join_tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
      return r && toToken(r);
    },
    consumeToken: async (id, node, at) => {
      // One UPDATE guarded by used_at IS NULL: two joins racing with one single-use token, one wins.
      const r = await db.updateTable('node_join_tokens').set({ used_at: at, used_by: node }).where('id', '=', id).where('used_at', 'is', null).executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
  };
}

function toNode(r: Selectable<NodesTable>): NodeRecord {
  return {
    name: r.name,
    labels: JSON.parse(r.labels) as Record<string, string>,
    cordoned: Number(r.cordoned) === 1,
    draining: Number(r.draining) === 1,
    capacity: r.capacity === null ? null : (JSON.parse(r.capacity) as NodeCapacityRecord),
    joinedAt: r.joined_at,
    lastHeartbeatAt: r.last_heartbeat_at,
    version: r.version,
    credentialId: r.credential_id,
  };
}

function toToken(r: Selectable<NodeJoinTokensTable>): JoinTokenRecord {
  return {
    id: r.id,
    hash: r.hash,
    singleUse: Number(r.single_use) === 1,
    expiresAt: r.expires_at,
    usedAt: r.used_at,
    usedBy: r.used_by,
    createdBy: r.created_by,
    createdAt: r.created_at,
  };
}

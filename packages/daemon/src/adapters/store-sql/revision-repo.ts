import type { Kysely, Selectable } from 'kysely';
import type { RevisionRecord, RevisionStore } from '@aiflock/core';
import { json } from './sql-values.js';
import type { AgentRevisionsTable, Database } from './tables.js';

/** Agent revisions (history, rollback, deploy by digest), on any Kysely backend. */
export function revisionRepo(db: Kysely<Database>): RevisionStore {
  return {
    add: async (r) => {
      await db
        .insertInto('agent_revisions')
        .values({
          agent: r.agent,
          revision: r.revision,
          digest: r.digest,
          cid: r.cid,
          document: json(r.document),
          overrides: json(r.overrides),
          cause: r.cause,
          from_revision: r.fromRevision,
          changes: json(r.changes),
          deployed_by: r.deployedBy,
          deployed_at: r.deployedAt,
        })
        .execute();
    },
    list: async (agent) => (await db.selectFrom('agent_revisions').selectAll().where('agent', '=', agent).orderBy('revision').execute()).map(toRevision),
    latest: async (agent) => {
      const row = await db.selectFrom('agent_revisions').selectAll().where('agent', '=', agent).orderBy('revision', 'desc').limit(1).executeTakeFirst();
      return row && toRevision(row);
    },
    byDigest: async (digest) => {
      const row = await db.selectFrom('agent_revisions').selectAll().where('digest', '=', digest).orderBy('deployed_at', 'desc').limit(1).executeTakeFirst();
      return row && toRevision(row);
    },
    removeAgent: async (agent) => {
      await db.deleteFrom('agent_revisions').where('agent', '=', agent).execute();
    },
  };
}

function toRevision(r: Selectable<AgentRevisionsTable>): RevisionRecord {
  return {
    agent: r.agent,
    revision: r.revision,
    digest: r.digest,
    cid: r.cid,
    document: JSON.parse(r.document) as Record<string, unknown>,
    overrides: JSON.parse(r.overrides) as string[],
    cause: r.cause as RevisionRecord['cause'],
    fromRevision: r.from_revision,
    changes: JSON.parse(r.changes) as string[],
    deployedBy: r.deployed_by,
    deployedAt: r.deployed_at,
  };
}

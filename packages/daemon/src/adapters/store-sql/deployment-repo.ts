import type { Kysely, Selectable } from 'kysely';
import type { DeploymentRecord, Store } from '@aiflock/core';
import { json } from './sql-values.js';
import type { Database, DeploymentsTable } from './tables.js';
import { prepared } from './prepared.js';

/** Read for every task created: compiled once (prepared.ts). */
const byName = prepared((db, k: { name: string }) => db.selectFrom('deployments').selectAll().where('name', '=', k.name));

/** Deployments (desired state per agent), on any Kysely backend. */
export function deploymentRepo(db: Kysely<Database>): Store['deployments'] {
  return {
    get: async (name) => {
      const [row] = (await byName(db, { name })).rows;
      return row && toDeployment(row);
    },
    list: async () => (await db.selectFrom('deployments').selectAll().orderBy('name').execute()).map(toDeployment),
    upsert: async (r) => {
      const row = {
        name: r.name,
        digest: r.digest,
        manifest: json(r.manifest),
        replicas: r.replicas,
        state: r.state,
        owner: r.owner ?? null,
        created_at: r.createdAt,
        updated_at: r.updatedAt,
      };
      await db
        .insertInto('deployments')
        .values(row)
        .onConflict((oc) => oc.column('name').doUpdateSet({ ...row }))
        .execute();
    },
    remove: async (name) => {
      await db.deleteFrom('deployments').where('name', '=', name).execute();
    },
  };
}

function toDeployment(r: Selectable<DeploymentsTable>): DeploymentRecord {
  return {
    name: r.name,
    digest: r.digest,
    manifest: JSON.parse(r.manifest) as DeploymentRecord['manifest'],
    replicas: r.replicas,
    state: r.state as DeploymentRecord['state'],
    owner: r.owner,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

import type { Kysely, Migration } from 'kysely';

export const m0009DeploymentOwner = (): Migration => ({
  async up(db: Kysely<unknown>) {
    // Who owns an agent is the identity that deployed it, not a claim in its manifest.
    await db.schema.alterTable('deployments').addColumn('owner', 'varchar(200)').execute();
  },
});

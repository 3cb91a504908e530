import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { SqlStore } from '../src/adapters/store-sql/sql-store.js';
import { sqliteBackend } from '../src/adapters/store-sql/sqlite.js';
import { prepared } from '../src/adapters/store-sql/prepared.js';
import type { Database } from '../src/adapters/store-sql/tables.js';

/**
 * Statements compiled once per shape must behave exactly like the query built afresh: every
 * run binds its own values, a different shape (other keys, another list length, a column
 * left undefined) gets SQL of its own, and nothing of one run leaks into the next.
 */
let store: SqlStore;
let db: Kysely<Database>;
const compiled: string[] = [];

beforeAll(async () => {
  store = await SqlStore.open(sqliteBackend(':memory:'));
  db = store.db;
  for (const [name, digest] of [['a', 'da'], ['b', 'db'], ['c', 'dc']]) {
    await db.insertInto('deployments').values({ name: name!, digest: digest!, manifest: '{}', replicas: 1, state: 'running', owner: null, created_at: 't', updated_at: 't' }).execute();
  }
});
afterAll(() => store.close());

describe('prepared statements', () => {
  const byNames = prepared((d, k: { names: string[]; state: string }) => {
    const q = d.selectFrom('deployments').select(['name', 'digest']).where('name', 'in', k.names).where('state', '=', k.state).orderBy('name');
    compiled.push(q.compile().sql);
    return q;
  });

  it('binds each run’s values to SQL compiled once per shape', async () => {
    compiled.length = 0;
    expect((await byNames(db, { names: ['a', 'b'], state: 'running' })).rows).toEqual([{ name: 'a', digest: 'da' }, { name: 'b', digest: 'db' }]);
    expect((await byNames(db, { names: ['c', 'a'], state: 'running' })).rows).toEqual([{ name: 'a', digest: 'da' }, { name: 'c', digest: 'dc' }]);
    expect((await byNames(db, { names: ['a', 'b'], state: 'stopped' })).rows).toEqual([]);
    expect(compiled).toHaveLength(1);
    // Another list length is another statement.
    expect((await byNames(db, { names: ['a', 'b', 'c'], state: 'running' })).rows.map((r) => r.name)).toEqual(['a', 'b', 'c']);
    expect(compiled).toHaveLength(2);
    expect((await byNames(db, { names: ['b'], state: 'running' })).rows.map((r) => r.name)).toEqual(['b']);
    expect(compiled).toHaveLength(3);
    expect((await byNames(db, { names: ['c', 'b', 'a'], state: 'running' })).rows.map((r) => r.name)).toEqual(['a', 'b', 'c']);
    expect(compiled).toHaveLength(3);
  });

  it('gives an update with other columns, or a column left undefined, SQL of its own', async () => {
    const update = prepared((d, v: { name: string; set: { replicas?: number; state?: string } }) => d.updateTable('deployments').set(v.set).where('name', '=', v.name).returning(['name', 'replicas', 'state']));
    expect((await update(db, { name: 'a', set: { replicas: 3 } })).rows).toEqual([{ name: 'a', replicas: 3, state: 'running' }]);
    expect((await update(db, { name: 'b', set: { state: 'stopped' } })).rows).toEqual([{ name: 'b', replicas: 1, state: 'stopped' }]);
    expect((await update(db, { name: 'c', set: { replicas: 5, state: undefined } })).rows).toEqual([{ name: 'c', replicas: 5, state: 'running' }]);
    expect((await update(db, { name: 'c', set: { replicas: 2, state: 'stopped' } })).rows).toEqual([{ name: 'c', replicas: 2, state: 'stopped' }]);
    // A value that looks like SQL is only ever a value.
    expect((await update(db, { name: "a' or 1=1 --", set: { replicas: 9 } })).rows).toEqual([]);
    expect((await db.selectFrom('deployments').select('replicas').orderBy('name').execute()).map((r) => r.replicas)).toEqual([3, 1, 2]);
  });

  it('multi-row inserts of many sizes all land (beyond the shapes kept, built each time)', async () => {
    const insert = prepared((d, v: { rows: { job_id: string; type: string; ts: string; payload: string }[] }) => d.insertInto('job_events').values(v.rows));
    let expected = 0;
    for (let n = 1; n <= 40; n++) {
      await insert(db, { rows: Array.from({ length: n }, (_, i) => ({ job_id: `job-${n}`, type: 'log', ts: 't', payload: JSON.stringify({ i }) })) });
      expected += n;
    }
    const rows = await db.selectFrom('job_events').select(['job_id', 'payload']).execute();
    expect(rows).toHaveLength(expected);
    expect(rows.filter((r) => r.job_id === 'job-40').map((r) => JSON.parse(r.payload).i)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });
});

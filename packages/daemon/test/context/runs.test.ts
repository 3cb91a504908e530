import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newTaskId, type Store, type TaskRecord } from '@aiflock/core';
import { sqliteBackend } from '../../src/adapters/store-sql/sqlite.js';
import { SqlStore } from '../../src/adapters/store-sql/sql-store.js';
import { openVectorIndex } from '../../src/adapters/vector-index/open.js';
import { loadConfig } from '../../src/config.js';
import { contextPlane, type ContextPlane } from '../../src/context-plane.js';
import { recordingJobEvents } from '../../src/jobs/recording-store.js';
import { task } from '../store-contract/fixtures.js';
import { fixedClock } from './harness.js';

/**
 * context.recordRuns: every task that reaches a final status becomes a note in the `runs`
 * collection (through the same store wrapper every task change goes through), so searches
 * and later jobs' context packs can draw on what earlier runs found.
 */
describe('finished runs in the runs collection', () => {
  let dir: string;
  let sql: SqlStore;
  let store: Store;
  let plane: ContextPlane;
  const warnings: string[] = [];

  const open = async (recordRuns: boolean) => {
    let record: ((t: TaskRecord) => void) | null = null;
    store = recordingJobEvents(sql, () => new Date().toISOString(), (t) => record?.(t));
    const config = loadConfig({ env: { AIFLOCK_HOME: dir, AIFLOCK_CONTEXT_RECORD_RUNS: String(recordRuns), AIFLOCK_EMBEDDER: 'hashing' } });
    plane = contextPlane({ config: config.context, llm: config.llm, store: sql.context, tasks: sql.tasks, index: await openVectorIndex('store', sql, () => undefined), gateway: null, clock: fixedClock(), log: (level, msg) => void (level === 'warn' && warnings.push(msg)) });
    record = plane.recordRun;
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aiflock-runs-'));
    sql = await SqlStore.open(sqliteBackend(join(dir, 'flock.db')));
    warnings.length = 0;
  });
  afterEach(async () => {
    await sql.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = async (input: unknown, end: Partial<TaskRecord>) => {
    const t = task({ id: newTaskId(new Date()), agent: 'surveyor', type: 'survey', input });
    await store.tasks.insert(t);
    await store.tasks.transition(t.id, ['queued'], { status: 'running', startedAt: new Date().toISOString() });
    expect(await sql.context.documents.get('runs', t.id)).toBeUndefined(); // running is not final
    await store.tasks.transition(t.id, ['running'], { finishedAt: new Date().toISOString(), ...end });
    return t;
  };

  it('records completed and failed runs with their input, outcome, tags and provenance; later packs draw on them', async () => {
    await open(true);
    const ok = await run({ question: 'survey the northern bridge' }, { status: 'completed', result: 'the northern bridge has a cracked pillar on the east side' });
    const failed = await run({ question: 'survey the mill race' }, { status: 'failed', error: 'the mill race was flooded' });
    // The recorder works in the background; wait for what was handed to it so far.
    await plane.runsRecorded();
    expect(await sql.context.documents.get('runs', ok.id)).toMatchObject({ kind: 'note', source: `task/${ok.id}`, owner: 'surveyor', title: 'surveyor survey task completed', tags: ['agent:surveyor', 'status:completed', 'type:survey'] });
    expect((await sql.context.chunks.ofDocument('runs', failed.id))[0]!.text).toContain('Outcome: failed\nthe mill race was flooded');
    const hits = await plane.context.search({ q: 'cracked pillar', collection: 'runs', topK: 3, mode: 'hybrid' });
    expect(hits.hits[0]).toMatchObject({ documentId: ok.id, source: `task/${ok.id}`, tags: ['agent:surveyor', 'status:completed', 'type:survey'] });
    const onlyFailed = await plane.context.search({ q: 'survey', collection: 'runs', tags: ['status:failed'], topK: 5, mode: 'hybrid' });
    expect(onlyFailed.hits.map((h) => h.documentId)).toEqual([failed.id]);
    // A new job about the bridge gets the earlier run in its context pack, with provenance.
    const next = task({ id: newTaskId(new Date()), input: { question: 'is the northern bridge safe to cross?' } });
    await store.tasks.insert(next);
    const pack = await plane.context.pack(next.id, 500, 'runs');
    expect(pack.items[0]!.provenance).toMatchObject({ collection: 'runs', documentId: ok.id, source: `task/${ok.id}` });
    expect(warnings).toEqual([]);
  });

  it('is off by default: nothing is recorded', async () => {
    expect(loadConfig({ env: { AIFLOCK_HOME: dir } }).context.recordRuns).toBe(false);
    await open(false);
    expect(plane.recordRun).toBeNull();
    await run('anything', { status: 'completed', result: 'done' });
    await plane.runsRecorded();
    expect(await sql.context.collections.get('runs')).toBeUndefined();
  });
});

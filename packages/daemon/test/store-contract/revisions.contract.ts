import { describe, expect, it } from 'vitest';
import { manifestCid, parseManifest, type RevisionRecord, type Store } from '@aiflock/core';

function revision(agent: string, n: number, text: string, extra: Partial<RevisionRecord> = {}): RevisionRecord {
  const p = parseManifest(text);
  return { agent, revision: n, digest: p.digest, cid: manifestCid(p.digest), document: p.document, overrides: [], cause: 'deploy', fromRevision: null, changes: [], deployedBy: 'tok_1', deployedAt: `2026-01-01T00:00:0${n}.000Z`, ...extra };
}

export function contract(open: () => Promise<Store>): void {
  describe('agent revisions', () => {
    it('keeps every revision in order, finds one by digest, and forgets an agent whole', async () => {
      const store = await open();
      const one = revision('echo', 1, 'name: echo\n');
      const two = revision('echo', 2, 'name: echo\nreplicas: 2\n', { overrides: ['replicas=2'], changes: ['replicas'] });
      const back = revision('echo', 3, 'name: echo\n', { cause: 'rollback', fromRevision: 1 });
      for (const r of [one, two, back, revision('other', 1, 'name: other\n')]) await store.revisions.add(r);
      expect((await store.revisions.list('echo')).map((r) => [r.revision, r.cause, r.fromRevision])).toEqual([
        [1, 'deploy', null],
        [2, 'deploy', null],
        [3, 'rollback', 1],
      ]);
      expect(await store.revisions.list('echo').then((l) => l[1])).toEqual(two);
      expect((await store.revisions.latest('echo'))?.revision).toBe(3);
      expect((await store.revisions.byDigest(one.digest))?.revision).toBe(3);
      expect(await store.revisions.byDigest(`sha256:${'0'.repeat(64)}`)).toBeUndefined();
      // (agent, revision) is the key: a second revision 2 is refused rather than overwriting history.
      await expect(store.revisions.add({ ...two, digest: one.digest })).rejects.toThrow();
      await store.revisions.removeAgent('echo');
      expect(await store.revisions.list('echo')).toEqual([]);
      expect(await store.revisions.latest('other')).toMatchObject({ agent: 'other', revision: 1 });
    });
  });
}

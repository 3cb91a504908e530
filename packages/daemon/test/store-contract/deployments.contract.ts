import { describe, expect, it } from 'vitest';
import { parseManifest, type Store } from '@aiflock/core';

export function contract(open: () => Promise<Store>): void {
  describe('deployments and instances', () => {
    it('migrates once and reopens the same data', async () => {
      let store = await open();
      const { manifest, digest } = parseManifest('name: echo\n');
      await store.deployments.upsert({ name: 'echo', digest, manifest, replicas: 2, state: 'active', createdAt: 'a', updatedAt: 'b' });
      await store.close();
      store = await open();
      expect(await store.deployments.get('echo')).toMatchObject({ digest, replicas: 2, manifest: { name: 'echo' } });
      expect((await store.deployments.list()).map((d) => d.name)).toEqual(['echo']);
      await store.deployments.upsert({ name: 'echo', digest, manifest, replicas: 5, state: 'stopped', createdAt: 'a', updatedAt: 'c' });
      expect(await store.deployments.get('echo')).toMatchObject({ replicas: 5, state: 'stopped', updatedAt: 'c' });
      await store.deployments.remove('echo');
      expect(await store.deployments.get('echo')).toBeUndefined();
    });

    it('keeps the owner recorded at deploy, and reads records written before owners were recorded as unowned', async () => {
      const store = await open();
      const { manifest, digest } = parseManifest('name: echo\n');
      await store.deployments.upsert({ name: 'echo', digest, manifest, replicas: 1, state: 'active', owner: 'tok_00000000000000c1', createdAt: 'a', updatedAt: 'b' });
      await store.deployments.upsert({ name: 'old', digest, manifest: { ...manifest, name: 'old' }, replicas: 1, state: 'active', createdAt: 'a', updatedAt: 'b' });
      expect(await store.deployments.get('echo')).toMatchObject({ owner: 'tok_00000000000000c1' });
      expect((await store.deployments.list()).map((d) => [d.name, d.owner])).toEqual([
        ['echo', 'tok_00000000000000c1'],
        ['old', null],
      ]);
    });

    it('upserts, lists per agent and removes instances', async () => {
      const store = await open();
      const inst = { id: 'echo-aaaaaaaa', agent: 'echo', status: 'running' as const, handle: 'c1', node: 'n', startedAt: null, lastHeartbeatAt: null, exitCode: null, oomKilled: false };
      await store.instances.upsert(inst);
      await store.instances.upsert({ ...inst, id: 'shell-bbbbbbbb', agent: 'shell' });
      await store.instances.upsert({ ...inst, status: 'exited', exitCode: 137, oomKilled: true });
      expect(await store.instances.get('echo-aaaaaaaa')).toEqual({ ...inst, status: 'exited', exitCode: 137, oomKilled: true });
      expect((await store.instances.list('echo')).map((i) => i.id)).toEqual(['echo-aaaaaaaa']);
      expect(await store.instances.list()).toHaveLength(2);
      await store.instances.remove('echo-aaaaaaaa');
      expect(await store.instances.get('echo-aaaaaaaa')).toBeUndefined();
    });

    it('answers a ping', async () => {
      const store = await open();
      expect(await store.ping()).toMatchObject({ ok: true });
    });
  });
}

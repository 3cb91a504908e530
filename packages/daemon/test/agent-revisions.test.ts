import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, StorageType } from 'nats';
import { manifestCid } from '@aiflock/core';
import type { AgentView, DeployResponse, RevisionList } from '@aiflock/protocol';
import { apiCli, type ApiCli } from '../../../testkit/cli.js';
import { startApi, type ApiHarness } from './http-harness.js';
import { MANIFEST_BUCKET } from '../src/adapters/nats/manifest-artefacts.js';

/**
 * Revisions through the built CLI against the API (real SQLite store, real nats-server with
 * JetStream): history, rollback, deploy by digest and by CID, `--set` overrides, and a
 * manifest fetched from the bus's object store when the store has no revision of it.
 */
let api: ApiHarness;
let cli: ApiCli;
const file = (name: string, text: string) => {
  const path = join(api.dir, name);
  writeFileSync(path, text);
  return path;
};
const json = async (args: string[]) => {
  const r = await cli.run([...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

beforeAll(async () => {
  api = await startApi();
  cli = apiCli(() => api.url, { token: () => api.adminToken });
});
afterAll(async () => {
  cli?.cleanup();
  await api?.close();
});

describe('agent convert', { timeout: 120_000 }, () => {
  it('shows the CIM example as the manifest it deploys as, with its notes, changing nothing; a bad manifest exits 2 naming the field', async () => {
    const example = join(import.meta.dirname, '..', '..', '..', 'examples', 'agents', 'nats-expert.cim.agent.md');
    const out = await json(['agent', 'convert', example]);
    expect(out).toMatchObject({ dialect: 'cim', digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), manifest: { placement: { node: expect.any(String) } } });
    expect(out.notes.map((n: { field: string }) => n.field)).toContain('nats');
    const text = await cli.run(['agent', 'convert', example]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^---\n/);
    expect(text.stderr).toMatch(/# cim dialect, sha256:/);
    expect((await api.fetch('/v1/agents')).body.agents.map((a: AgentView) => a.name)).not.toContain(out.manifest.name);
    const bad = await cli.run(['agent', 'convert', file('bad.yaml', 'name: x\nresources: { memory: lots }\n')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/resources\.memory/);
  });
});

describe('agent revisions', { timeout: 120_000 }, () => {
  it('records each changing deploy, with who, what changed and overrides; rolls back; deploys by digest and CID', async () => {
    const v1 = file('v1.yaml', 'name: rev\nversion: 1.0.0\n');
    const first = (await json(['agent', 'deploy', v1])) as DeployResponse;
    expect(first).toMatchObject({ changed: true, revision: 1 });
    // The same manifest again is no revision at all.
    expect((await api.fetch('/v1/agents', { method: 'POST', body: { manifest: 'name: rev\nversion: 1.0.0\n' } })).body).toMatchObject({ changed: false, revision: 1 });
    const second = (await json(['agent', 'deploy', file('v2.yaml', 'name: rev\nversion: 1.1.0\n'), '--set', 'resources.memory=1Gi', '--set', 'replicas=0'])) as DeployResponse;
    expect(second).toMatchObject({ changed: true, revision: 2, agent: { version: '1.1.0', resources: { memoryBytes: 1024 ** 3 }, replicas: { desired: 0 } } });

    const history = (await api.fetch('/v1/agents/rev/revisions')).body as RevisionList;
    expect(history.revisions.map((r) => [r.revision, r.cause, r.current])).toEqual([
      [1, 'deploy', false],
      [2, 'deploy', true],
    ]);
    const [r1, r2] = history.revisions as [RevisionList['revisions'][number], RevisionList['revisions'][number]];
    expect(r1.digest).toBe(first.agent.digest);
    expect(r2).toMatchObject({ overrides: ['resources.memory=1Gi', 'replicas=0'], changes: ['replicas', 'resources.memory', 'version'], deployedBy: expect.stringMatching(/^tok_/) });
    expect(r2.cid).toBe(manifestCid(r2.digest));
    expect(r2.cid).toMatch(/^bafkrei[a-z2-7]+$/);
    const table = await cli.run(['agent', 'history', 'rev']);
    expect(table.stdout).toMatch(/^2\*\s+sha256:/m);
    expect(table.stdout).toContain('--set resources.memory=1Gi replicas=0');

    // Rollback, by default to the previous revision, is itself a revision.
    const back = (await json(['agent', 'rollback', 'rev'])) as DeployResponse;
    expect(back).toMatchObject({ changed: true, revision: 3, agent: { digest: r1.digest, version: '1.0.0' } });
    const after = (await api.fetch('/v1/agents/rev/revisions')).body as RevisionList;
    expect(after.revisions.at(-1)).toMatchObject({ revision: 3, cause: 'rollback', fromRevision: 1, current: true, changes: ['replicas', 'resources.memory', 'version'] });
    // --to by number: the override came back with it.
    expect((await api.fetch('/v1/agents/rev/rollback', { method: 'POST', body: { to: 2 } })).body).toMatchObject({ revision: 4, agent: { digest: r2.digest, resources: { memoryBytes: 1024 ** 3 } } });

    // By digest and by CID, each with an override stored in the new revision.
    const byDigest = (await api.fetch('/v1/agents', { method: 'POST', body: { ref: r1.digest } })).body as DeployResponse;
    expect(byDigest).toMatchObject({ changed: true, revision: 5, agent: { digest: r1.digest } });
    const byCid = (await json(['agent', 'deploy', r1.cid, '--set', 'description=by cid'])) as DeployResponse;
    expect(byCid).toMatchObject({ changed: true, revision: 6, agent: { description: 'by cid' } });
    expect(((await api.fetch('/v1/agents/rev/revisions')).body as RevisionList).revisions.at(-1)).toMatchObject({ cause: 'deploy-ref', overrides: ['description=by cid'], changes: ['description'] });

    const audit = await api.fetch('/v1/audit?action=agent.rollback');
    expect(audit.status).toBe(200);
    expect(JSON.stringify(audit.body)).toContain('agent/rev');
  });

  it('refuses what it cannot do, with the reason, changing nothing', async () => {
    await json(['agent', 'deploy', file('solo.yaml', 'name: solo\n')]);
    const before = ((await api.fetch('/v1/agents/solo')).body as AgentView).digest;
    const deploy = (body: unknown) => api.fetch('/v1/agents', { method: 'POST', body });
    const rollback = (agent: string, body: unknown) => api.fetch(`/v1/agents/${agent}/rollback`, { method: 'POST', body });
    const cases: [Promise<{ status: number; body: { error: { code: string; message: string } } }>, number, RegExp][] = [
      [rollback('solo', {}), 404, /only one revision/],
      [rollback('solo', { to: 9 }), 404, /no revision "9"/],
      [rollback('nobody', {}), 404, /no agent named "nobody"/],
      [deploy({ ref: `sha256:${'1'.repeat(64)}` }), 404, /no manifest stored under/],
      [deploy({ ref: 'sha256:abc' }), 400, /neither a manifest digest/],
      [deploy({ ref: `sha256:${'1'.repeat(64)}`, manifest: 'name: solo\n' }), 400, /either manifest .* or ref/],
      [deploy({ manifest: 'name: solo\n', set: ['resources.memory=lots'] }), 400, /resources\.memory/],
      [deploy({ manifest: 'name: solo\n', set: ['no-equals'] }), 400, /path=value/],
      [deploy({ manifest: 'name: solo\n', set: ['replica=2'] }), 400, /"replica".*no such field/],
    ];
    for (const [response, status, message] of cases) {
      const r = await response;
      expect(r.status, JSON.stringify(r.body)).toBe(status);
      expect(r.body.error.message).toMatch(message);
    }
    // The CLI says the same with its exit codes.
    const cliRefusal = await cli.run(['agent', 'rollback', 'solo', '--to', '9']);
    expect(cliRefusal.code).toBe(3);
    expect(cliRefusal.stderr).toMatch(/no revision "9"/);
    expect(((await api.fetch('/v1/agents/solo')).body as AgentView).digest).toBe(before);
    expect(((await api.fetch('/v1/agents/solo/revisions')).body as RevisionList).revisions).toHaveLength(1);
  });

  it('finds a manifest on the bus (JetStream object store) when this store has no revision of it, and checks it against its digest', async () => {
    const gone = (await api.fetch('/v1/agents', { method: 'POST', body: { manifest: 'name: gone\ndescription: from the bus\n' } })).body as DeployResponse;
    const digest = gone.agent.digest;
    // Removing the agent forgets its history here (as helm uninstall does)...
    expect((await api.fetch('/v1/agents/gone', { method: 'DELETE' })).status).toBe(204);
    expect(await api.store.revisions.byDigest(digest)).toBeUndefined();
    // ...but the content is on the bus, so another host, or this one later, deploys it by CID.
    const again = (await api.fetch('/v1/agents', { method: 'POST', body: { ref: manifestCid(digest) } })).body as DeployResponse;
    expect(again).toMatchObject({ changed: true, revision: 1, agent: { name: 'gone', description: 'from the bus', digest } });

    // Content on the bus that does not hash to its name is refused, not deployed.
    const nc = await connect({ servers: api.natsUrl });
    const os = await nc.jetstream().views.os(MANIFEST_BUCKET, { storage: StorageType.File });
    const forged = `sha256:${'ab'.repeat(32)}`;
    await os.putBlob({ name: forged }, new TextEncoder().encode(JSON.stringify({ name: 'forged', image: 'evil/image' })));
    await nc.close();
    const r = await api.fetch('/v1/agents', { method: 'POST', body: { ref: forged } });
    expect(r.status).toBe(502);
    expect(r.body.error).toMatchObject({ code: 'manifest_integrity_failed', message: expect.stringMatching(/hashes to sha256:.*corrupt or was tampered/) });
    expect((await api.fetch('/v1/agents/forged')).status).toBe(404);
  });

  it('keeps rollback an agents:write act: a reader may see the history but not roll back', async () => {
    const reader = await api.token(['agents:read']);
    expect((await api.fetch('/v1/agents/rev/revisions', { token: reader })).status).toBe(200);
    const denied = await api.fetch('/v1/agents/rev/rollback', { method: 'POST', body: {}, token: reader });
    expect(denied.status).toBe(403);
    expect(((await api.fetch('/v1/agents/rev/revisions')).body as RevisionList).revisions).toHaveLength(6);
  });
});

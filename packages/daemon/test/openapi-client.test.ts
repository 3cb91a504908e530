import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentList, AuditPage, PostView, TierList } from '@aiflock/protocol';
import { startApi, type ApiHarness } from './http-harness.js';
import type * as Fixture from './openapi-client/use-client-shape.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');

let api: ApiHarness;
let dir: string;
beforeAll(async () => {
  api = await startApi();
  // Inside the repo, so the generated client resolves openapi-fetch from its node_modules.
  await mkdir(join(repo, '.tmp'), { recursive: true });
  dir = await mkdtemp(join(repo, '.tmp', 'openapi-client-'));
}, 60_000);
afterAll(async () => {
  await api?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * A client generated with openapi-typescript from the running daemon's own document, used
 * through openapi-fetch: it type-checks (including an OpenAI chat request, which the document
 * could not type before) and its calls work against the daemon.
 */
describe('a client generated from /v1/openapi.json', () => {
  it('type-checks against the routes and calls them', async () => {
    const ast = await openapiTS(new URL(`${api.url}/v1/openapi.json`));
    await writeFile(join(dir, 'schema.d.ts'), astToString(ast));
    await writeFile(join(dir, 'use-client.ts'), await readFile(join(here, 'openapi-client', 'use-client.ts.txt'), 'utf8'));
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ extends: join(repo, 'tsconfig.base.json'), compilerOptions: { noEmit: true, composite: false, declaration: false, declarationMap: false, lib: ['ES2023', 'DOM'] }, include: ['*.ts'] }),
    );
    const tsc = join(repo, 'node_modules', '.bin', 'tsc');
    const checked = await promisify(execFile)(tsc, ['-p', join(dir, 'tsconfig.json')], { cwd: dir }).then(
      () => ({ ok: true, out: '' }),
      (e: { stdout?: string }) => ({ ok: false, out: e.stdout ?? String(e) }),
    );
    expect(checked.out).toBe('');
    expect(checked.ok).toBe(true);

    const { useClient } = (await import(pathToFileURL(join(dir, 'use-client.ts')).href)) as typeof Fixture;
    const r = await useClient(api.url, api.adminToken);
    expect(r.agentName).toBe('typed-client');
    expect(r.names).toContain('typed-client');
    expect(r.replicas).toBe(1);
    expect([r.missingStatus, r.missingCode]).toEqual([404, 'agent_not_found']);
    expect(r.postId).toMatch(/^post_/);
    expect(r.tierNames.length).toBeGreaterThan(0);
    expect(r.auditActions).toContain('agent.deploy');
    // This harness has no LLM provider: the declared 503 comes back, typed.
    expect([r.chatStatus, r.chatCode, r.reply]).toEqual([503, 'llm_unavailable', undefined]);
  }, 180_000);

  it('gets answers that match the response schemas it was generated from', async () => {
    AgentList.parse((await api.fetch('/v1/agents')).body);
    TierList.parse((await api.fetch('/v1/economy/tiers')).body);
    AuditPage.parse((await api.fetch('/v1/audit?limit=20')).body);
    const posted = await api.fetch('/v1/board/posts', { method: 'POST', body: { title: 't', body: 'b' } });
    expect(posted.status).toBe(201);
    PostView.parse(posted.body);
  });
});

import { connect, credsAuthenticator } from 'nats';
import type { Page } from 'playwright-core';
import type { IssuedJoinToken, NodeHeartbeat, NodeInfo, NodeJoined } from '@aiflock/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, signIn, type TestBrowser } from '../../testkit/browser.js';
import { eventually, testFlock, type TestFlock } from '../../testkit/flock.js';
import { deployYaml, upFlock } from '../../testkit/agents.js';

/*
 * What operators met in the web UI (issue 21), in Debian's Chromium against a real daemon:
 * a favicon; a wrong token on a first visit is refused as such (no "session ended"); people
 * are shown by their token's name, never a `tok_` id; a finished job offers no Cancel;
 * Quarantine and revoking a token ask first, and a "no" changes nothing; the nodes page (issue 17).
 * Screenshots go to test-artifacts/web/ops-*.png.
 */
let flock: TestFlock;
let browser: TestBrowser;
let page: Page;
let alice: { id: string; token: string };

const makeToken = async (name: string, scopes: string[]) => {
  const r = await flock.api('/v1/tokens', { method: 'POST', body: { name, scopes } });
  expect(r.status).toBe(201);
  return r.body as { id: string; token: string };
};
/** Answers the next confirm() with `accept` and resolves to its message. */
const nextDialog = (p: Page, accept: boolean) =>
  new Promise<string>((resolve) => p.once('dialog', (d) => void (accept ? d.accept() : d.dismiss()).then(() => resolve(d.message()))));

beforeAll(async () => {
  flock = await testFlock();
  await upFlock(flock);
  alice = await makeToken('alice', ['human']);
  await deployYaml(flock, 'worker', 'handlers: [shell, echo]\ntools: { shell: true }\nconcurrency: 2\n');
  browser = await launchBrowser('ops');
  page = await browser.page();
});

afterAll(async () => {
  await browser?.close();
  await flock?.cleanup();
});

describe('first visit', () => {
  it('has a favicon', async () => {
    await page.goto(`${flock.apiUrl}/`);
    const href = await page.locator('link[rel=icon]').getAttribute('href');
    expect(href).toBe('/favicon.svg');
    const icon = await fetch(`${flock.apiUrl}${href}`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(await icon.text()).toMatch(/^<svg /);
  });

  it('a wrong token is refused as a wrong token, not as a session that ended', async () => {
    await page.goto(`${flock.apiUrl}/`);
    await page.getByLabel('Token').fill('afk_not-a-real-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/token/i);
    expect(await page.getByText('Your session ended').count()).toBe(0);
    expect(await page.getByRole('status').count()).toBe(0);
    await browser.screenshot(page, 'wrong-token');
  });
});

describe('names, not token ids', () => {
  it('the header, the board and the audit log name people by their token name', async () => {
    const post = await flock.api('/v1/board/posts', { method: 'POST', token: alice.token, body: { title: 'Who moved my kettle?', body: 'It was here.' } });
    expect(post.status).toBe(201);
    // Something of alice's in the audit log: a refused request is audited (denied).
    expect((await flock.api('/v1/tokens', { token: alice.token })).status).toBe(403);

    await signIn(page, flock.apiUrl, await flock.adminToken());
    await expect.poll(() => page.getByTestId('actor').textContent()).toBe('bootstrap-admin');

    await page.goto(`${flock.apiUrl}/#/board`);
    const item = page.locator(`[data-post="${post.body.id}"]`);
    await expect.poll(() => item.textContent()).toContain('alice');
    expect(await item.textContent()).not.toContain('tok_');

    await page.goto(`${flock.apiUrl}/#/admin/audit`);
    const actors = page.getByRole('table', { name: 'Audit entries' }).locator('tbody tr td:nth-child(3)');
    await expect.poll(() => actors.allTextContents()).toContain('bootstrap-admin');
    expect(await actors.allTextContents()).toContain('alice');
    expect((await actors.allTextContents()).filter((a) => a.includes('tok_'))).toEqual([]);
    // The id is still there for whoever needs it, on hover.
    expect(await actors.filter({ hasText: 'alice' }).first().getAttribute('title')).toBe(alice.id);
    await browser.screenshot(page, 'audit-names');
  });
});

describe('jobs', () => {
  it('a finished job offers no Cancel; a running one does, and cancelling it removes the button', async () => {
    const done = await flock.api('/v1/jobs', { method: 'POST', body: { agent: 'worker', type: 'echo', input: 'hi' } });
    const running = await flock.api('/v1/jobs', { method: 'POST', body: { agent: 'worker', type: 'shell', input: 'sleep 600' } });
    expect([done.status, running.status]).toEqual([202, 202]);
    await eventually(async () => ((await flock.api(`/v1/jobs/${done.body.jobId}`)).body.status === 'completed' ? true : null), 'the echo job completed');
    await eventually(async () => ((await flock.api(`/v1/jobs/${running.body.jobId}`)).body.status === 'running' ? true : null), 'the sleep job running');

    await page.goto(`${flock.apiUrl}/#/admin/jobs`);
    const finishedRow = page.locator(`tr[data-job="${done.body.jobId}"]`);
    const runningRow = page.locator(`tr[data-job="${running.body.jobId}"]`);
    await expect.poll(() => finishedRow.locator('td').nth(2).textContent()).toBe('completed');
    expect(await finishedRow.getByRole('button', { name: 'Cancel' }).count()).toBe(0);
    expect(await finishedRow.getByRole('button', { name: 'Watch' }).count()).toBe(1);
    await expect.poll(() => runningRow.getByRole('button', { name: 'Cancel' }).count()).toBe(1);
    await browser.screenshot(page, 'jobs-cancel');

    await runningRow.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => runningRow.locator('td').nth(2).textContent()).toBe('cancelled');
    await expect.poll(() => runningRow.getByRole('button', { name: 'Cancel' }).count()).toBe(0);
    // No job in the list that has ended offers Cancel.
    const rows = await page.locator('tr[data-job]').all();
    for (const row of rows) {
      const status = (await row.locator('td').nth(2).textContent()) ?? '';
      if (['completed', 'failed', 'cancelled', 'timed_out', 'dead_lettered'].includes(status)) expect(await row.getByRole('button', { name: 'Cancel' }).count(), status).toBe(0);
    }
  });
});

describe('destructive actions ask first', () => {
  it('Quarantine: "no" changes nothing, "yes" quarantines', async () => {
    await page.goto(`${flock.apiUrl}/#/admin/agents`);
    const button = page.getByRole('button', { name: 'Quarantine worker' });
    await button.waitFor();
    const asked = nextDialog(page, false);
    await button.click();
    expect(await asked).toMatch(/^Quarantine worker\? .*paused/);
    // Give a refused request every chance to have been sent, then check nothing changed.
    await page.getByTestId('status-worker').waitFor();
    expect((await flock.api('/v1/agents/worker')).body.status).not.toBe('quarantined');
    expect((await flock.api('/v1/audit?action=agent.quarantine')).body.entries).toEqual([]);

    const yes = nextDialog(page, true);
    await button.click();
    await yes;
    await expect.poll(() => page.getByTestId('status-worker').textContent(), { timeout: 30_000 }).toBe('quarantined');
    await page.getByRole('button', { name: 'Release worker' }).click();
    await expect.poll(() => page.getByTestId('status-worker').textContent(), { timeout: 60_000 }).not.toBe('quarantined');
  });

  it('revoking the token you are signed in with warns so; "no" keeps it', async () => {
    const own = await makeToken('carol-admin', ['admin']);
    const other = await makeToken('ci', ['jobs:read']);
    await signIn(page, flock.apiUrl, own.token);
    await page.goto(`${flock.apiUrl}/#/admin/tokens`);

    const warned = nextDialog(page, false);
    await page.getByRole('button', { name: 'Revoke carol-admin' }).click();
    expect(await warned).toMatch(/the token you are signed in with/);
    expect((await flock.api('/v1/agents', { token: own.token })).status).toBe(200);
    await browser.screenshot(page, 'tokens-after-no');

    const plain = nextDialog(page, true);
    await page.getByRole('button', { name: 'Revoke ci' }).click();
    const message = await plain;
    expect(message).toMatch(/^Revoke ci\?/);
    expect(message).not.toMatch(/signed in with/);
    await expect.poll(async () => (await flock.api('/v1/agents', { token: other.token })).status).toBe(401);
    // Still signed in: only the other token went.
    expect((await flock.api('/v1/agents', { token: own.token })).status).toBe(200);
    await page.getByText('Signed in as').waitFor();
  });
});

describe('nodes', () => {
  it('shows each node with its state, labels, load against capacity, heartbeat and instances, refreshed live; cordon and drain from the page', async () => {
    // A host joins with a real token and heartbeats over the bus with the credentials it was given.
    const token = (await flock.api('/v1/nodes/tokens', { method: 'POST', body: { singleUse: true } })).body as IssuedJoinToken;
    const joined = await flock.api('/v1/nodes/join', { method: 'POST', body: { token: token.token, name: 'gpu-box', labels: { zone: 'b' } } });
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    const j = joined.body as NodeJoined;
    const nc = await eventually(
      () => connect({ servers: j.natsUrl, authenticator: credsAuthenticator(new TextEncoder().encode(j.creds!)), inboxPrefix: j.inboxPrefix }).catch(() => null),
      'a bus connection with the node credentials',
      30_000,
    );
    const beat = () => {
      const hb: NodeHeartbeat = { node: 'gpu-box', ts: new Date().toISOString(), intervalMs: 1000, version: 'test', capacity: { cpus: 8, memoryBytes: 32 * 1024 ** 3, runtimes: ['docker', 'process'], images: [], gpus: [0, 1].map((index) => ({ index, name: 'NVIDIA A100', memoryBytes: 40 * 1024 ** 3 })), gpuSandboxes: true }, instances: [], busAddress: null };
      nc.publish('node.gpu-box.heartbeat', JSON.stringify(hb));
    };
    beat();
    const beating = setInterval(beat, 1000);
    try {
      await eventually(async () => ((await flock.api('/v1/nodes/gpu-box')).body as NodeInfo).status === 'ready' || undefined, 'gpu-box ready', 30_000);
      const local = ((await flock.api('/v1/nodes')).body as { nodes: NodeInfo[] }).nodes.find((n) => n.local)!;
      const worker = local.instances.find((i) => i.agent === 'worker');
      expect(worker, JSON.stringify(local)).toBeTruthy();

      await page.goto(`${flock.apiUrl}/#/admin/nodes`);
      const table = page.getByRole('table', { name: 'Nodes' });
      await table.getByRole('row', { name: /gpu-box/ }).waitFor();
      expect(await page.getByTestId('node-state-gpu-box').textContent()).toBe('ready');
      expect(await page.getByTestId('node-labels-gpu-box').textContent()).toBe('zone=b');
      expect(await page.getByTestId('node-cpu-gpu-box').textContent()).toBe('0 / 8');
      expect(await page.getByTestId('node-memory-gpu-box').textContent()).toBe('0.0 GiB / 32.0 GiB');
      expect(await page.getByTestId('node-gpus-gpu-box').textContent()).toBe('0 / 2');
      expect(await page.getByTestId('node-heartbeat-gpu-box').textContent()).toMatch(/^\d+ s ago$/);
      expect(await page.getByTestId(`node-cpu-${local.name}`).textContent()).toBe(`${local.allocated.cpu} / ${local.capacity!.cpus}`);
      expect(await page.getByTestId(`node-state-${local.name}`).textContent()).toBe('ready');
      // The control plane's node lists the worker's instance, linking to the agent's page.
      const instances = page.getByRole('list', { name: `Instances on ${local.name}` });
      expect(await instances.textContent()).toContain(worker!.id);
      await browser.screenshot(page, 'ops-nodes');

      // A change made elsewhere (the CLI) shows without a reload.
      expect((await flock.cliJson<NodeInfo>(['node', 'cordon', 'gpu-box'])).cordoned).toBe(true);
      await expect.poll(() => page.getByTestId('node-state-gpu-box').textContent(), { timeout: 15_000 }).toBe('cordoned');
      await page.getByRole('button', { name: 'Uncordon gpu-box' }).click();
      await expect.poll(() => page.getByTestId('node-state-gpu-box').textContent(), { timeout: 15_000 }).toBe('ready');
      expect(((await flock.api('/v1/nodes/gpu-box')).body as NodeInfo).cordoned).toBe(false);
      // Drain asks first; nothing of the flock runs there, so it is drained at once.
      const asked = nextDialog(page, true);
      await page.getByRole('button', { name: 'Drain gpu-box' }).click();
      expect(await asked).toMatch(/^Drain gpu-box\?/);
      await expect.poll(() => page.getByTestId('node-state-gpu-box').textContent(), { timeout: 15_000 }).toBe('drained');
      const drained = (await flock.api('/v1/nodes/gpu-box')).body as NodeInfo;
      expect([drained.cordoned, drained.draining, drained.drained]).toEqual([true, true, true]);

      await instances.getByRole('link', { name: 'worker' }).first().click();
      await page.waitForURL(/#\/agent\/worker$/);
    } finally {
      clearInterval(beating);
      await nc.close();
    }
  });
});

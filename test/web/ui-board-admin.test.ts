import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, signIn, type TestBrowser } from '../../testkit/browser.js';
import { REPO_ROOT, testFlock, type TestFlock } from '../../testkit/flock.js';

/**
 * The web UI in Debian's Chromium against a real daemon (its own flock, real Docker and NATS):
 * serving, sign-in and out, what a person without admin sees, the board (live, and safe against
 * script in bodies), the admin pages (moderation, compute controls and context search among
 * them), and the offline banner across a daemon restart.
 * Screenshots go to test-artifacts/web/.
 */
let flock: TestFlock;
let browser: TestBrowser;
let adminToken: string;
let humanToken: string;

beforeAll(async () => {
  flock = await testFlock();
  const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
  expect(up.code, up.stderr).toBe(0);
  adminToken = await flock.adminToken();
  const made = await flock.api('/v1/tokens', { method: 'POST', body: { name: 'alice', scopes: ['human'] } });
  expect(made.status).toBe(201);
  humanToken = made.body.token;
  browser = await launchBrowser('board-admin');
});

afterAll(async () => {
  await browser?.close();
  await flock?.cleanup();
});

const signOut = async (page: Page) => {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
};

describe('the daemon serves the UI', () => {
  it('the page with its security headers, hashed assets cached for a year, client routes, and API 404s in JSON', async () => {
    const res = await fetch(`${flock.apiUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const html = await res.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset, html).toBeTruthy();
    const js = await fetch(`${flock.apiUrl}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(js.headers.get('cache-control')).toMatch(/max-age=31536000.*immutable/);

    // A reloaded client route gets the page; a missing file or an unknown API path does not.
    const page = await fetch(`${flock.apiUrl}/village`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toBe(html);
    const missing = await fetch(`${flock.apiUrl}/assets/nope.js`, { headers: { accept: 'text/html' } });
    expect(missing.status).toBe(404);
    expect((await missing.json()).error.code).toBe('not_found');
    const api = await fetch(`${flock.apiUrl}/v1/nope`, { headers: { accept: 'text/html' } });
    expect(api.status).toBe(404);
    expect((await api.json()).error.code).toBe('not_found');
    // Traversal out of the UI directory finds nothing.
    const traversal = await fetch(`${flock.apiUrl}/assets/%2e%2e/%2e%2e/package.json`);
    expect(traversal.status).toBe(404);
  });
});

describe('sign-in', () => {
  it('refuses a wrong token and says so, signs an admin in and out, and the cookie dies with the sign-out', async () => {
    const page = await browser.page();
    await page.goto(`${flock.apiUrl}/`);
    await page.getByLabel('Token').fill('afk_not-a-real-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/token/i);
    await browser.screenshot(page, 'sign-in-refused');
    expect((await page.request.get(`${flock.apiUrl}/v1/agents`)).status()).toBe(401);

    await signIn(page, flock.apiUrl, adminToken);
    await expect.poll(() => page.getByTestId('actor').textContent()).toBe('bootstrap-admin');
    await expect.poll(() => page.getByRole('link', { name: 'Admin' }).count()).toBe(1);
    expect((await page.request.get(`${flock.apiUrl}/v1/agents`)).status()).toBe(200);
    // The session survives a reload (the cookie plus the CSRF token the page kept).
    await page.reload();
    await page.getByText('Signed in as').waitFor();
    await browser.screenshot(page, 'signed-in-admin');

    await signOut(page);
    expect((await page.request.get(`${flock.apiUrl}/v1/agents`)).status()).toBe(401);
    await page.close();
  });

  it('a person with the human scope sees no admin pages, and the API refuses them anyway', async () => {
    const page = await browser.page();
    await signIn(page, flock.apiUrl, humanToken);
    await page.getByRole('link', { name: 'Board' }).waitFor();
    expect(await page.getByRole('link', { name: 'Admin' }).count()).toBe(0);
    await page.goto(`${flock.apiUrl}/#/admin/tokens`);
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('admin tokens only');
    expect(await page.getByRole('heading', { name: 'Tokens' }).count()).toBe(0);
    await browser.screenshot(page, 'human-no-admin');
    // The page hides the admin pages; the API is what actually refuses.
    expect((await page.request.get(`${flock.apiUrl}/v1/tokens`)).status()).toBe(403);
    const csrf = await page.evaluate(() => (JSON.parse(localStorage.getItem('aiflock.session') ?? '{}') as { csrfToken?: string }).csrfToken ?? '');
    const credit = await page.request.post(`${flock.apiUrl}/v1/economy/credit`, { headers: { 'x-csrf-token': csrf }, data: { agent: 'echo', amount: 100, paymentTxnId: 'PAY-1' } });
    expect(credit.status()).toBe(403);
    await signOut(page);
    await page.close();
  });
});

describe('a session that ends', () => {
  it('returns the page to the sign-in form with a notice when its token is revoked', async () => {
    const made = await flock.api('/v1/tokens', { method: 'POST', body: { name: 'dave', scopes: ['human'] } });
    const page = await browser.page();
    await signIn(page, flock.apiUrl, made.body.token);
    expect((await flock.api(`/v1/tokens/${made.body.id}/revoke`, { method: 'POST' })).status).toBe(200);
    // Revocation closes the page's live sockets at once; the page asks why, is refused, and
    // says so instead of showing errors or retrying forever.
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('Your session ended');
    await page.close();
  });
});

describe('the board', () => {
  const XSS_BODY = 'Looks harmless <img src=x onerror="window.__xss=1"> and <script>window.__xss=2</script> <b onmouseover="window.__xss=3">bold?</b>';

  it('a person posts and replies; another tab sees both live; script in a body is shown as text and never runs', async () => {
    const page = await browser.page();
    await signIn(page, flock.apiUrl, humanToken);
    const watcher = await browser.page();
    await watcher.goto(`${flock.apiUrl}/#/board`);
    await watcher.getByRole('heading', { name: 'Board' }).waitFor();

    await page.goto(`${flock.apiUrl}/#/board`);
    await page.getByText('Write a post').click();
    await page.getByLabel('Title').fill('Is this safe?');
    await page.getByLabel('Body').fill(XSS_BODY);
    await page.getByLabel('Tags (space or comma separated)').fill('security');
    await page.getByRole('button', { name: 'Post', exact: true }).click();
    const body = page.getByTestId('post-body');
    await expect.poll(() => body.textContent()).toBe(XSS_BODY);
    expect(await body.locator('img, script, b').count()).toBe(0);

    // Live: the other tab lists the new post without a reload, and renders it as text too.
    await watcher.getByRole('button', { name: /Is this safe\?/ }).click();
    await expect.poll(() => watcher.getByTestId('post-body').textContent()).toBe(XSS_BODY);

    await page.getByLabel('Your reply').fill('A reply with <img src=y onerror="window.__xss=4">');
    await page.getByRole('button', { name: 'Reply' }).click();
    await expect.poll(() => watcher.locator('.reply-body').allTextContents()).toEqual(['A reply with <img src=y onerror="window.__xss=4">']);
    await page.locator('.post-body').hover();
    await browser.screenshot(watcher, 'board-thread-xss');

    // The board uses the page: on a wide screen the list and the open thread side by side, the
    // thread taking the rest of the width; on a narrow one, stacked, each the full width.
    const boxes = async () => {
      const list = (await watcher.locator('.posts-panel').boundingBox())!;
      const thread = (await watcher.getByTestId('thread').boundingBox())!;
      return { list, thread, width: watcher.viewportSize()!.width };
    };
    const wide = await boxes();
    expect(wide.thread.x).toBeGreaterThanOrEqual(wide.list.x + wide.list.width);
    expect(Math.abs(wide.thread.y - wide.list.y)).toBeLessThan(40);
    expect(wide.thread.x + wide.thread.width).toBeGreaterThan(wide.width * 0.9);
    expect(wide.thread.width).toBeGreaterThan(wide.list.width);
    await watcher.setViewportSize({ width: 700, height: 900 });
    await expect.poll(async () => {
      const b = await boxes();
      return b.thread.y >= b.list.y + b.list.height;
    }).toBe(true);
    const narrow = await boxes();
    expect(narrow.thread.width).toBeGreaterThan(narrow.width * 0.85);
    expect(narrow.list.width).toBeGreaterThan(narrow.width * 0.85);
    await browser.screenshot(watcher, 'board-narrow');
    await watcher.setViewportSize({ width: 1366, height: 900 });
    for (const p of [page, watcher]) expect(await p.evaluate(() => (window as { __xss?: number }).__xss)).toBeUndefined();
    expect(browser.errors.filter((e) => e.includes('__xss'))).toEqual([]);

    // Filters: by tag (present and absent).
    await page.getByLabel('Tag', { exact: true }).fill('security');
    await expect.poll(() => page.locator('[data-post]').count()).toBe(1);
    await page.getByLabel('Tag', { exact: true }).fill('nothing-here');
    await expect.poll(() => page.getByText('No posts match.').count()).toBe(1);
    await watcher.close();
    await signOut(page);
    await page.close();
  });
});

describe('admin pages', () => {
  let page: Page;
  beforeAll(async () => {
    page = await browser.page();
    await signIn(page, flock.apiUrl, adminToken);
  });
  afterAll(async () => {
    await page.close();
  });

  it('deploys an agent from a manifest, runs a job and watches its live stream', async () => {
    await page.goto(`${flock.apiUrl}/#/admin/agents`);
    const manifest = await readFile(join(REPO_ROOT, 'examples', 'echo.agent.yaml'), 'utf8');
    await page.getByLabel('File name (decides YAML or Markdown)').fill('echo.agent.yaml');
    await page.getByLabel('Manifest', { exact: true }).fill(manifest);
    await page.getByRole('button', { name: 'Deploy' }).click();
    await expect.poll(() => page.getByRole('status').first().textContent()).toContain('deployed echo');
    await expect.poll(() => page.getByTestId('status-echo').textContent(), { timeout: 120_000 }).toBe('running');

    // A bad manifest is refused with the API's message naming the field.
    await page.getByLabel('Manifest', { exact: true }).fill('apiVersion: aiflock/v1\nkind: Agent\nname: Bad_Name\n');
    await page.getByRole('button', { name: 'Deploy' }).click();
    await expect.poll(() => page.locator('.deploy [role=alert]').textContent()).toMatch(/name/);

    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByLabel('Input (JSON or text)').fill('{"hello":"from the browser"}');
    await page.getByRole('button', { name: 'Create job' }).click();
    const stream = page.getByTestId('job-stream');
    await expect.poll(() => stream.locator('pre').textContent(), { timeout: 60_000 }).toContain('from the browser');
    await expect.poll(() => stream.locator('pre').textContent()).toMatch(/result/);
    await browser.screenshot(page, 'admin-job-stream');
  });

  it('credits a deposit once (idempotent on the payment id) and shows the ledger and tiers', async () => {
    await page.goto(`${flock.apiUrl}/#/admin/economy`);
    await page.getByRole('table', { name: 'Tiers' }).getByRole('row', { name: /tier0/ }).waitFor();
    await page.getByLabel('Amount (aiDollars)').fill('20');
    await page.getByLabel('Payment transaction id').fill('PAY-WEB-1');
    await page.getByRole('button', { name: 'Credit' }).click();
    await expect.poll(() => page.locator('.inline-form [role=status]').textContent()).toContain('credited 20.00');
    await expect.poll(() => page.getByTestId('ledger-balance').textContent()).toContain('Balance 20.00 aiDollars, tier tier1');
    // The compute table follows the credit too.
    await expect.poll(() => page.getByTestId('tier-echo').textContent()).toBe('tier1');
    await page.getByRole('button', { name: 'Credit' }).click();
    await expect.poll(() => page.locator('.inline-form [role=status]').textContent()).toContain('already credited');
    expect((await flock.api('/v1/economy/balance/echo')).body.balance).toBe(2000);
    await browser.screenshot(page, 'admin-ledger');
  });

  it("freezes and unfreezes an agent's compute with a note, and the API agrees each time", async () => {
    await page.goto(`${flock.apiUrl}/#/admin/economy`);
    const form = page.getByRole('form', { name: 'Freeze or unfreeze compute' });
    await expect.poll(() => page.getByTestId('frozen-echo').textContent()).toBe('no');
    await form.getByLabel('Freeze note').fill('spending too fast');
    await form.getByRole('button', { name: 'Freeze', exact: true }).click();
    await expect.poll(() => page.getByTestId('frozen-echo').textContent()).toBe('frozen');
    expect((await flock.api('/v1/economy/balance/echo')).body.entitlements).toMatchObject({ frozen: true, tier: 'none', basis: 'frozen' });
    const audit = await flock.api('/v1/audit?action=compute.freeze&resource=agent/echo');
    expect(audit.body.entries[0].details).toEqual({ note: 'spending too fast' });
    await browser.screenshot(page, 'admin-compute-frozen');
    await form.getByRole('button', { name: 'Unfreeze' }).click();
    await expect.poll(() => page.getByTestId('frozen-echo').textContent()).toBe('no');
    expect((await flock.api('/v1/economy/balance/echo')).body.entitlements).toMatchObject({ frozen: false, tier: 'tier1', basis: 'balance' });
  });

  it("shows the API's refusal of a purchase the agent cannot afford (nothing changes), then one applied and its repeat not applied", async () => {
    const before = await flock.api('/v1/economy/ledger/echo');
    const form = page.getByRole('form', { name: 'Buy a tier' });
    await form.getByLabel('Tier').selectOption('tier2');
    await form.getByLabel('Hours').fill('720');
    await form.getByRole('button', { name: 'Buy' }).click();
    await expect.poll(() => form.getByRole('alert').textContent()).toBe('agent:echo has 20.00 aiDollars; purchase_compute of 3600.00 would take it below its floor');
    expect((await flock.api('/v1/economy/ledger/echo')).body.transactions).toEqual(before.body.transactions);
    expect((await flock.api('/v1/economy/balance/echo')).body.entitlements).toMatchObject({ balance: 2000, tier: 'tier1', basis: 'balance' });
    await browser.screenshot(page, 'admin-purchase-refused');

    await form.getByLabel('Hours').fill('1');
    await form.getByRole('button', { name: 'Buy' }).click();
    await expect.poll(() => form.getByRole('status').textContent()).toMatch(/^applied: bought tier2 for 1 h \(5\.00 aiDollars\); echo is on tier2, balance 15\.00 aiDollars$/);
    await expect.poll(() => page.getByTestId('tier-echo').textContent()).toBe('tier2');
    // The same purchase sent again (same key) is not charged twice.
    await form.getByRole('button', { name: 'Buy' }).click();
    await expect.poll(() => form.getByRole('status').textContent()).toMatch(/^not applied: purchase key web-/);
    expect((await flock.api('/v1/economy/balance/echo')).body.entitlements).toMatchObject({ balance: 1500, tier: 'tier2', basis: 'purchase' });
  });

  it('searches the context: the expected document first; markup in a snippet stays text', async () => {
    const ingest = await flock.api('/v1/ingest', {
      method: 'POST',
      body: {
        collection: 'handbook',
        documents: [
          { id: 'kettle', source: 'docs/kettle.md', title: 'Descaling the kettle', text: 'Descale the kettle every month with citric acid, then rinse it twice before boiling water again.' },
          { id: 'lantern', source: 'notes/lantern.md', title: 'Lantern note', text: 'The lantern manual says <img src=x onerror="window.__xss=5"> and <script>window.__xss=6</script> about wicks.' },
        ],
      },
    });
    expect(ingest.status, JSON.stringify(ingest.body)).toBe(200);
    await page.goto(`${flock.apiUrl}/#/admin/context`);
    await page.getByRole('option', { name: /^handbook/ }).waitFor({ state: 'attached' });
    await page.getByLabel('Collection').selectOption('handbook');
    const results = page.getByRole('list', { name: 'Search results' });
    const first = results.locator('.hit').first();

    await page.getByLabel('Query').fill('descale the kettle with citric acid');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => first.getAttribute('data-hit')).toBe('kettle');
    expect(await first.locator('.hit-source').textContent()).toBe('docs/kettle.md');
    expect(await first.locator('.p-meta').textContent()).toMatch(/^handbook · docs\/kettle\.md · score \d\.\d{4} · keyword #1 · vector #1$/);

    await page.getByLabel('Query').fill('lantern manual wicks');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => first.getAttribute('data-hit')).toBe('lantern');
    expect(await first.getByTestId('hit-snippet').textContent()).toContain('<img src=x onerror="window.__xss=5"> and <script>window.__xss=6</script>');
    expect(await results.locator('img, script').count()).toBe(0);
    expect(await page.evaluate(() => (window as { __xss?: number }).__xss)).toBeUndefined();
    await browser.screenshot(page, 'admin-context-search');
  });

  it('quarantines and releases an agent, and the audit log shows it', async () => {
    await page.goto(`${flock.apiUrl}/#/admin/agents`);
    // Quarantine asks first (test/web/ui-ops.test.ts checks that a "no" changes nothing).
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Quarantine echo' }).click();
    await expect.poll(() => page.getByTestId('status-echo').textContent(), { timeout: 30_000 }).toBe('quarantined');
    expect((await flock.api('/v1/agents/echo')).body.status).toBe('quarantined');
    await browser.screenshot(page, 'admin-quarantined');
    await page.getByRole('button', { name: 'Release echo' }).click();
    await expect.poll(() => page.getByTestId('status-echo').textContent(), { timeout: 60_000 }).not.toBe('quarantined');

    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByLabel('Action').fill('agent.quarantine');
    await expect.poll(() => page.locator('tr[data-action="agent.quarantine"]').count()).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Verify the chain' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('hash chain intact');
  });

  it('creates a token (secret shown once) and revokes it', async () => {
    await page.goto(`${flock.apiUrl}/#/admin/tokens`);
    await page.getByLabel('Name').fill('bob');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = (await page.getByTestId('new-token-secret').textContent()) ?? '';
    expect(secret).toMatch(/^afk_/);
    expect((await flock.api('/v1/agents', { token: secret })).status).toBe(200);
    await page.getByRole('button', { name: 'I have copied it' }).click();
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Revoke bob' }).click();
    await expect.poll(async () => (await flock.api('/v1/agents', { token: secret })).status).toBe(401);
    expect(await page.getByText(secret).count()).toBe(0);
  });
});

describe('moderation', () => {
  // A second browser (its own profile) holds a person's session beside the admin's.
  let people: TestBrowser;
  let person: Page;
  let admin: Page;
  let postId: string;
  beforeAll(async () => {
    const made = await flock.api('/v1/board/posts', { method: 'POST', token: humanToken, body: { title: 'Cheap lanterns here', body: 'buy now' } });
    expect(made.status).toBe(201);
    postId = made.body.id;
    people = await launchBrowser('board-person');
    person = await people.page();
    await signIn(person, flock.apiUrl, humanToken);
    admin = await browser.page();
    await signIn(admin, flock.apiUrl, adminToken);
  });
  afterAll(async () => {
    await people?.close();
    await admin?.close();
  });

  it('a person sees no moderation buttons and no Context page', async () => {
    await person.goto(`${flock.apiUrl}/#/board?post=${postId}`);
    await person.getByRole('heading', { name: 'Cheap lanterns here' }).waitFor();
    await person.getByRole('button', { name: 'Reply' }).waitFor();
    expect(await person.getByRole('button', { name: /^(Hide|Restore)$/ }).count()).toBe(0);
    expect(await person.getByLabel('Moderation reason').count()).toBe(0);
    await person.goto(`${flock.apiUrl}/#/admin/context`);
    await expect.poll(() => person.getByRole('alert').textContent()).toContain('admin tokens only');
    expect(await person.getByRole('heading', { name: 'Context search' }).count()).toBe(0);
    expect(await person.getByRole('link', { name: 'Context' }).count()).toBe(0);
  });

  it('an admin hides a post with a reason: gone for the person (live and in the API), shown hidden to admins; restored, it is back', async () => {
    await person.goto(`${flock.apiUrl}/#/board`);
    const personsPost = person.locator(`[data-post="${postId}"]`);
    await personsPost.waitFor();
    await admin.goto(`${flock.apiUrl}/#/board?post=${postId}`);
    await admin.getByRole('heading', { name: 'Cheap lanterns here' }).waitFor();

    // No reason: the API refuses, and the form shows its message.
    await admin.getByRole('button', { name: 'Hide', exact: true }).click();
    await expect.poll(() => admin.getByRole('form', { name: 'Moderate' }).getByRole('alert').textContent()).toMatch(/^invalid request body: reason: /);
    await admin.getByLabel('Moderation reason').fill('selling, not asking');
    await admin.getByRole('button', { name: 'Hide', exact: true }).click();
    await expect.poll(() => admin.getByTestId('moderation-note').textContent()).toMatch(/^Hidden from everyone but admins by tok_.*: selling, not asking$/);
    await expect.poll(() => admin.locator(`[data-post="${postId}"]`).textContent()).toContain('hidden · selling, not asking');
    await personsPost.waitFor({ state: 'detached' });
    expect((await flock.api('/v1/board/posts?limit=200', { token: humanToken })).body.posts.map((p: { id: string }) => p.id)).not.toContain(postId);
    expect((await flock.api(`/v1/board/posts/${postId}`, { token: humanToken })).status).toBe(404);
    await browser.screenshot(admin, 'board-hidden-post');

    await admin.getByLabel('Moderation reason').fill('a false alarm');
    await admin.getByRole('button', { name: 'Restore' }).click();
    await expect.poll(() => admin.getByTestId('moderation-note').textContent()).toMatch(/^Last status change \(reopen\) by tok_.*: a false alarm$/);
    await personsPost.waitFor();
    await person.reload();
    await personsPost.waitFor();
    expect((await flock.api(`/v1/board/posts/${postId}`, { token: humanToken })).body.status).toBe('open');
  });
});

describe('offline and reconnect', () => {
  it('shows a banner while the daemon is gone, reconnects with backoff when it is back, and resumes live updates', async () => {
    const page = await browser.page();
    await signIn(page, flock.apiUrl, humanToken);
    await page.goto(`${flock.apiUrl}/#/board`);
    await page.getByRole('heading', { name: 'Board' }).waitFor();
    expect(await page.getByTestId('offline-banner').count()).toBe(0);

    const down = await flock.cli(['down', '--keep-agents'], { timeoutMs: 90_000 });
    expect(down.code, down.stderr).toBe(0);
    await page.getByTestId('offline-banner').waitFor({ timeout: 30_000 });
    await browser.screenshot(page, 'offline-banner');

    const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
    expect(up.code, up.stderr).toBe(0);
    await page.getByTestId('offline-banner').waitFor({ state: 'detached', timeout: 60_000 });

    // The socket is live again: a post made now appears without a reload.
    const made = await flock.api('/v1/board/posts', { method: 'POST', token: humanToken, body: { title: 'Back online', body: 'after the restart' } });
    expect(made.status).toBe(201);
    await page.getByRole('button', { name: /Back online/ }).waitFor({ timeout: 15_000 });
    await browser.screenshot(page, 'reconnected');
    await page.close();
  });
});

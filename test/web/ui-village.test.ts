import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorldSnapshot } from '@aiflock/protocol';
import { launchBrowser, signIn, type TestBrowser } from '../../testkit/browser.js';
import { VILLAGERS, startVillage } from '../../testkit/agents.js';
import { eventually, REPO_ROOT, testFlock, type TestFlock } from '../../testkit/flock.js';

/**
 * The village in Debian's Chromium: the demo villagers of examples/village run in real Docker
 * sandboxes of a real daemon (the SDK's village loop over the bus, no LLM), and the page draws
 * them. Moves come from the villagers themselves, never from the test. Screenshots go to
 * test-artifacts/web/.
 */
let flock: TestFlock;
let browser: TestBrowser;
let page: Page;
let humanToken: string;

const world = async () => (await flock.api('/v1/world')).body as WorldSnapshot;

/** Where the page's list says each villager is. */
const listed = async (p: Page) =>
  Object.fromEntries(
    await p.locator('button[data-villager]').evaluateAll((els) => els.map((e) => [e.getAttribute('data-villager')!, `${e.getAttribute('data-x')},${e.getAttribute('data-y')}`] as const)),
  ) as Record<string, string>;

const canvasShot = (p: Page, name: string) => p.getByTestId('village-canvas').screenshot({ path: join(REPO_ROOT, 'test-artifacts', 'web', `village-${name}.png`) });

beforeAll(async () => {
  flock = await testFlock();
  await startVillage(flock);
  await eventually(async () => {
    const w = await world();
    return VILLAGERS.every((n) => w.villagers.some((v) => v.name === n && v.status === 'active'));
  }, 'three active villagers', 180_000);
  const made = await flock.api('/v1/tokens', { method: 'POST', body: { name: 'carol', scopes: ['human'] } });
  humanToken = made.body.token;
  browser = await launchBrowser('village');
  page = await browser.page();
  await signIn(page, flock.apiUrl, humanToken);
}, 400_000);

afterAll(async () => {
  await browser?.close();
  await flock?.cleanup();
});

describe('the village view', () => {
  it('draws the map with the villagers moving: positions change between two screenshots', async () => {
    await page.goto(`${flock.apiUrl}/#/village`);
    await expect.poll(() => page.locator('button[data-villager]').count(), { timeout: 30_000 }).toBe(3);
    // The ground is painted from the Tiled map's tile colours (grass and path of assets/village).
    await expect
      .poll(() =>
        page.getByTestId('village-canvas').evaluate((c: HTMLCanvasElement) => {
          const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
          const count = (r: number, g: number, b: number) => {
            let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] === r && d[i + 1] === g && d[i + 2] === b) n++;
            return n;
          };
          return { grass: count(0x7c, 0xb4, 0x5b) > 1000, path: count(0xd8, 0xc2, 0x8a) > 100 };
        }),
      )
      .toEqual({ grass: true, path: true });
    const before = await listed(page);
    const first = await canvasShot(page, 'moving-1');
    // The villagers walk on their own; wait (on events, not a clock) until two have moved.
    await eventually(async () => {
      const now = await listed(page);
      return VILLAGERS.filter((n) => now[n] !== before[n]).length >= 2;
    }, 'two villagers to move on the page', 120_000);
    const second = await canvasShot(page, 'moving-2');
    expect(second.equals(first)).toBe(false);
    // The list follows the engine (the page is not inventing positions): all three agree at
    // some moment (the stream lags the engine by at most a tick or so).
    await expect
      .poll(async () => {
        const engine = await world();
        const shown = await listed(page);
        return engine.villagers.filter((v) => shown[v.name] === `${v.x},${v.y}`).length;
      }, { timeout: 60_000 })
      .toBe(3);
    await browser.screenshot(page, 'map');
  }, 200_000);

  it('names and speech bubbles never cover one another nor leave the canvas; villagers go by their own names', async () => {
    const canvas = page.getByTestId('village-canvas');
    // Sample frames while the villagers walk and talk: the page publishes where it put each label.
    for (let i = 0; i < 12; i++) {
      const { labels, width, height } = await canvas.evaluate((c: HTMLCanvasElement) => ({ labels: JSON.parse(c.dataset['labels'] ?? '[]') as number[][], width: c.width, height: c.height }));
      expect(labels.length).toBeGreaterThanOrEqual(3);
      for (const [x, y, w, h] of labels) {
        expect(x).toBeGreaterThanOrEqual(0);
        expect(y).toBeGreaterThanOrEqual(0);
        expect(x! + w!).toBeLessThanOrEqual(width);
        expect(y! + h!).toBeLessThanOrEqual(height);
      }
      for (let a = 0; a < labels.length; a++) {
        for (let b = a + 1; b < labels.length; b++) {
          const [ax, ay, aw, ah] = labels[a]!;
          const [bx, by, bw, bh] = labels[b]!;
          // Rounded to whole pixels: a shared edge is not an overlap.
          const cover = ax! < bx! + bw! - 1 && bx! < ax! + aw! - 1 && ay! < by! + bh! - 1 && by! < ay! + ah! - 1;
          expect(cover, `labels ${JSON.stringify(labels[a])} and ${JSON.stringify(labels[b])}`).toBe(false);
        }
      }
      await page.waitForTimeout(400);
    }
    // The list calls them what their speech does (Bea, Gus, Ada), with the agent name beside.
    expect(await page.locator('button[data-villager="baker"] .v-name').textContent()).toBe('Bea (baker)');
    expect(await page.locator('button[data-villager="scholar"] .v-name').textContent()).toBe('Ada (scholar)');
    await canvasShot(page, 'labels');
  }, 60_000);

  it('says plainly that the villagers run without a language model', async () => {
    await expect.poll(() => page.locator('button[data-villager="scholar"] .v-brain').textContent(), { timeout: 120_000 }).toMatch(/no LLM|no model reachable/);
    expect(await page.locator('button[data-villager="baker"] .v-brain').textContent()).toBe('simple rules (no LLM)');
  }, 150_000);

  it('is keyboard-navigable: arrows walk the list, Enter opens the details', async () => {
    await page.locator('button[data-villager]').first().focus();
    await page.keyboard.press('ArrowDown');
    const focused = await page.evaluate(() => document.activeElement?.getAttribute('data-villager'));
    expect(focused).toBe('gardener');
    await page.keyboard.press('Enter');
    const details = page.getByTestId('villager-details');
    await expect.poll(() => details.getByRole('heading', { level: 3 }).textContent()).toBe('gardener');
    await expect.poll(() => details.getByTestId('agent-tier').textContent()).toMatch(/^tier\d/);
    await page.getByRole('button', { name: 'Close the details of gardener' }).click();
    expect(await details.count()).toBe(0);
  });

  it('a click on a villager on the canvas opens its details (persona, tier, balance, recent actions)', async () => {
    const details = page.getByTestId('villager-details');
    await eventually(async () => {
      const canvas = page.getByTestId('village-canvas');
      const box = (await canvas.boundingBox())!;
      const w = await world();
      const baker = w.villagers.find((v) => v.name === 'baker')!;
      // CSS pixels per tile: the canvas's drawn width over the map's width in tiles.
      const tile = box.width / w.map.width;
      await page.mouse.click(box.x + (baker.x + 0.5) * tile, box.y + (baker.y + 0.5) * tile);
      return (await details.count()) > 0 && (await details.getByRole('heading', { level: 3 }).textContent()) === 'baker';
    }, 'a click on the baker to open its details', 30_000);
    await expect.poll(() => details.textContent()).toContain('Bea the baker');
    await expect.poll(() => details.locator('.actions li').count(), { timeout: 60_000 }).toBeGreaterThan(0);
    await browser.screenshot(page, 'details');
  });
});

describe('a person, the board and the economy', () => {
  it("replies to an agent's post and rewards it: its balance and tier change in the UI", async () => {
    // The first question any villager asks on the board (they walk there on their own).
    const post = await eventually(async () => {
      const r = await flock.api('/v1/board/posts');
      return (r.body as { posts: { id: string; title: string; authorId: string }[] }).posts.find((p) => p.authorId.startsWith('agent:')) ?? null;
    }, 'a question from a villager', 240_000);
    const agent = post.authorId.slice('agent:'.length);

    // Before: its details in the village.
    await page.goto(`${flock.apiUrl}/#/village`);
    await page.locator(`button[data-villager="${agent}"]`).click();
    const details = page.getByTestId('villager-details');
    await expect.poll(() => details.getByTestId('agent-balance').textContent()).toBe('0.00 aiDollars');
    expect(await details.getByTestId('agent-tier').textContent()).toBe('tier0');

    await page.goto(`${flock.apiUrl}/#/board?post=${post.id}`);
    const thread = page.getByTestId('thread');
    await expect.poll(() => thread.getByRole('heading', { level: 2 }).textContent()).toBe(post.title);
    await page.getByLabel('Your reply').fill('Ask at the mill by the river.');
    await page.getByRole('button', { name: 'Reply' }).click();
    await expect.poll(() => thread.locator('.reply-body').allTextContents()).toContain('Ask at the mill by the river.');
    // People and agents are shown by name: the person's token name, never its id.
    await expect.poll(() => thread.locator('.reply .p-meta').last().textContent()).toMatch(/^carol · /);
    expect(await thread.locator('.p-meta').first().textContent()).toMatch(new RegExp(`^by ${agent} · `));

    // A bad amount is refused by the page, by name, and changes nothing.
    await page.getByLabel('Amount (aiDollars)').fill('ten');
    await page.getByLabel('Reason').fill('helpful question');
    await page.getByRole('button', { name: 'Reward' }).click();
    await expect.poll(() => page.locator('.reward-form [role=alert]').textContent()).toContain('"ten"');

    await page.getByLabel('Amount (aiDollars)').fill('15');
    await page.getByRole('button', { name: 'Reward' }).click();
    await expect.poll(() => page.locator('.reward-form [role=status]').textContent()).toContain(`Rewarded ${agent} 15.00 aiDollars; balance now 15.00`);
    await page.getByLabel('Amount (aiDollars)').fill('1.50');
    await page.getByLabel('Reason').fill('a bit off-topic');
    await page.getByRole('button', { name: 'Penalize' }).click();
    await expect.poll(() => page.locator('.reward-form [role=status]').textContent()).toContain('balance now 13.50');
    await expect.poll(() => thread.locator('.p-meta').first().textContent()).toContain('rewards 15.00, penalties 1.50');
    await browser.screenshot(page, 'rewarded');

    // After: the village shows the new balance and the tier it earns (tier1 from 10 aiDollars).
    await page.goto(`${flock.apiUrl}/#/village`);
    await page.locator(`button[data-villager="${agent}"]`).click();
    await expect.poll(() => details.getByTestId('agent-balance').textContent()).toBe('13.50 aiDollars');
    await expect.poll(() => details.getByTestId('agent-tier').textContent()).toBe('tier1');
    await expect.poll(() => details.getByTestId('agent-ledger').textContent()).toMatch(/15\.00 reward.*-1\.50 penalty|-1\.50 penalty.*15\.00 reward/s);
    await browser.screenshot(page, 'balance-tier');
  }, 300_000);
});

describe('the kill switch, seen in the village', () => {
  it('an admin quarantines a villager and it stops moving while the others walk on', async () => {
    await signIn(page, flock.apiUrl, await flock.adminToken());
    await page.goto(`${flock.apiUrl}/#/admin/agents`);
    page.once('dialog', (d) => void d.accept()); // Quarantine asks first.
    await page.getByRole('button', { name: 'Quarantine gardener' }).click();
    await expect.poll(() => page.getByTestId('status-gardener').textContent(), { timeout: 30_000 }).toBe('quarantined');

    await page.goto(`${flock.apiUrl}/#/village`);
    const gardener = page.locator('button[data-villager="gardener"]');
    await expect.poll(() => gardener.getAttribute('data-status'), { timeout: 30_000 }).toBe('quarantined');
    const frozenAt = await listed(page);
    const first = await canvasShot(page, 'quarantined-1');
    // The others keep walking (several moves each) while the gardener stays put.
    let moves = 0;
    let last = frozenAt;
    await eventually(async () => {
      const now = await listed(page);
      moves += ['baker', 'scholar'].filter((n) => now[n] !== last[n]).length;
      last = now;
      expect(now['gardener']).toBe(frozenAt['gardener']);
      return moves >= 6;
    }, 'six moves by the other villagers', 120_000);
    expect(await gardener.getAttribute('data-status')).toBe('quarantined');
    expect((await world()).villagers.find((v) => v.name === 'gardener')).toMatchObject({ status: 'quarantined' });
    const second = await canvasShot(page, 'quarantined-2');
    expect(second.equals(first)).toBe(false);
    await browser.screenshot(page, 'quarantined');
  }, 200_000);
});

describe('offline and back', () => {
  it('the village shows the offline banner while the daemon is down, then resyncs from a snapshot and moves on', async () => {
    await page.goto(`${flock.apiUrl}/#/village`);
    await expect.poll(() => page.locator('button[data-villager]').count()).toBe(3);
    const down = await flock.cli(['down', '--keep-agents'], { timeoutMs: 90_000 });
    expect(down.code, down.stderr).toBe(0);
    await page.getByTestId('offline-banner').waitFor({ timeout: 30_000 });
    const stale = await listed(page);
    await browser.screenshot(page, 'offline');
    const up = await flock.cli(['up', '--no-demo'], { timeoutMs: 300_000 });
    expect(up.code, up.stderr).toBe(0);
    await page.getByTestId('offline-banner').waitFor({ state: 'detached', timeout: 60_000 });
    // Live again: the walking villagers move on the page without a reload.
    await eventually(async () => {
      const now = await listed(page);
      return ['baker', 'scholar'].some((n) => now[n] !== stale[n]);
    }, 'a villager to move after the reconnect', 120_000);
    await browser.screenshot(page, 'reconnected');
  }, 400_000);
});

describe('on a laptop screen', () => {
  it('fits 1280x720 without sideways scrolling on every page', async () => {
    await page.setViewportSize({ width: 1280, height: 720 });
    for (const [hash, name] of [
      ['#/village', 'laptop-village'],
      ['#/board', 'laptop-board'],
      ['#/admin/agents', 'laptop-admin-agents'],
      ['#/admin/jobs', 'laptop-admin-jobs'],
    ] as const) {
      await page.goto(`${flock.apiUrl}/${hash}`);
      await page.locator('main h2').first().waitFor();
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), hash).toBe(true);
      await browser.screenshot(page, name);
    }
    await page.setViewportSize({ width: 1366, height: 900 });
  });
});

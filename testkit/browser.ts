import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from './flock.js';

/** Debian's Chromium (`scripts/bootstrap.sh --test` installs it); never a downloaded browser. */
export const CHROMIUM = process.env['AIFLOCK_TEST_CHROMIUM'] ?? '/usr/bin/chromium';
export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'web');

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface TestBrowser {
  context: BrowserContext;
  /** A new tab; console errors and page errors are collected in `errors`. */
  page(): Promise<Page>;
  errors: string[];
  /** Saves a full-page screenshot to test-artifacts/web/<file>.png and returns it. */
  screenshot(page: Page, name: string): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * One headless Chromium per test file, with a fresh profile (no cookies or storage carried
 * between files), a laptop-sized window, and the network limited to what the page asks for.
 */
export async function launchBrowser(prefix: string): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`bash scripts/bootstrap.sh --test\` (it apt-installs chromium)`);
  await mkdir(ARTIFACTS, { recursive: true });
  const profile = await mkdtemp(join(tmpdir(), 'aiflock-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ARGS,
    headless: true,
    viewport: { width: 1366, height: 900 },
    reducedMotion: 'no-preference',
  });
  const errors: string[] = [];
  return {
    context,
    errors,
    async page() {
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(`console: ${m.text()}`);
      });
      return page;
    },
    async screenshot(page, name) {
      return page.screenshot({ path: join(ARTIFACTS, `${prefix}-${name}.png`), fullPage: true });
    },
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Signs in through the page's own form, as a person would. */
export async function signIn(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/`);
  // Another tab of this profile may have signed in already: start from the form.
  const form = page.getByLabel('Token');
  const signOut = page.getByRole('button', { name: 'Sign out' });
  await form.or(signOut).first().waitFor();
  if (await signOut.isVisible()) {
    await signOut.click();
    await form.waitFor();
  }
  await form.fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Signed in as').waitFor();
}

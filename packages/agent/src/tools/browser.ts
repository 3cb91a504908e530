import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { STEP_OUTPUT_MAX, type ToolResultSummary } from '@aiflock/protocol';
import type { Browser, BrowserType, Page, Response } from 'playwright-core';
import * as z from 'zod';
import type { TaskContext } from '../sdk.js';
import { findLink, formatSnapshot, READ_PAGE_SCRIPT, type PageLink, type PageSnapshot } from './browser-page.js';
import type { AgentTool, ToolCallContext, ToolOutcome } from './tool.js';

/**
 * The `browser` tool: a real headless Chromium in the sandbox, driven with playwright-core.
 * Only the workbench image has both (scripts/build-workbench.sh); elsewhere the tool says so.
 *
 * One browser per task, kept between calls so `follow`, `fill` and `click` act on the page
 * `open` loaded; it closes when the task is aborted, after IDLE_MS without a call, or when
 * `closeBrowserSession` is called at the task's end.
 *
 * All traffic goes through the egress proxy (the sandbox's HTTP_PROXY): the manifest's egress
 * list decides which sites it may reach, and the sandbox has no other route anyway.
 */

const NAV_TIMEOUT_MS = 30_000;
const ACTION_TIMEOUT_MS = 10_000;
/** After a click, how long to wait for a navigation it may have started. */
const CLICK_SETTLE_MS = 1_500;
const IDLE_MS = 120_000;
const CHROMIUM = '/usr/bin/chromium';
const WORKBENCH_HINT = 'the browser tool needs the workbench image: set `image: workbench` in the manifest (build it with `bash scripts/build-workbench.sh`)';

const Args = z.discriminatedUnion('action', [
  z.object({ action: z.literal('open'), url: z.string().regex(/^https?:\/\/\S+$/i, 'an http:// or https:// URL') }).strict(),
  z.object({ action: z.literal('read') }).strict(),
  z.object({ action: z.literal('follow'), link: z.union([z.number().int().min(0), z.string().min(1)]) }).strict(),
  z.object({ action: z.literal('fill'), selector: z.string().min(1), value: z.string().max(100_000) }).strict(),
  z.object({ action: z.literal('click'), selector: z.string().min(1) }).strict(),
  z.object({ action: z.literal('screenshot'), path: z.string().min(1).optional(), fullPage: z.boolean().optional() }).strict(),
]);
export type BrowserArgs = z.infer<typeof Args>;
export const BrowserArgs = Args;

/** A refusal or failure the model (and the person reading the transcript) can act on. */
class BrowserError extends Error {}

interface Session {
  browser: Browser;
  page: Page;
  /** Every http(s) URL the page's main frame navigated to, in order. */
  visited: string[];
  /** The links of the last page read, for `follow`. */
  links: PageLink[];
  /** Calls of one task run one after another. */
  queue: Promise<unknown>;
  idle?: NodeJS.Timeout;
}

const sessions = new Map<string, Promise<Session>>();

export const browserTool: AgentTool = {
  name: 'browser',
  description:
    'A headless Chromium. Actions: open {url} loads a page and returns its main text, numbered links and form fields; ' +
    'read returns the current page again; follow {link} opens a link of the last page by number or text; ' +
    'fill {selector, value} types into a field; click {selector} clicks (CSS selector or text="..."); ' +
    'screenshot {path?, fullPage?} saves a PNG in the workspace. Only sites the manifest allows are reachable. ' +
    'Cite the URLs you used.',
  parameters: {
    type: 'object',
    properties: {
      action: { type: 'string', enum: ['open', 'read', 'follow', 'fill', 'click', 'screenshot'] },
      url: { type: 'string', description: 'open: the http(s) URL' },
      link: { type: ['integer', 'string'], description: 'follow: the link number shown, or its text' },
      selector: { type: 'string', description: 'fill, click: a CSS selector or text="..."' },
      value: { type: 'string', description: 'fill: the text to type' },
      path: { type: 'string', description: 'screenshot: file in the workspace (default screenshots/<time>.png)' },
      fullPage: { type: 'boolean', description: 'screenshot: the whole page, not just the viewport' },
    },
    required: ['action'],
    additionalProperties: false,
  },
  run: runBrowser,
  endTask: (taskId) => closeBrowserSession(taskId),
};

async function runBrowser(raw: Record<string, unknown>, ctx: ToolCallContext): Promise<ToolOutcome> {
  const started = Date.now();
  const parsed = Args.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'args'}: ${i.message}`).join('; ');
    return failure(`invalid browser arguments: ${issues}`, started, []);
  }
  let session: Session;
  try {
    session = await sessionFor(ctx);
  } catch (err) {
    return failure(message(err), started, []);
  }
  const from = session.visited.length;
  const attempted: string[] = [];
  const run = session.queue.then(() => act(session, parsed.data, ctx, attempted));
  session.queue = run.catch(() => undefined);
  try {
    const content = await run;
    return outcome(content, started, urlsOf(session, from, attempted), true);
  } catch (err) {
    if (ctx.signal.aborted) await closeBrowserSession(ctx.task.id);
    return failure(message(err), started, urlsOf(session, from, attempted));
  } finally {
    touch(ctx.task.id, session);
  }
}

async function act(s: Session, a: BrowserArgs, ctx: TaskContext, attempted: string[]): Promise<string> {
  switch (a.action) {
    case 'open':
      await navigate(s, a.url, attempted);
      return read(s);
    case 'read':
      return read(s);
    case 'follow': {
      const link = findLink(s.links, a.link);
      if (!link) {
        throw new BrowserError(`no link ${JSON.stringify(a.link)} on the last page read (it has ${s.links.length} links, numbered from 0)`);
      }
      await navigate(s, link.href, attempted);
      return read(s);
    }
    case 'fill':
      await s.page.fill(a.selector, a.value, { timeout: ACTION_TIMEOUT_MS });
      return `filled ${a.selector}`;
    case 'click': {
      const navigated = s.page
        .waitForEvent('framenavigated', { predicate: (f) => f === s.page.mainFrame(), timeout: CLICK_SETTLE_MS })
        .then(() => true, () => false);
      await s.page.click(a.selector, { timeout: ACTION_TIMEOUT_MS });
      if (await navigated) await s.page.waitForLoadState('domcontentloaded', { timeout: NAV_TIMEOUT_MS });
      return read(s);
    }
    case 'screenshot': {
      const file = await workspaceFile(ctx.workspace, a.path ?? join('screenshots', `${new Date().toISOString().replace(/[:.]/g, '-')}.png`));
      await s.page.screenshot({ path: file, fullPage: a.fullPage ?? false, timeout: ACTION_TIMEOUT_MS });
      return `screenshot of ${s.page.url()} saved to ${relative(ctx.workspace, file)} (${file})`;
    }
  }
}

/** Goes to `url`, turning the egress proxy's refusal and network errors into plain words. */
async function navigate(s: Session, url: string, attempted: string[]): Promise<void> {
  attempted.push(url);
  let response: Response | null;
  try {
    response = await s.page.goto(url, { waitUntil: 'domcontentloaded', timeout: NAV_TIMEOUT_MS });
  } catch (err) {
    const text = message(err);
    // HTTPS goes through a CONNECT tunnel; the proxy's refusal shows up as a failed tunnel.
    if (/ERR_TUNNEL_CONNECTION_FAILED|ERR_PROXY/.test(text)) {
      throw new BrowserError(`the egress proxy refused ${url}: its host is not in the manifest's egress list (${firstLine(text)})`);
    }
    throw new BrowserError(`could not open ${url}: ${firstLine(text)}`);
  }
  if (response?.status() === 403) {
    // Plain HTTP: the proxy answers itself, with its reason in the body.
    const body = await response.text().catch(() => '');
    if (body.startsWith('aiflock egress:')) {
      throw new BrowserError(`the egress proxy refused ${url} (403: ${body.trim().slice(0, 300)}); add its host to the manifest's network.egress to allow it`);
    }
  }
}

async function read(s: Session): Promise<string> {
  const snapshot = (await s.page.evaluate(READ_PAGE_SCRIPT)) as PageSnapshot;
  s.links = snapshot.links;
  return formatSnapshot(snapshot);
}

/** A path inside the workspace for a new file; `..`, absolute paths and symlinks out are refused. */
async function workspaceFile(workspace: string, path: string): Promise<string> {
  const root = await realpath(workspace);
  const file = resolve(root, path);
  const inside = (p: string) => {
    const rel = relative(root, p);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  };
  if (isAbsolute(path) || !inside(file)) throw new BrowserError(`screenshot path ${JSON.stringify(path)} is outside the workspace; give a relative path inside it`);
  await mkdir(dirname(file), { recursive: true });
  const dir = await realpath(dirname(file));
  if (dir !== root && !inside(dir)) throw new BrowserError(`screenshot path ${JSON.stringify(path)} leads out of the workspace through a symlink`);
  return join(dir, basename(file));
}

// ---------------------------------------------------------------- sessions

function sessionFor(ctx: TaskContext): Promise<Session> {
  const id = ctx.task.id;
  let s = sessions.get(id);
  if (!s) {
    s = launch(ctx);
    sessions.set(id, s);
    s.catch(() => sessions.delete(id));
    ctx.signal.addEventListener('abort', () => void closeBrowserSession(id), { once: true });
  }
  return s;
}

/** Closes the task's browser, if it has one (the loop or handler calls this at the task's end). */
export async function closeBrowserSession(taskId: string): Promise<void> {
  const s = sessions.get(taskId);
  if (!s) return;
  sessions.delete(taskId);
  const session = await s.catch(() => null);
  if (!session) return;
  clearTimeout(session.idle);
  await session.browser.close().catch(() => undefined);
}

function touch(taskId: string, s: Session): void {
  clearTimeout(s.idle);
  s.idle = setTimeout(() => void closeBrowserSession(taskId), IDLE_MS);
  s.idle.unref();
}

async function launch(ctx: TaskContext): Promise<Session> {
  const proxy = process.env['HTTP_PROXY'] ?? process.env['http_proxy'];
  if (!proxy) {
    throw new BrowserError("the browser has no web access: this agent's manifest lists no egress rules, so it has no egress proxy (add the sites to network.egress)");
  }
  const executablePath = process.env['AIFLOCK_CHROMIUM'] ?? CHROMIUM;
  try {
    await access(executablePath, constants.X_OK);
  } catch {
    throw new BrowserError(`${WORKBENCH_HINT}; there is no Chromium at ${executablePath} in this sandbox`);
  }
  let chromium: BrowserType;
  try {
    // Not in the agent bundle: the workbench image carries it beside the bundle.
    ({ chromium } = await import('playwright-core'));
  } catch (err) {
    throw new BrowserError(`${WORKBENCH_HINT}; playwright-core is not installed in this sandbox (${firstLine(message(err))})`);
  }
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath,
      headless: true,
      // The container is the sandbox: Chromium's own sandbox needs user namespaces or setuid,
      // which a sandbox without capabilities does not have (docs/security.md).
      chromiumSandbox: false,
      // Playwright passes --proxy-server and adds <-loopback> to the bypass list, so even
      // loopback goes through the proxy: nothing leaves directly.
      proxy: { server: proxy },
      args: ['--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: NAV_TIMEOUT_MS,
    });
  } catch (err) {
    throw new BrowserError(`Chromium did not start: ${firstLine(message(err))}`);
  }
  const context = await browser.newContext({ acceptDownloads: false, serviceWorkers: 'block' });
  const page = await context.newPage();
  const session: Session = { browser, page, visited: [], links: [], queue: Promise.resolve() };
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame() && /^https?:/i.test(f.url())) session.visited.push(f.url());
  });
  ctx.log.info('browser started', { chromium: browser.version() });
  return session;
}

// ---------------------------------------------------------------- results

/** The URLs of this call: the pages its navigations reached, or, if none, the ones it tried. */
function urlsOf(s: Session, from: number, attempted: string[]): string[] {
  const visited = s.visited.slice(from);
  return [...new Set(visited.length > 0 ? visited : attempted)].slice(0, 100);
}

function outcome(text: string, started: number, urls: string[], ok: boolean, error?: string): ToolOutcome {
  const b = bounded(text);
  const summary: ToolResultSummary = {
    ok,
    durationMs: Math.max(0, Date.now() - started),
    stdout: b.text,
    stdoutSha256: b.sha256,
    ...(b.truncated ? { truncated: true } : {}),
    ...(urls.length > 0 ? { urls } : {}),
    ...(error ? { error: error.slice(0, 4096) } : {}),
  };
  return { content: b.text, summary };
}

function failure(error: string, started: number, urls: string[]): ToolOutcome {
  return outcome(`error: ${error}`, started, urls, false, error);
}

/** At most STEP_OUTPUT_MAX characters, with the sha256 of the whole text. */
function bounded(text: string): { text: string; sha256: string; truncated: boolean } {
  const sha256 = createHash('sha256').update(text).digest('hex');
  if (text.length <= STEP_OUTPUT_MAX) return { text, sha256, truncated: false };
  const note = `\n[truncated: ${text.length} characters in all, sha256 ${sha256}]`;
  return { text: text.slice(0, STEP_OUTPUT_MAX - note.length) + note, sha256, truncated: true };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 500) ?? text;
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STEP_OUTPUT_MAX, type AgentView, type TaskView } from '@aiflock/protocol';
import { testFlock, type TestFlock } from '../testkit/flock.js';
import { deployYaml, upFlock } from '../testkit/agents.js';
import { remoteHost, type RemoteHost } from '../testkit/netns.js';
import { ensureWorkbench } from '../testkit/workbench.js';
import { ensureImage } from './isolation/harness.js';

/*
 * The workbench image (scripts/build-workbench.sh) in a real flock: `image: workbench`
 * resolves to the configured image, which runs as uid 1001 with a read-only root and no
 * capabilities and still compiles, commits and browses; and the browser tool drives its
 * Chromium through the egress proxy to a page served from a network namespace this test
 * creates (neither the host's nor a bridge's address), allowed or refused by the manifest.
 */

const docker = new Dockerode();
let flock: TestFlock;
let netns: RemoteHost;
let workbench: string;
let site: string;

/** The workbench ref to test: a prebuilt one (scripts/test.sh exports it), else build (cached). */

/** The site "on the internet": a page with a link and a form, a second page, a search result. */
const SITE = `
const http = require('http');
const page = (title, body) => '<!doctype html><html><head><title>' + title + '</title></head><body>' +
  '<nav><a href="/">Home</a> menu-chrome-text</nav><main>' + body + '</main><footer>footer-chrome-text</footer></body></html>';
http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  res.setHeader('content-type', 'text/html; charset=utf-8');
  if (u.pathname === '/') return res.end(page('Workbench front page', '<h1>Front page</h1><p>The front page says marmalade-42.</p>' +
    '<p><a href="/second">Second page</a></p><form action="/search"><label for="q">Query</label><input id="q" name="q"><button type="submit">Search</button></form>'));
  if (u.pathname === '/second') return res.end(page('Second', '<p>The second page says quince-7.</p>'));
  if (u.pathname === '/big') return res.end(page('Big', '<p>' + Array.from({ length: 6000 }, (_, i) => 'word-' + i).join(' ') + '</p>'));
  if (u.pathname === '/search') return res.end(page('Results', '<p>You searched for ' + u.searchParams.get('q') + '.</p>'));
  res.statusCode = 404; res.end('not here');
}).listen(8080, process.argv[1], () => console.log('ready'));
`;

const deploy = (name: string, yaml: string) => deployYaml(flock, name, yaml, 180_000);

const run = async (agent: string, type: string, input: unknown) => {
  const r = await flock.cli(['task', 'run', agent, '--type', type, '--input', typeof input === 'string' ? input : JSON.stringify(input), '--wait', '--json'], { timeoutMs: 180_000 });
  return JSON.parse(r.stdout) as TaskView;
};

const WORKBENCH_RESOURCES = 'resources: { memory: 1Gi, cpu: 1, pids: 512, tmp: 256Mi, taskTimeout: 120s }';

beforeAll(async () => {
  ensureImage();
  workbench = ensureWorkbench();
  netns = await remoteHost();
  await netns.run(SITE.replace("process.argv[1]", JSON.stringify(netns.address)));
  site = `http://${netns.address}:8080`;

  // The site is in a private test range, which only an admin may open, and only where allowed.
  flock = await testFlock({ env: { AIFLOCK_WORKBENCH_IMAGE: workbench, AIFLOCK_EGRESS_PRIVATE_CIDRS: 'admin' } });
  await upFlock(flock);
  await deploy('bench', `image: workbench\nhandlers: [shell]\ntools: { shell: true }\n${WORKBENCH_RESOURCES}\n`);
  await deploy('surfer', `image: workbench\nhandlers: [browser]\ntools: { browser: true }\nnetwork: { egress: ["${netns.address}/32"] }\n${WORKBENCH_RESOURCES}\n`);
  await deploy('fenced', `image: workbench\nhandlers: [browser]\ntools: { browser: true }\nnetwork: { egress: ["allowed.invalid"] }\n${WORKBENCH_RESOURCES}\n`);
}, 45 * 60_000);

afterAll(async () => {
  await flock?.cleanup();
  await netns?.close();
});

describe('workbench image', () => {
  it('`image: workbench` runs the configured workbench image as uid 1001, read-only root, no capabilities', async () => {
    expect((await flock.cliJson<AgentView>(['agent', 'get', 'bench'])).image).toBe(workbench);
    const [c] = await docker.listContainers({ filters: { label: [`aiflock.flock=${flock.name}`, 'aiflock.agent=bench'] } });
    const info = await docker.getContainer(c!.Id).inspect();
    expect(info.Config.Image).toBe(workbench);
    expect(info.Config.User).toBe('1001:1001');
    expect(info.HostConfig.ReadonlyRootfs).toBe(true);
    expect(info.HostConfig.CapDrop).toEqual(['ALL']);
    expect(info.HostConfig.CapAdd ?? []).toEqual([]);
  });

  it('compiles and runs C, runs python3 and node, and commits with git in the workspace', async () => {
    const script = [
      'set -e',
      'id -u',
      'touch /usr/probe 2>/dev/null && echo root-writable || echo root-read-only',
      "cat > hello.c <<'EOF'",
      '#include <stdio.h>',
      'int main(void) { printf("c says %d\\n", 6 * 7); return 0; }',
      'EOF',
      'gcc -O1 -o hello hello.c && ./hello',
      'python3 -c "print(\'python says\', 6*7)"',
      'node -e "console.log(\'node says\', process.versions.node.split(\'.\')[0] >= 20)"',
      'git init -q repo && cd repo && echo hi > f && git add f && git -c user.name=a -c user.email=a@b.invalid commit -qm first && git log --format=%s',
    ].join('\n');
    const t = await run('bench', 'shell', script);
    const out = t.output as { stdout: string; stderr: string };
    expect(t.status, JSON.stringify(t)).toBe('completed');
    expect(out.stdout.trim().split('\n')).toEqual(['1001', 'root-read-only', 'c says 42', 'python says 42', 'node says true', 'first']);
  });

  it('Chromium dumps the DOM of a file:// page, headless, as uid 1001', async () => {
    const t = await run(
      'bench',
      'shell',
      `printf '<html><body><p id="p">x</p><script>document.getElementById("p").textContent = "rendered-" + (6*7)</script></body></html>' > page.html
chromium --headless --no-sandbox --disable-dev-shm-usage --disable-gpu --dump-dom "file://$PWD/page.html" 2>/dev/null`,
    );
    expect(t.status, JSON.stringify(t)).toBe('completed');
    expect((t.output as { stdout: string }).stdout).toContain('rendered-42');
  });
});

describe('browser tool', () => {
  interface Step { action: string; ok: boolean; content: string; result: { urls?: string[]; error?: string; stdoutSha256?: string; truncated?: boolean } }
  interface Out { steps: Step[]; urls: string[] }

  it('reads a page through the egress proxy, follows a link, fills and clicks, screenshots, and reports every URL', async () => {
    const t = await run('surfer', 'browser', {
      actions: [
        { action: 'open', url: `${site}/` },
        { action: 'follow', link: 'Second page' },
        { action: 'open', url: `${site}/` },
        { action: 'fill', selector: '#q', value: 'figs' },
        { action: 'click', selector: 'text="Search"' },
        { action: 'screenshot', path: 'shots/results.png' },
        { action: 'open', url: `${site}/big` },
      ],
    });
    expect(t.status, JSON.stringify(t)).toBe('completed');
    const out = t.output as Out;
    const [open, follow, , , click, shot, big] = out.steps;
    // Readability-style: the main content and its links, not the page chrome.
    expect(open!.content).toContain('Title: Workbench front page');
    expect(open!.content).toContain('The front page says marmalade-42.');
    expect(open!.content).not.toContain('footer-chrome-text');
    expect(open!.content).toMatch(/\[\d+\] Second page -> http:\/\/[\d.]+:8080\/second/);
    expect(open!.result.urls).toEqual([`${site}/`]);
    expect(follow!.content).toContain('The second page says quince-7.');
    expect(follow!.result.urls).toEqual([`${site}/second`]);
    expect(click!.content).toContain('You searched for figs.');
    expect(click!.result.urls).toEqual([`${site}/search?q=figs`]);
    expect(out.urls).toEqual([`${site}/`, `${site}/second`, `${site}/`, `${site}/search?q=figs`, `${site}/big`]);
    // A long page is cut to STEP_OUTPUT_MAX, with the sha256 of the whole text.
    expect(big!.result.truncated).toBe(true);
    expect(big!.content.length).toBeLessThanOrEqual(STEP_OUTPUT_MAX);
    expect(big!.content).toContain('word-0 word-1');
    expect(big!.content).not.toContain('word-5999');
    expect(big!.content).toContain(`sha256 ${big!.result.stdoutSha256}]`);
    expect(shot!.content).toContain('saved to shots/results.png');
    // The screenshot is a PNG in the agent's workspace (bind-mounted from the host).
    const [c] = await docker.listContainers({ filters: { label: [`aiflock.flock=${flock.name}`, 'aiflock.agent=surfer'] } });
    const ws = (await docker.getContainer(c!.Id).inspect()).Mounts.find((m) => m.Destination === '/shared/agents/surfer')!.Source;
    const png = await readFile(join(ws, 'shots', 'results.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  });

  it('the same page is refused when the egress list does not allow it: the proxy 403 as a clear tool error', async () => {
    const t = await run('fenced', 'browser', [{ action: 'open', url: `${site}/` }]);
    expect(t.status).toBe('failed');
    expect(t.error).toContain(`the egress proxy refused ${site}/`);
    expect(t.error).toContain('network.egress');
    const out = t.output as Out;
    expect(out.steps[0]!.ok).toBe(false);
    expect(out.steps[0]!.content).not.toContain('marmalade-42');
    expect(out.urls).toEqual([`${site}/`]);
  });

  it('a screenshot path outside the workspace is refused', async () => {
    const t = await run('fenced', 'browser', [{ action: 'screenshot', path: '../escape.png' }]);
    expect(t.status).toBe('failed');
    expect(t.error).toContain('screenshot path "../escape.png" is outside the workspace');
  });

  it('in the small default image the tool says it needs the workbench image', async () => {
    await deploy('plain', `handlers: [browser]\ntools: { browser: true }\nnetwork: { egress: ["${netns.address}/32"] }\n`);
    const t = await run('plain', 'browser', [{ action: 'open', url: `${site}/` }]);
    expect(t.status).toBe('failed');
    expect(t.error).toContain('needs the workbench image');
    expect(t.error).toContain('scripts/build-workbench.sh');
  });
});

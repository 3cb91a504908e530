import { afterEach, describe, expect, it } from 'vitest';
import { findLink, formatSnapshot } from '../src/tools/browser-page.js';
import { browserTool } from '../src/tools/browser.js';
import type { ToolCallContext } from '../src/tools/tool.js';
import { testTempDir } from '../../../testkit/temp-dir.js';

/*
 * The browser tool's refusals and its page formatting, without a browser. Driving Chromium
 * through the egress proxy is tested in a real workbench sandbox (test/workbench.test.ts).
 */

const links = [
  { text: 'Home', href: 'http://site.test/' },
  { text: 'Second page', href: 'http://site.test/second' },
  { text: 'All the docs', href: 'http://site.test/docs' },
];

/** Only what the tool reads of a task's context; the rest is never touched before a browser starts. */
function ctx(): ToolCallContext {
  const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  return {
    task: { id: `t-${Math.random().toString(36).slice(2)}` },
    signal: new AbortController().signal,
    log,
    workspace: testTempDir('aiflock-browser-'),
    callId: 'c1',
    emit: () => undefined,
  } as unknown as ToolCallContext;
}

const savedProxy = process.env['HTTP_PROXY'];
afterEach(() => {
  if (savedProxy === undefined) delete process.env['HTTP_PROXY'];
  else process.env['HTTP_PROXY'] = savedProxy;
});

describe('browser tool', () => {
  it('finds the link to follow by number, exact text, text it contains, or URL', () => {
    expect(findLink(links, 1)?.href).toBe('http://site.test/second');
    expect(findLink(links, 'second PAGE')?.href).toBe('http://site.test/second');
    expect(findLink(links, 'docs')?.href).toBe('http://site.test/docs');
    expect(findLink(links, 'http://site.test/')?.text).toBe('Home');
    expect(findLink(links, 7)).toBeUndefined();
    expect(findLink(links, 'nowhere')).toBeUndefined();
  });

  it('shows the model the title, URL, text, numbered links and form fields', () => {
    const text = formatSnapshot({ title: 'T', url: 'http://site.test/', text: 'Hello.', links, fields: [{ selector: '#q', describe: 'input, label "Query"' }] });
    expect(text.split('\n')).toEqual([
      'Title: T',
      'URL: http://site.test/',
      '',
      'Hello.',
      '',
      'Links (follow by number or text):',
      '[0] Home -> http://site.test/',
      '[1] Second page -> http://site.test/second',
      '[2] All the docs -> http://site.test/docs',
      '',
      'Form fields (fill or click by selector):',
      '- #q (input, label "Query")',
    ]);
  });

  it('refuses bad arguments, naming what was wrong, before starting anything', async () => {
    for (const [args, expected] of [
      [{ action: 'open', url: 'file:///etc/passwd' }, /url: an http:\/\/ or https:\/\/ URL/],
      [{ action: 'fly' }, /action/],
      [{ action: 'fill', selector: '#q' }, /value/],
      [{ action: 'open', url: 'http://site.test/', extra: 1 }, /extra|unrecognized/i],
    ] as const) {
      const out = await browserTool.run({ ...args }, ctx());
      expect(out.summary.ok).toBe(false);
      expect(out.summary.error).toMatch(/^invalid browser arguments: /);
      expect(out.summary.error).toMatch(expected);
      expect(out.content).toBe(`error: ${out.summary.error}`);
    }
  });

  it('without an egress proxy it says the agent has no web access instead of going direct', async () => {
    delete process.env['HTTP_PROXY'];
    delete process.env['http_proxy'];
    const out = await browserTool.run({ action: 'open', url: 'http://site.test/' }, ctx());
    expect(out.summary.ok).toBe(false);
    expect(out.summary.error).toMatch(/no web access.*network\.egress/);
  });
});

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiHarness } from './http-harness.js';

/**
 * The web UI as the daemon serves it, over real HTTP, from a directory laid out like
 * `vite build`'s output (and from one with nothing built).
 */
let dir: string;
let built: ApiHarness;
let unbuilt: ApiHarness;
const PAGE = '<!doctype html><title>aiflock</title><script type="module" src="/assets/index-abc123.js"></script>';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aiflock-ui-'));
  await mkdir(join(dir, 'dist', 'assets'), { recursive: true });
  await writeFile(join(dir, 'dist', 'index.html'), PAGE);
  await writeFile(join(dir, 'dist', 'assets', 'index-abc123.js'), 'console.log(1)');
  await writeFile(join(dir, 'dist', 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  await writeFile(join(dir, 'secret.txt'), 'outside the UI directory');
  await mkdir(join(dir, 'empty'));
  built = await startApi({ uiDir: join(dir, 'dist') });
  unbuilt = await startApi({ uiDir: join(dir, 'empty') });
});

afterAll(async () => {
  await built?.close();
  await unbuilt?.close();
  await rm(dir, { recursive: true, force: true });
});

const get = (api: ApiHarness, path: string, accept = 'text/html') => fetch(`${api.url}${path}`, { headers: { accept } });

describe('the web UI served at /', () => {
  it('serves the page without credentials, revalidated, with a strict Content-Security-Policy', async () => {
    const res = await get(built, '/');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(PAGE);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const csp = res.headers.get('content-security-policy') ?? '';
    for (const rule of ["default-src 'self'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) expect(csp).toContain(rule);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
  });

  it('caches hashed assets for a year and other files not at all', async () => {
    const asset = await get(built, '/assets/index-abc123.js', '*/*');
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const icon = await get(built, '/favicon.svg', '*/*');
    expect(icon.status).toBe(200);
    expect(icon.headers.get('cache-control')).toBe('public, max-age=0');
  });

  it('answers a browser navigating to a client route with the page, and anything else missing with a JSON 404', async () => {
    const route = await get(built, '/village');
    expect(route.status).toBe(200);
    expect(await route.text()).toBe(PAGE);
    for (const [path, accept] of [
      ['/village', 'application/json'],
      ['/assets/missing.js', 'text/html'],
      ['/v1/no-such-route', 'text/html'],
      ['/v1', 'text/html'],
      ['/healthz/extra', 'text/html'],
    ] as const) {
      const res = await get(built, path, accept);
      expect(res.status, path).toBe(404);
      expect((await res.json()).error.code, path).toBe('not_found');
    }
    // The API itself is untouched by the catch-all.
    expect((await get(built, '/v1/agents', 'application/json')).status).toBe(401);
    expect((await get(built, '/healthz', 'application/json')).status).toBe(200);
  });

  it('never serves a file outside its directory', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%2e%2e%2fsecret.txt']) {
      const res = await get(built, path, '*/*');
      expect(res.status, path).toBe(404);
      expect(await res.text(), path).not.toContain('outside the UI directory');
    }
  });

  it('refuses a path that is not valid percent-encoding with a 400 in the API error shape', async () => {
    const res = await get(built, '/assets/%E0%A4%A', '*/*');
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error.code).toBe('validation_failed');
    expect(body.error.message).toContain('is not a valid url component');
    expect(body.error.requestId).toBe(res.headers.get('x-request-id') ?? body.error.requestId);
  });

  it('says plainly how to build the UI when it is not built', async () => {
    const res = await get(unbuilt, '/');
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('npm run build');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startApi, type ApiHarness } from './http-harness.js';

/**
 * Attacks on live WebSockets, with real sockets on a real port:
 * - revocation ends live sessions (finding 8 of the attack review): after `token revoke`,
 *   every WebSocket that token opened is closed (here the board stream and a job stream), and
 *   a stream ticket issued to it before the revocation opens nothing;
 * - a page on another origin cannot open a socket, even with the person's session cookie
 *   (finding 11): upgrades are not covered by CORS, so the daemon checks `Origin` itself.
 */
const manifest = readFileSync(join(import.meta.dirname, '..', '..', '..', 'examples', 'echo.agent.yaml'), 'utf8');
let h: ApiHarness;
let jobId: string;

beforeAll(async () => {
  h = await startApi();
  expect((await h.fetch('/v1/agents', { method: 'POST', body: { manifest } })).status).toBe(201);
  // No instance runs in this harness: the job stays queued and its stream stays open.
  jobId = ((await h.fetch('/v1/jobs', { method: 'POST', body: { agent: 'echo', input: 'x' } })).body as { jobId: string }).jobId;
}, 60_000);

afterAll(async () => {
  await h?.close();
});

/** A socket open and past its first message (so the server side is fully set up). */
async function open(path: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(`${h.url.replace('http', 'ws')}${path}`, { headers });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('error', reject);
    ws.once('close', (code) => reject(new Error(`closed with ${code} before its first message`)));
  });
  return { ws, closed };
}

describe('token revocation', () => {
  it('closes every live socket of the token, and voids its unused stream tickets', async () => {
    const secret = await h.token(['human'], 'leaver');
    const id = (await h.auth.authenticateToken(secret)).id;
    const auth = { authorization: `Bearer ${secret}` };
    const board = await open('/v1/ws/board', auth);
    const job = await open(`/v1/stream/${jobId}`, auth);
    // Another token's socket stays open: revocation is per token.
    const bystander = await open('/v1/ws/board', { authorization: `Bearer ${h.adminToken}` });
    const ticket = ((await h.fetch('/v1/stream/tickets', { method: 'POST', body: { jobId }, token: secret })).body as { ticket: string }).ticket;

    expect((await h.fetch(`/v1/tokens/${id}/revoke`, { method: 'POST' })).status).toBe(200);
    expect(await board.closed).toEqual({ code: 4401, reason: 'token revoked' });
    expect(await job.closed).toEqual({ code: 4401, reason: 'token revoked' });
    expect(bystander.ws.readyState).toBe(WebSocket.OPEN);
    bystander.ws.close();

    // The ticket issued before the revocation opens nothing.
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${h.url.replace('http', 'ws')}/v1/stream/${jobId}?ticket=${encodeURIComponent(ticket)}`);
      ws.on('unexpected-response', (req, res) => {
        req.destroy();
        resolve(res.statusCode ?? 0);
      });
      ws.on('open', () => resolve(101));
    });
    expect(refused).toBe(401);
  });
});

describe('WebSocket origin', () => {
  /** The HTTP status of an upgrade attempt (101 when the socket opened). */
  const upgrade = (headers: Record<string, string>) =>
    new Promise<number>((resolve) => {
      const ws = new WebSocket(`${h.url.replace('http', 'ws')}/v1/ws/board`, { headers });
      ws.on('unexpected-response', (req, res) => {
        req.destroy();
        resolve(res.statusCode ?? 0);
      });
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
    });

  it('a cross-origin page cannot open a socket, even with the person’s session cookie', async () => {
    const signIn = await fetch(`${h.url}/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: await h.token(['human'], 'browser') }) });
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0]!;
    expect(cookie).toMatch(/^aiflock_session=/);
    expect(await upgrade({ cookie, origin: 'http://evil.example' })).toBe(403);
    expect(await upgrade({ cookie, origin: 'null' })).toBe(403);
    // Its own origin and the configured one may; a client that sends no Origin (the CLI) is judged by its credentials.
    expect(await upgrade({ cookie, origin: h.url })).toBe(101);
    expect(await upgrade({ cookie, origin: 'http://localhost:3000' })).toBe(101);
    expect(await upgrade({ cookie })).toBe(101);
  });
});

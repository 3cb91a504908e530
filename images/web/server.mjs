// The web UI container's server: the built SPA from UI_DIR, and the API (with its
// WebSockets) forwarded to DAEMON_URL, so the browser talks to one origin. Node built-ins
// only: the image carries no node_modules. The daemon serves the same UI itself (for
// `./aiflock up`); this exists so the daemon, which holds the Docker socket, need not be
// published to the network at all (see deploy/README.md).
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { connect } from 'node:net';
import { extname, resolve, sep } from 'node:path';

const UI_DIR = resolve(process.env.UI_DIR ?? '/opt/aiflock-web/ui');
const HOST = process.env.HOST ?? '0.0.0.0';
const PORT = Number(process.env.PORT ?? 3000);
let daemon;
try {
  daemon = new URL(process.env.DAEMON_URL ?? '');
  if (daemon.protocol !== 'http:') throw new Error('only http:// (the daemon is on the same host or network)');
} catch (err) {
  process.stderr.write(`aiflock-web: DAEMON_URL must be the daemon's http:// address, e.g. http://127.0.0.1:8080 (${err.message})\n`);
  process.exit(2);
}
if (!Number.isInteger(PORT) || PORT < 1 || PORT > 65535) {
  process.stderr.write(`aiflock-web: PORT must be a TCP port, not "${process.env.PORT}"\n`);
  process.exit(2);
}

/** What belongs to the daemon: everything else is the UI. Same list as the daemon's web-ui.ts. */
const API_PREFIXES = ['/v1', '/api', '/healthz', '/readyz', '/metrics'];
const isApi = (path) => API_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`));

// The page's headers, as the daemon sends them (packages/daemon/src/http/web-ui.ts).
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const log = (fields) => process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), service: 'aiflock-web', ...fields })}\n`);

/** Headers to forward: the caller's, plus where the request came from. */
function forwarded(req) {
  const h = { ...req.headers, host: daemon.host };
  h['x-forwarded-for'] = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
  h['x-forwarded-host'] = req.headers.host ?? '';
  h['x-forwarded-proto'] = 'http';
  return h;
}

function proxy(req, res) {
  const upstream = request(
    { host: daemon.hostname, port: daemon.port || 80, method: req.method, path: req.url, headers: forwarded(req) },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', (err) => {
    log({ level: 'error', msg: `daemon unreachable at ${daemon.origin}: ${err.message}`, path: req.url });
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'upstream_unavailable', message: `the daemon at ${daemon.origin} did not answer` } }));
  });
  req.pipe(upstream);
}

function sendFile(res, file, headers) {
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': statSync(file).size, ...headers });
  createReadStream(file).pipe(res);
}

function notFound(res, path) {
  res.writeHead(404, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' });
  res.end(JSON.stringify({ error: { code: 'not_found', message: `no such file: ${path}` } }));
}

function serveUi(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  let path;
  try {
    path = decodeURIComponent((req.url ?? '/').split('?')[0]);
  } catch {
    return notFound(res, req.url);
  }
  const page = resolve(UI_DIR, 'index.html');
  if (path === '/' || path === '/index.html') return existsSync(page) ? sendFile(res, page, PAGE_HEADERS) : notFound(res, '/index.html');
  const file = resolve(UI_DIR, `.${path}`);
  // resolve() has already folded any `..`; only what is inside UI_DIR is served.
  if (file.startsWith(`${UI_DIR}${sep}`) && existsSync(file) && statSync(file).isFile()) {
    const immutable = path.startsWith('/assets/');
    return sendFile(res, file, { 'x-content-type-options': 'nosniff', 'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache' });
  }
  // A client-side route reloaded in the browser gets the page; a missing file gets a 404.
  if (!extname(path) && (req.headers.accept ?? '').includes('text/html') && existsSync(page)) return sendFile(res, page, PAGE_HEADERS);
  return notFound(res, path);
}

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (isApi(path)) proxy(req, res);
  else serveUi(req, res);
});

// WebSockets (job streams, the board): the upgrade request and then the raw bytes both ways.
server.on('upgrade', (req, socket, head) => {
  const path = (req.url ?? '/').split('?')[0];
  if (!isApi(path)) {
    socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
    return;
  }
  const upstream = connect(Number(daemon.port || 80), daemon.hostname, () => {
    const headers = forwarded(req);
    const lines = [`${req.method} ${req.url} HTTP/1.1`, ...Object.entries(headers).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => `${k}: ${x}`) : [`${k}: ${v}`]))];
    upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(socket);
    socket.pipe(upstream);
  });
  const close = () => {
    upstream.destroy();
    socket.destroy();
  };
  upstream.on('error', (err) => {
    log({ level: 'error', msg: `WebSocket to the daemon failed: ${err.message}`, path: req.url });
    socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\n');
  });
  socket.on('error', close);
  upstream.on('close', () => socket.destroy());
  socket.on('close', () => upstream.destroy());
});

server.listen(PORT, HOST, () => log({ level: 'info', msg: `serving ${UI_DIR} on http://${HOST}:${PORT}, API at ${daemon.origin}` }));
for (const sig of ['SIGTERM', 'SIGINT']) process.once(sig, () => server.close(() => process.exit(0)));

import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { FlockError } from '@aiflock/core';

/** Where `npm run build` puts the SPA: packages/web/dist, from packages/daemon/{src,dist}/http. */
export const BUILT_UI_DIR = fileURLToPath(new URL('../../../web/dist', import.meta.url));

/**
 * The page's own rules for the browser: scripts, styles and connections from this origin only
 * (no CDN at runtime), nothing may frame it, no referrer leaves it. A second line of defence:
 * the UI renders every text as text, and the browser tests prove that without relying on this.
 */
const HTML_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>aiflock: web UI not built</title></head>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5">
<h1>The web UI is not built</h1>
<p>This daemon serves the UI from <code>packages/web/dist</code> (or <code>api.uiDir</code> / <code>AIFLOCK_UI_DIR</code>), and there is no <code>index.html</code> there.</p>
<p>Build it with <code>npm run build</code> (or <code>./aiflock up</code>), then reload. The API works without it: <a href="/v1/openapi.json">/v1/openapi.json</a>.</p>
</body></html>`;

/** Paths the API owns: an unknown one is an API 404 in JSON, never the SPA. */
const API_PREFIXES = ['/v1/', '/v1', '/api/', '/healthz', '/readyz', '/metrics'];

/**
 * Serves the built SPA at `/`: files as they are (hashed assets cached for a year, the page
 * itself revalidated), and the page for any other path a browser navigates to, so client
 * routes survive a reload. Everything is public: the page holds no data; the API it calls
 * checks every request.
 */
export const webUiRoutes =
  (dir: string | undefined): FastifyPluginAsync =>
  async (app) => {
    const root = resolve(dir ?? BUILT_UI_DIR);
    await app.register(fastifyStatic, { root, serve: false, decorateReply: true });

    const sendPage = (reply: FastifyReply) => {
      if (!existsSync(join(root, 'index.html'))) return reply.status(503).headers(HTML_HEADERS).type('text/html; charset=utf-8').send(NOT_BUILT);
      return reply.headers(HTML_HEADERS).sendFile('index.html', root, { cacheControl: false });
    };

    const serve = async (req: FastifyRequest, reply: FastifyReply) => {
      // Fastify has already refused a URL that is not valid percent-encoding (400).
      const path = decodeURIComponent(req.url.split('?')[0] ?? '/');
      if (API_PREFIXES.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`))) {
        throw new FlockError('not_found', `no route ${req.method} ${path}`);
      }
      if (path === '/' || path === '/index.html') return sendPage(reply);
      const file = resolve(root, `.${path}`);
      // `send` refuses traversal itself; this check only decides between file, page and 404.
      const inside = file.startsWith(`${root}/`);
      if (inside && (await stat(file).then((st) => st.isFile(), () => false))) {
        const hashed = path.startsWith('/assets/');
        return reply
          .header('x-content-type-options', 'nosniff')
          .sendFile(path.slice(1), root, hashed ? { immutable: true, maxAge: 365 * 24 * 3600 * 1000 } : { maxAge: 0 });
      }
      // A client route reloaded in the browser gets the page; anything else (a missing asset,
      // a tool asking for JSON) gets a plain 404.
      if (!extname(path) && (req.headers.accept ?? '').includes('text/html')) return sendPage(reply);
      throw new FlockError('not_found', `no route ${req.method} ${path}`);
    };

    // One route (the wildcard also matches `/`), so the API document lists the UI once.
    app.get('/*', { config: { scope: 'public', doc: { summary: 'The web UI: the page at /, its assets, and the page again for client routes', produces: 'text/html' } } }, serve);
  };

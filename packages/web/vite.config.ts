import { defineConfig } from 'vite';

// React through esbuild's automatic JSX runtime: no extra plugin to keep up to date. The
// daemon serves `dist/` at `/`; in development, `npm run dev -w packages/web` proxies the API
// to a daemon on 127.0.0.1:8080 (AIFLOCK_API overrides), and http://localhost:3000 is in its
// default CORS list.
const api = process.env['AIFLOCK_API'] ?? 'http://127.0.0.1:8080';

export default defineConfig({
  esbuild: { jsx: 'automatic' },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, assetsInlineLimit: 0, target: 'es2022' },
  server: { port: 3000, strictPort: true, proxy: { '/v1': { target: api, ws: true, changeOrigin: false } } },
});

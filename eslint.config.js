// Lint: typed TypeScript rules, no import cycles, and the architecture's import boundaries.
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

const IO_MODULES = ['fs', 'net', 'http', 'https', 'child_process', 'dgram', 'dns', 'tls', 'worker_threads', 'cluster'].flatMap((m) => [m, `node:${m}`, `${m}/promises`, `node:${m}/promises`]);
const DAEMON_DEPS = ['fastify', 'kysely', 'dockerode', 'better-sqlite3', 'pino', 'prom-client', 'nats'];
const noDeepImports = { group: ['@aiflock/*/src/*', '@aiflock/*/dist/*'], message: "import a package by its name, not its internals" };

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'bench/results/**', '.tmp/**', '**/.tsout/**', 'test-artifacts/**'] },
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': ['error', { patterns: [noDeepImports] }],
    },
    settings: { 'import-x/extensions': ['.ts', '.tsx', '.js'], 'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] }, 'import-x/resolver-next': [createTypeScriptImportResolver({ noWarnOnMultipleProjects: true, conditionNames: ['source', 'types', 'import', 'default'] })] },
  },
  {
    // The core is the domain: no I/O and none of the adapters' libraries.
    files: ['packages/core/src/**/*.ts', 'packages/protocol/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [...IO_MODULES, ...DAEMON_DEPS, 'process', 'node:process'], patterns: [noDeepImports, { group: ['@aiflock/daemon', '@aiflock/cli', '@aiflock/agent'], message: 'the core depends on nothing above it' }] }],
      'no-restricted-globals': ['error', { name: 'process', message: 'the core takes configuration, it does not read the environment' }, { name: 'fetch', message: 'the core does no I/O' }],
    },
  },
  {
    // The in-sandbox runtime must not pull the control plane into the image.
    files: ['packages/agent/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: DAEMON_DEPS.filter((d) => d !== 'nats'), patterns: [noDeepImports, { group: ['@aiflock/core', '@aiflock/daemon', '@aiflock/cli'], message: 'the agent runtime depends only on @aiflock/protocol' }] }],
    },
  },
  {
    // `import { z } from 'zod'` hands bundlers zod's whole namespace object, every locale and
    // the JSON Schema converters with it; `import * as z` lets them keep only what is used
    // (the agent bundle: about 360 KiB less text held by every instance).
    files: ['packages/agent/src/**/*.ts', 'packages/protocol/src/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', { selector: "ImportDeclaration[source.value='zod'] > ImportSpecifier", message: "import * as z from 'zod' (a named import keeps all of zod in the agent bundle)" }],
    },
  },
  {
    // The CLI talks to the daemon over HTTP only.
    files: ['packages/cli/src/**/*.ts'],
    rules: {
      // Its contract with the daemon is @aiflock/protocol alone; the domain (core) stays behind the API.
      'no-restricted-imports': ['error', { paths: DAEMON_DEPS, patterns: [noDeepImports, { group: ['@aiflock/core', '@aiflock/daemon', '@aiflock/agent'], message: 'the CLI uses the HTTP API and @aiflock/protocol only' }] }],
    },
  },
  {
    // The web UI runs in browsers: no Node modules, nothing of the control plane; it talks HTTP/WS only.
    files: ['packages/web/src/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': ['error', { paths: [...IO_MODULES, ...DAEMON_DEPS, 'process', 'node:process'], patterns: [noDeepImports, { group: ['@aiflock/core', '@aiflock/daemon', '@aiflock/cli', '@aiflock/agent', 'node:*'], message: 'the web UI uses the HTTP API (and @aiflock/protocol types)' }] }],
      'no-restricted-globals': ['error', { name: 'process', message: 'the browser has no process' }],
    },
  },
  {
    // Sandbox runtimes are plug-ins behind one port: each runtime folder imports only the
    // runtimes' shared folder (plus libraries, core and protocol), never another runtime nor
    // the daemon around it; the registry is the one place that names them all.
    files: ['packages/daemon/src/adapters/runtimes/*/**/*.ts'],
    ignores: ['packages/daemon/src/adapters/runtimes/shared/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [noDeepImports, { regex: '^\\.\\./(?!shared/)', message: 'a runtime folder imports only ../shared/ (runtimes must not import each other or the daemon)' }] }],
    },
  },
  {
    // The runtimes' shared pieces belong to no runtime and know none.
    files: ['packages/daemon/src/adapters/runtimes/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [noDeepImports, { regex: '^\\.\\./', message: 'the runtimes\' shared folder imports nothing of the runtimes or the daemon' }] }],
    },
  },
  {
    // Only the composition root reads the environment.
    files: ['packages/daemon/src/**/*.ts'],
    ignores: ['packages/daemon/src/main.ts'],
    rules: { 'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'only main.ts reads process.env; take it from Config' }] },
  },
);

#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, defaultDataDir, loadConfig } from './config.js';
import { FlockError } from '@aiflock/core';
import { NatsClusterLayout } from '@aiflock/protocol';
import { natsClusterConfig, natsServerConfig, startDaemon } from './daemon.js';
import { RestoreError, restoreStore } from './restore.js';

/**
 * `aiflock daemon` entry. The only module that reads process.env and the config file.
 * Exit codes: 0 stopped cleanly, 2 bad configuration, 1 failed to start.
 */
async function main(): Promise<number> {
  const env = process.env;
  const fileName = env['AIFLOCK_CONFIG'] ?? join(defaultDataDir(env), 'config.yaml');
  const fileText = await readFile(fileName, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' && env['AIFLOCK_CONFIG'] === undefined) return undefined;
    throw new ConfigError(`cannot read config file ${fileName}: ${err.message}`);
  });
  const config = loadConfig({ env, fileText, fileName });
  if (process.argv[2] === 'nats-server-config') {
    // For an external NATS server: the lines that make it trust this flock, pasted into its
    // config once. Nothing per agent is ever added there.
    const resolverDir = process.argv[3] ?? join(config.dataDir, 'nats', 'resolver');
    process.stdout.write(await natsServerConfig(config, resolverDir));
    return 0;
  }
  if (process.argv[2] === 'restore') {
    // `aiflock restore <backup>`: one JSON line, the result or {error:{code,message}}.
    if (!process.argv[3]) throw new ConfigError('usage: main.js restore <backup file>');
    try {
      const result = await restoreStore(config, resolve(process.argv[3]));
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return result.audit.ok ? 0 : 1;
    } catch (err) {
      if (!(err instanceof RestoreError)) throw err;
      process.stdout.write(`${JSON.stringify({ error: { code: err.code, message: err.message } })}\n`);
      return 1;
    }
  }
  if (process.argv[2] === 'nats-cluster-config') {
    // Config files for a cluster of servers that all trust this flock, as JSON for the CLI to write.
    const layout = NatsClusterLayout.safeParse(JSON.parse(process.argv[3] ?? '{}'));
    if (!layout.success) throw new ConfigError(`bad cluster layout: ${layout.error.issues.map((i) => `${i.path.join('.') || 'layout'}: ${i.message}`).join('; ')}`);
    process.stdout.write(JSON.stringify(await natsClusterConfig(config, layout.data)));
    return 0;
  }
  // The llm section again, from the same file and environment: a reload (SIGHUP, `aiflock llm
  // reload`) applies it; the rest of the file needs a restart.
  const rereadLlmConfig = async () => {
    const text = await readFile(fileName, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' && env['AIFLOCK_CONFIG'] === undefined) return undefined;
      throw new ConfigError(`cannot read config file ${fileName}: ${err.message}`);
    });
    try {
      return loadConfig({ env, fileText: text, fileName }).llm;
    } catch (err) {
      // Bad input changes nothing: the gateway keeps what it had, and the caller is told why.
      if (err instanceof ConfigError) throw new FlockError('validation_failed', err.message);
      throw err;
    }
  };
  const daemon = await startDaemon(config, {
    rereadLlmConfig,
    // Only to a terminal: under `aiflock up` stderr is the log file, and `up` shows the token itself.
    announceAdminToken: process.stderr.isTTY
      ? (token, file) => process.stderr.write(`\nadmin token (shown once; also saved in ${file}):\n  ${token}\n\n`)
      : undefined,
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void daemon.stop());
  // A refused reload is in the daemon's log; it must not end the process.
  process.on('SIGHUP', () => void daemon.reloadLlm().catch(() => undefined));
  await daemon.done;
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const isConfig = err instanceof ConfigError;
    process.stderr.write(`aiflock daemon: ${isConfig ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(isConfig ? 2 : 1);
  },
);

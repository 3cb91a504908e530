import { constants, readFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import type { Logger } from './logger.js';
import { backoff, sleep } from './timing.js';

export interface ConnectOptions {
  url: string;
  name: string;
  credsFile?: string | undefined;
  /** Replies to this instance's requests arrive under this prefix, which only it may read. */
  inboxPrefix?: string | undefined;
  log: Logger;
  signal: AbortSignal;
}

/**
 * Connect, retrying for as long as it takes: a bus that is momentarily down (daemon
 * restarting) must not crash-loop the container. Once connected the client itself
 * reconnects forever. Returns null only when `signal` aborts first.
 */
export async function connectWithRetry(opts: ConnectOptions): Promise<NatsConnection | null> {
  const where = redactUrl(opts.url);
  for (let attempt = 0; !opts.signal.aborted; attempt++) {
    try {
      const options: ConnectionOptions = {
        // One server, or a cluster's list separated by commas (the client fails over along it).
        servers: opts.url.split(',').map((u) => u.trim()).filter(Boolean),
        name: opts.name,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1_000,
        // The handshake's time limit grows with each attempt (5, 10, 20, then 30 s): in a VM
        // guest under software emulation the first handshakes (node not yet warmed up, the nonce
        // signed in JavaScript) take longer than 5 s, and a limit that stays short threw that
        // work away attempt after attempt (half a minute per boot in vm.test). A bus that is
        // down refuses at once, whatever the limit.
        timeout: connectTimeoutMs(attempt),
        ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
      };
      if (opts.credsFile) {
        // Fail here, with the reason, rather than as an opaque auth error.
        await access(opts.credsFile, constants.R_OK);
        const file = opts.credsFile;
        // Read on every (re)connect: the control plane renews the file before it expires.
        options.authenticator = credsAuthenticator(() => readFileSync(file));
      }
      const nc = await connect(options);
      if (attempt > 0) opts.log.info(`connected to the bus at ${where} after ${attempt + 1} attempts`);
      return nc;
    } catch (err) {
      const delay = backoff(attempt, 500, 5_000);
      opts.log.warn(`cannot connect to the bus at ${where} yet (${describe(err)}); retrying in ${delay} ms`);
      await sleep(delay, opts.signal);
    }
  }
  return null;
}

/** The handshake's time limit for the given attempt (0-based). */
export function connectTimeoutMs(attempt: number): number {
  return Math.min(5_000 * 2 ** attempt, 30_000);
}

/** `nats://user:pass@host` must not end up in logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/g, '//***@');
}

export function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

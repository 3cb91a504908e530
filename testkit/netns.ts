import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';

/**
 * A network namespace this test creates, joined to the host by a veth pair with a /30 of
 * its own: an "outside" address that is neither the host's nor a Docker bridge's, which the
 * host (and so the egress proxy) reaches by the connected route. Needs root. Never touches
 * anything it did not create.
 */
export interface TestNetns {
  name: string;
  /** The host's end of the veth pair. */
  hostIp: string;
  /** The namespace's address: serve from here. */
  ip: string;
  /** Runs `node -e script` inside the namespace; resolves once it prints a line with "ready". */
  serve(script: string): Promise<ChildProcess>;
  cleanup(): void;
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
}

export function createNetns(): TestNetns {
  const id = randomBytes(3).toString('hex');
  const name = `aftest-${id}`;
  const hostIf = `afh${id}`;
  const nsIf = `afn${id}`;
  // 10.213.0.0/16 split into /30s; a random one keeps tests running at the same time apart.
  const base = randomInt(0, 16384) * 4;
  const hostIp = `10.213.${base >> 8}.${(base & 255) + 1}`;
  const nsIp = `10.213.${base >> 8}.${(base & 255) + 2}`;
  const children: ChildProcess[] = [];
  ip(['netns', 'add', name]);
  try {
    ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
    ip(['link', 'set', nsIf, 'netns', name]);
    ip(['addr', 'add', `${hostIp}/30`, 'dev', hostIf]);
    ip(['link', 'set', hostIf, 'up']);
    ip(['-n', name, 'addr', 'add', `${nsIp}/30`, 'dev', nsIf]);
    ip(['-n', name, 'link', 'set', nsIf, 'up']);
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    spawnSync('ip', ['netns', 'del', name]);
    spawnSync('ip', ['link', 'del', hostIf]);
    throw err;
  }
  return {
    name,
    hostIp,
    ip: nsIp,
    serve(script) {
      const child = spawn('ip', ['netns', 'exec', name, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return new Promise((resolve, reject) => {
        let out = '';
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('ready')) resolve(child);
        });
        child.once('exit', (code) => reject(new Error(`the server in ${name} exited (${code}): ${err}`)));
      });
    },
    cleanup() {
      for (const c of children) c.kill('SIGKILL');
      // Deleting the namespace deletes its veth end, and with it the host's.
      spawnSync('ip', ['netns', 'del', name]);
      spawnSync('ip', ['link', 'del', hostIf]);
    },
  };
}

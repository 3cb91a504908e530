import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { execIn, nodeProbe } from '../../testkit/docker.js';

/** The real agent image unless a developer points this at another one. */
export const IMAGE = process.env.AIFLOCK_TEST_AGENT_IMAGE ?? 'aiflock/agent:latest';

export const rand = (n: number) => [...randomBytes(n)].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');

/** Build the agent image when no prebuilt ref was exported (scripts/test.sh builds it first). */
export function ensureImage(): void {
  if (process.env.AIFLOCK_TEST_AGENT_IMAGE) return;
  const build = spawnSync('bash', ['scripts/build-image.sh'], { stdio: 'inherit', timeout: 170_000 });
  if (build.status !== 0) throw new Error(`scripts/build-image.sh failed (status ${build.status})`);
}

/**
 * The attack probe (fixtures/probe.c), compiled static on the host so it runs on any image.
 * It is only ever run inside a sandbox. bootstrap.sh --test installs gcc.
 */
export function buildProbe(): string {
  const out = join(mkdtempSync(join(tmpdir(), 'aiflock-probe-')), 'probe');
  const cc = spawnSync('gcc', ['-static', '-O1', '-o', out, join(import.meta.dirname, 'fixtures', 'probe.c')], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cannot build the attack probe (gcc -static; run scripts/bootstrap.sh --test): ${cc.error?.message ?? cc.stderr}`);
  return out;
}

/**
 * What fixtures/probe.c reports, in every profile, for the calls the flock's seccomp profile
 * refuses (io_uring with ENOSYS, so libuv falls back) and for an ICMP ping socket, which
 * `ping_group_range "1 0"` leaves to no group.
 */
export const SECCOMP_REFUSALS = {
  ptraceInit: 'EPERM',
  vmReadv: 'EPERM',
  ioUring: 'ENOSYS',
  userfaultfd: 'EPERM',
  bpf: 'EPERM',
  perfEvent: 'EPERM',
  keyctl: 'EPERM',
  pingSocket: 'EACCES',
} as const;

/** TCP connect from inside a sandbox: 'connected', 'timeout' (dropped) or the errno code. */
const TCP_PROBE = `
const [host, port, ms] = process.argv.slice(1);
const t0 = Date.now();
const s = require('net').connect(Number(port), host);
const done = (r) => { console.log(JSON.stringify({ r, ms: Date.now() - t0 })); s.destroy(); process.exit(0); };
s.setTimeout(Number(ms), () => done('timeout'));
s.once('connect', () => done('connected'));
s.once('error', (e) => done(e.code));
`;
export const tcpFrom = (c: Dockerode.Container, host: string, port: number, ms = 2000) =>
  nodeProbe<{ r: string; ms: number }>(c, TCP_PROBE, [host, String(port), String(ms)]);

/** Many TCP connects at once from inside a sandbox: port → result. */
const SCAN_PROBE = `
const [host, ms, ...ports] = process.argv.slice(1);
const out = {};
let left = ports.length;
for (const p of ports) {
  const s = require('net').connect(Number(p), host);
  const done = (r) => { if (out[p]) return; out[p] = r; s.destroy(); if (--left === 0) { console.log(JSON.stringify(out)); process.exit(0); } };
  s.setTimeout(Number(ms), () => done('timeout'));
  s.once('connect', () => done('connected'));
  s.once('error', (e) => done(e.code));
}
`;
export const scanFrom = (c: Dockerode.Container, host: string, ports: number[], ms = 2000) =>
  nodeProbe<Record<string, string>>(c, SCAN_PROBE, [host, String(ms), ...ports.map(String)], 60_000);

/**
 * File operations a sandbox's node probe tries, each giving the errno code where it is
 * refused: `w` writes, `rd` reads ('read'), `ls` lists. A probe script starts with these.
 */
export const FS_TRIES = `const fs = require('fs');
const w = (p) => { try { fs.writeFileSync(p, 'x'); return 'ok'; } catch (e) { return e.code; } };
const rd = (p) => { try { fs.readFileSync(p); return 'read'; } catch (e) { return e.code; } };
const ls = (p) => { try { return fs.readdirSync(p); } catch (e) { return e.code; } };
`;

/** A file only the host has, for `use` to prove a sandbox cannot see; removed afterwards. */
export async function withHostMarker<T>(use: (marker: string) => Promise<T>): Promise<T> {
  const marker = join(tmpdir(), `aiflock-host-marker-${rand(8)}`);
  writeFileSync(marker, 'host only');
  try {
    return await use(marker);
  } finally {
    rmSync(marker, { force: true });
  }
}

/**
 * Sets off a fork bomb in a sandbox for a few seconds: what the bomb wrote to stderr, how
 * many processes the sandbox had before, the most seen while it raged, and how many it came
 * down to once it was stopped.
 *
 * A bomb that hits the pids limit does not reliably die out by itself: shells whose forks
 * succeed keep forking, and the population can hold at the limit indefinitely (it did on CI's
 * machines, 47-49 processes against a limit of 64). So the bomb's first shell `exec`s a
 * `sleep` (no fork needed, so it cannot fail at the limit) and stays alive until `timeout`
 * fires; `timeout` then SIGKILLs its whole process group, which every shell of the bomb is in
 * (a non-interactive shell puts background jobs in its own group). Before, the first shell
 * `wait`ed for its one child and returned within a second, `timeout` exited with it, and
 * nothing ever killed the bomb.
 */
export async function forkBomb(
  c: Dockerode.Container,
  seconds = 6,
): Promise<{ stderr: string; baseline: number; peak: number; left: number }> {
  const count = async () => (await c.top()).Processes?.length ?? 0;
  const baseline = await count();
  let raging = true;
  let peak = baseline;
  const sampler = (async () => {
    while (raging) {
      peak = Math.max(peak, await count().catch(() => 0));
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const bomb = await execIn(c, ['timeout', '-s', 'KILL', String(seconds), 'sh', '-c', 'b(){ b | b & }; b; exec sleep 3600'], 60_000).finally(() => (raging = false));
  await sampler;
  let left = Infinity;
  for (let i = 0; i < 60 && left > baseline; i++) {
    left = await count();
    if (left > baseline) await new Promise((r) => setTimeout(r, 250));
  }
  return { stderr: bomb.stderr, baseline, peak, left };
}

/** An HTTP GET through the proxy named by the sandbox's own HTTP_PROXY. */
export const HTTP_VIA_PROXY = `
const [url, proxyArg] = process.argv.slice(1);
const proxy = proxyArg || process.env.HTTP_PROXY;
if (!proxy) { console.log(JSON.stringify({ status: 'no-proxy' })); process.exit(0); }
const p = new URL(proxy);
const req = require('http').request({ host: p.hostname, port: p.port, path: url, headers: { host: new URL(url).host, authorization: 'Bearer forged-by-agent' } }, (res) => {
  let body = ''; res.on('data', (d) => (body += d)); res.on('end', () => { console.log(JSON.stringify({ status: res.statusCode, body })); process.exit(0); });
});
req.setTimeout(5000, () => { console.log(JSON.stringify({ status: 'timeout' })); process.exit(0); });
req.on('error', (e) => { console.log(JSON.stringify({ status: e.code })); process.exit(0); });
req.end();
`;

/** The operator engine's socket (scripts/operator-engine.sh; bootstrap.sh --test starts it). */
export const OPERATOR_ENGINE = process.env.AIFLOCK_OPERATOR_ENGINE ?? '/run/aiflock/operator-docker.sock';

/**
 * An image with a package manager, for operator-profile tests: `base` plus this host's dpkg
 * (its programs, the libraries they load, an empty database), built on the main engine.
 * The host-made agent image has no package manager of its own.
 */
export function buildDpkgImage(base: string, tag: string): void {
  const script = `
set -euo pipefail
ctx="$(mktemp -d)"; trap 'rm -rf "$ctx"' EXIT
bins="/usr/bin/dpkg /usr/bin/dpkg-deb /usr/bin/dpkg-query /usr/bin/dpkg-split /usr/bin/dpkg-divert /usr/bin/dpkg-trigger /usr/bin/dpkg-statoverride /usr/bin/update-alternatives /usr/sbin/ldconfig /usr/sbin/start-stop-daemon /usr/bin/diff /usr/bin/rm /usr/bin/tar"
for f in $bins $(for b in $bins; do ldd "$b" 2>/dev/null | awk '$3 ~ /^\\// {print $3}'; done | sort -u); do
  install -D "$(readlink -f "$f")" "$ctx/root$(echo "$f" | sed 's#^/lib/#/usr/lib/#')"
done
mkdir -p "$ctx"/root/var/lib/dpkg/{info,updates,triggers,alternatives} "$ctx"/root/etc/dpkg/dpkg.cfg.d "$ctx"/root/usr/local/bin
: > "$ctx/root/var/lib/dpkg/status"; : > "$ctx/root/var/lib/dpkg/available"
printf 'FROM %s\\nCOPY root/ /\\n' "$1" > "$ctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t "$2" "$ctx" >/dev/null
`;
  const r = spawnSync('bash', ['-c', script, 'build-dpkg-image', base, tag], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`cannot build the dpkg test image: ${r.stderr}`);
}

/** A tiny .deb (one shell script printing `says`), built on the host with dpkg-deb. */
export function buildDeb(outDir: string, name: string, says: string): string {
  const root = mkdtempSync(join(tmpdir(), 'aiflock-deb-'));
  const script = `
set -euo pipefail
mkdir -p "$1/DEBIAN" "$1/usr/local/bin"
printf 'Package: %s\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: aiflock tests <tests@aiflock.invalid>\\nDescription: operator profile test package\\n' "$2" > "$1/DEBIAN/control"
printf '#!/bin/sh\\necho %s\\n' "$3" > "$1/usr/local/bin/$2"
chmod 0755 "$1/usr/local/bin/$2"
dpkg-deb --root-owner-group -b "$1" "$4/$2.deb" >/dev/null
`;
  const r = spawnSync('bash', ['-c', script, 'build-deb', root, name, says, outDir], { encoding: 'utf8' });
  rmSync(root, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`dpkg-deb failed: ${r.stderr}`);
  return join(outDir, `${name}.deb`);
}

/** The static attack probe for operator sandboxes (fixtures/operator-probe.c). */
export function buildOperatorProbe(): string {
  const out = join(mkdtempSync(join(tmpdir(), 'aiflock-oprobe-')), 'oprobe');
  const cc = spawnSync('gcc', ['-static', '-O1', '-o', out, join(import.meta.dirname, 'fixtures', 'operator-probe.c')], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cannot build the operator probe (gcc -static; run scripts/bootstrap.sh --test): ${cc.error?.message ?? cc.stderr}`);
  return out;
}

import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECCOMP_PROFILE_FILE } from '../../../src/adapters/runtimes/shared/seccomp.js';
import { compileSeccomp, type SeccompProfile } from '../../../src/adapters/runtimes/process/seccomp-bpf.js';

/**
 * The flock's seccomp profile compiled for the process runtime, loaded by the real bubblewrap
 * into a real process: each call the profile refuses is refused from inside (and works in the
 * same sandbox without the filter: the control), while Node, a shell and its children run.
 */
let dir: string;
let filter: string;

/** Run `script` (sh) in a bubblewrap sandbox, with the compiled filter or without. */
function inSandbox(script: string, withFilter: boolean): { code: number | null; out: string } {
  const bwrap = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-pid', '--die-with-parent', ...(withFilter ? ['--seccomp', '3'] : []), '--', 'sh', '-c', script];
  const r = spawnSync('sh', ['-c', 'exec bwrap "$@" 3<"$0"', filter, ...bwrap], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aiflock-seccomp-'));
  filter = join(dir, 'sandbox.bpf');
  await writeFile(filter, compileSeccomp(JSON.parse(await readFile(SECCOMP_PROFILE_FILE, 'utf8')) as SeccompProfile));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the seccomp profile compiled for bubblewrap', () => {
  it('is loaded: the sandboxed process runs in filter mode', () => {
    expect(inSandbox('grep "^Seccomp:" /proc/self/status', true).out).toMatch(/Seccomp:\s+2/);
    expect(inSandbox('grep "^Seccomp:" /proc/self/status', false).out).toMatch(/Seccomp:\s+0/);
  }, 60_000);

  it('refuses what the profile refuses: a new user namespace (unshare; clone with CLONE_NEWUSER), ptrace, io_uring, userfaultfd, bpf, keyctl', () => {
    // syscall(2) from perl (on every Debian host): prints each call's errno, 0 when it worked.
    const calls: Record<string, string> = {
      ptrace: '101, 0x4206, 1, 0, 0', // PTRACE_SEIZE of pid 1
      io_uring_setup: '425, 1, 0',
      userfaultfd: '323, 0',
      bpf: '321, 0, 0, 0',
      keyctl: '250, 0, 0',
      unshare_user: '272, 0x10000000',
    };
    const probe = (names: string[]) =>
      `perl -e '${names.map((n) => `$r = syscall(${calls[n]}); print "${n}=", ($r == -1 ? $!+0 : 0), "\\n";`).join(' ')}'`;
    const parse = (out: string) => Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => l.trim().split('=') as [string, string]));
    // clone(CLONE_NEWUSER | SIGCHLD) only under the filter: without it, it would make a child.
    const clone = `perl -e '$r = syscall(56, 0x10000011, 0, 0, 0, 0); print "clone_newuser=", ($r == -1 ? $!+0 : "child"), "\\n" if $r != 0'`;
    const filtered = parse(inSandbox(`${probe(Object.keys(calls))}; ${clone}`, true).out);
    // EPERM (1), io_uring ENOSYS (38).
    expect(filtered).toEqual({ ptrace: '1', io_uring_setup: '38', userfaultfd: '1', bpf: '1', keyctl: '1', unshare_user: '1', clone_newuser: '1' });
    // Control: without the filter the same sandbox may make a user namespace.
    expect(parse(inSandbox(probe(['unshare_user']), false).out)).toEqual({ unshare_user: '0' });
  }, 60_000);

  it('lets Node, a shell and its children work', () => {
    const r = inSandbox('node -e "require(\\"fs\\").readdirSync(\\"/\\"); setTimeout(() => console.log(\\"node ok\\"), 10)" && (sleep 0.1 & wait) && echo children ok', true);
    expect(r.out).toContain('node ok');
    expect(r.out).toContain('children ok');
    expect(r.code).toBe(0);
  }, 60_000);

  it('refuses a profile it cannot compile faithfully rather than allow too much', () => {
    expect(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] })).toThrow(/default action/);
    expect(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_TRACE' }] })).toThrow(/not supported/);
    expect(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_GT' }] }] })).toThrow(/not supported/);
  });
});
